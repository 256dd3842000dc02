import numpy as np
import pytest

from neurosort.detect import channel_neighbours, detect_threshold


def _trace_with_spikes(n=2000, positions=(300, 900, 1500), amplitudes=(-10.0, 12.0, -8.0)):
    rng = np.random.default_rng(0)
    trace = rng.normal(0, 1, (n, 1)).astype(np.float32) * 0.5
    for position, amplitude in zip(positions, amplitudes, strict=True):
        trace[position - 3 : position + 4, 0] += amplitude * np.hanning(9)[1:-1]
    return trace


@pytest.mark.parametrize(
    "polarity, expected",
    [("both", [300, 900, 1500]), ("negative", [300, 1500]), ("positive", [900])],
)
def test_polarity_and_alignment_to_peak(polarity, expected):
    trace = _trace_with_spikes()
    peaks = detect_threshold(
        trace,
        np.ones(1),
        threshold=5,
        polarity=polarity,
        dead_time_samples=10,
        neighbours=np.ones((1, 1), bool),
    )
    assert peaks["sample_index"].tolist() == expected


def test_dead_time_keeps_the_larger_of_two_close_peaks():
    trace = _trace_with_spikes(positions=(500, 508), amplitudes=(-6.0, -9.0))
    peaks = detect_threshold(
        trace,
        np.ones(1),
        threshold=4,
        polarity="negative",
        dead_time_samples=12,
        neighbours=np.ones((1, 1), bool),
    )
    assert peaks["sample_index"].tolist() == [508]


def test_local_exclusion_across_neighbouring_channels():
    trace = np.zeros((400, 3), np.float32)
    trace[200, 0], trace[201, 1], trace[200, 2] = -10, -7, -9
    locations = np.array([[0, 0], [0, 20], [0, 500]], float)
    peaks = detect_threshold(
        trace,
        np.ones(3),
        threshold=5,
        polarity="negative",
        dead_time_samples=5,
        neighbours=channel_neighbours(locations, 50),
    )
    pairs = zip(peaks["sample_index"], peaks["channel_index"], strict=True)
    assert sorted(pairs) == [(200, 0), (200, 2)]


def test_plateau_is_reported_once():
    trace = np.zeros((100, 1), np.float32)
    trace[50:53, 0] = -10
    peaks = detect_threshold(
        trace,
        np.ones(1),
        threshold=5,
        polarity="negative",
        dead_time_samples=5,
        neighbours=np.ones((1, 1), bool),
    )
    assert peaks["sample_index"].tolist() == [50]
