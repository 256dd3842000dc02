import numpy as np
import pytest

from neurosort.errors import InputError
from neurosort.states.windows import WindowConfig, crop_starts, cut_windows, window_starts


def test_windows_never_straddle_recordings():
    # Each recording holds one distinct constant offset plus a ramp, so a straddling window
    # would mix two offsets.
    lengths = [500, 178, 377, 1000]
    signals = [
        (1000.0 * index + np.arange(n, dtype=np.float32) / n)[None, :]
        for index, n in enumerate(lengths)
    ]
    config = WindowConfig(length_samples=178, hop_samples=89, scaling="global")
    windows, owners = cut_windows(signals, config)
    assert windows.shape[1:] == (1, 178)
    assert np.array_equal(np.floor(windows[:, 0, :] / 1000.0).min(axis=1), owners)
    assert np.array_equal(np.floor(windows[:, 0, :] / 1000.0).max(axis=1), owners)
    expected = [len(window_starts(n, 178, 89)) for n in lengths]
    assert np.bincount(owners).tolist() == expected == [4, 1, 3, 10]


def test_bonn_chunking_matches_uci_rows():
    signal = np.arange(4097, dtype=np.float32)[None, :]
    windows, _ = cut_windows([signal], WindowConfig(scaling="global"))
    assert windows.shape == (23, 1, 178)
    assert windows[22, 0, -1] == 23 * 178 - 1


def test_recording_scaling_uses_each_recording_alone():
    rng = np.random.default_rng(1)
    loud = 100 * rng.standard_normal((1, 600)).astype(np.float32)
    quiet = rng.standard_normal((1, 600)).astype(np.float32)
    windows, owners = cut_windows([loud, quiet], WindowConfig(length_samples=100))
    for owner in (0, 1):
        assert windows[owners == owner].std() == pytest.approx(1.0, abs=0.05)


def test_signal_shorter_than_one_window_is_an_input_error():
    with pytest.raises(InputError, match="short.wav: signal of 100 samples is shorter"):
        cut_windows([np.zeros((1, 100), np.float32)], WindowConfig(), names=("short.wav",))


def test_crop_starts_cover_the_window():
    starts = crop_starts(178, 120, 5)
    assert starts[0] == 0 and starts[-1] == 58 and len(starts) == 5
    assert crop_starts(178, 0, 5).tolist() == [0]


def test_window_config_rejects_bad_values():
    with pytest.raises(InputError, match="crop_samples"):
        WindowConfig(length_samples=100, crop_samples=150)
    with pytest.raises(InputError, match="scaling"):
        WindowConfig(scaling="minmax")


@pytest.mark.parametrize("scaling", ["recording", "recording_level"])
def test_running_scaler_matches_offline_scaling_at_the_end(scaling):
    from neurosort.states.stream import RunningScaler

    rng = np.random.default_rng(2)
    signal = (50 * rng.standard_normal((2, 356)) + 7).astype(np.float32)
    offline, _ = cut_windows([signal], WindowConfig(scaling=scaling))
    online = RunningScaler(signal, level=scaling == "recording_level").scale(
        signal[:, 178:], end=356)
    assert offline.shape[1] == (4 if scaling == "recording_level" else 2)
    assert np.allclose(offline[1], online, atol=1e-4)


def test_running_scaler_with_history_forgets_old_samples():
    from neurosort.states.stream import RunningScaler

    rng = np.random.default_rng(3)
    loud_then_quiet = np.concatenate([500 * rng.standard_normal(1000), rng.standard_normal(400)])
    signal = loud_then_quiet[None, :].astype(np.float32)
    window = signal[:, -200:]
    recent = RunningScaler(signal, level=False, history_samples=200).scale(window, end=1400)
    everything = RunningScaler(signal, level=False).scale(window, end=1400)
    assert recent.std() == pytest.approx(1.0, abs=1e-3)
    assert everything.std() < 0.01
