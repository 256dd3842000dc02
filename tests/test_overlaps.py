import numpy as np

from neurosort.overlaps import (
    reassign_overlapping_spikes,
    rescue_unassigned_spikes,
    shifted_templates,
)
from neurosort.waveforms import channel_neighbourhoods

LENGTH = 40


def _templates() -> np.ndarray:
    time = np.arange(LENGTH)
    narrow = -12 * np.exp(-0.5 * ((time - 12) / 1.5) ** 2)
    broad = -8 * np.exp(-0.5 * ((time - 12) / 4.0) ** 2) + 3 * np.exp(-0.5 * ((time - 25) / 4) ** 2)
    return np.stack([narrow, broad])[:, :, None]  # (units, samples, 1 channel)


def _shift(waveform: np.ndarray, shift: int) -> np.ndarray:
    out = np.zeros_like(waveform)
    out[shift:] = waveform[:-shift]
    return out


def _spikes(seed: int = 0):
    """100 clean spikes of each unit, then 40 of unit 0 overlapped by unit 1 6-24 samples later,
    clustered into a third unit of such mixtures (label 2), whose median fits none of them."""
    rng = np.random.default_rng(seed)
    templates = _templates()
    clean = np.concatenate([np.repeat(templates[[0]], 100, 0), np.repeat(templates[[1]], 100, 0)])
    overlapped = np.stack([templates[0] + _shift(templates[1], s) for s in rng.integers(6, 25, 40)])
    snippets = np.concatenate([clean, overlapped]) + rng.normal(0, 1, (240, LENGTH, 1))
    labels = np.repeat([0, 1, 2], [100, 100, 40])
    return snippets.astype(np.float32), labels


def test_overlapped_spikes_move_to_the_unit_at_their_peak():
    snippets, labels = _spikes()
    new = reassign_overlapping_spikes(labels, snippets, np.ones(1), min_gain_sigma2=2.0)
    assert (new[200:] == 0).mean() >= 0.9
    assert np.array_equal(new[:200], labels[:200])


def test_a_large_margin_or_zero_moves_nothing():
    snippets, labels = _spikes()
    for gain in (0.0, 1000.0):
        new = reassign_overlapping_spikes(labels, snippets, np.ones(1), min_gain_sigma2=gain)
        assert np.array_equal(new, labels)


def test_unassigned_spikes_stay_unassigned():
    snippets, labels = _spikes()
    labels = labels.copy()
    labels[:10] = -1
    new = reassign_overlapping_spikes(labels, snippets, np.ones(1), min_gain_sigma2=2.0)
    assert np.all(new[:10] == -1)


def test_templates_shift_along_time_within_each_channel():
    templates = np.arange(2 * 2 * 4, dtype=float).reshape(2, 2, 4)  # (units, channels, time)
    shifted = shifted_templates(templates).reshape(-1, 2, 4)
    assert len(shifted) == 2 * 2 * 3
    assert np.array_equal(shifted[0, 0], [0, 0, 1, 2])  # unit 0, channel 0, one sample later
    assert np.array_equal(shifted[0, 1], [0, 4, 5, 6])  # channel 1 never takes channel 0's end
    assert np.array_equal(shifted[2, 0], [1, 2, 3, 0])  # unit 0, one sample earlier


NOISE_UV = np.array([1.0, 2.0, 1.5, 1.0, 1.0])


def _probe_spikes(seed: int = 0):
    """A line of 5 channels 20 um apart (neighbourhoods of 3), noise NOISE_UV. 100 spikes of
    unit 0 (peak on channel 1), 100 of unit 1 (channel 2) and 10 of unit 2 (channel 1, a
    shape of its own), then unassigned: 30 of unit 0 overlapped by unit 1, 20 of unit 1, 20 of
    unit 0 peaking on channel 2 and 20 of unit 2's shape."""
    rng = np.random.default_rng(seed)
    neighbourhoods = channel_neighbourhoods(np.stack([np.zeros(5), 20 * np.arange(5)], 1), 25)
    narrow, broad = _templates()[:, :, 0]
    on_probe = [np.outer(narrow, [0.3, 1.0, 0.5, 0.1, 0]), np.outer(broad, [0.1, 0.4, 1.0, 0.3, 0])]
    odd = np.outer(6 * np.sin(np.arange(LENGTH) / 3.0), [0.5, 1.0, 0.5, 0.2, 0])
    shifts = rng.integers(6, 25, 30)
    full = (
        [on_probe[0]] * 100 + [on_probe[1]] * 100 + [odd] * 10
        + [on_probe[0] + _shift(on_probe[1], s) for s in shifts] + [on_probe[1]] * 20
        + [on_probe[0]] * 20 + [odd] * 20
    )
    channel_index = np.repeat([1, 2, 1, 1, 2, 2, 1], [100, 100, 10, 30, 20, 20, 20])
    snippets = np.stack([f[:, neighbourhoods[c]] for f, c in zip(full, channel_index, strict=True)])
    snippets += rng.normal(0, 1, snippets.shape) * NOISE_UV[neighbourhoods[channel_index]][:, None]
    labels = np.repeat([0, 1, 2, -1], [100, 100, 10, 90])
    return labels, snippets.astype(np.float32), channel_index, neighbourhoods


def test_unassigned_probe_spikes_join_the_unit_that_fits_them_alone_or_overlapped():
    labels, snippets, channel_index, neighbourhoods = _probe_spikes()
    new = rescue_unassigned_spikes(labels, snippets, NOISE_UV, channel_index, neighbourhoods,
                                   quantile=0.99, min_unit_spikes=15)
    assert np.array_equal(new[:210], labels[:210])
    assert (new[210:240] == 0).mean() >= 0.8  # unit 0 overlapped by unit 1
    assert (new[240:260] == 1).mean() >= 0.9  # a 0.99 quantile leaves a few out
    assert (new[260:280] == 0).mean() >= 0.9  # unit 0 seen from channel 2
    assert np.all(new[280:] == -1)  # unit 2 is under min_unit_spikes
    small_units_too = rescue_unassigned_spikes(
        labels, snippets, NOISE_UV, channel_index, neighbourhoods, quantile=0.99,
        min_unit_spikes=5,
    )
    assert (small_units_too[280:] == 2).any()
    off = rescue_unassigned_spikes(labels, snippets, NOISE_UV, channel_index, neighbourhoods,
                                   quantile=0.0, min_unit_spikes=15)
    assert np.array_equal(off, labels)
