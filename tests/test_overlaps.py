import numpy as np

from neurosort.overlaps import reassign_overlapping_spikes, shifted_templates

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
