import numpy as np
import pytest

from neurosort.curate import echo_spikes

N_SAMPLES = 24000 * 60
OPTIONS = dict(n_samples=N_SAMPLES, max_lag_samples=120, jitter_samples=2, min_fraction=0.2)


def spike_train(rng, n):
    return np.sort(rng.choice(np.arange(200, N_SAMPLES - 200), n, replace=False))


def sorting(*units):
    """(labels, sample_index, amplitude) from (times, amplitude) per unit."""
    labels = np.concatenate([np.full(len(times), unit) for unit, (times, _) in enumerate(units)])
    times = np.concatenate([times for times, _ in units])
    amplitude = np.concatenate([np.full(len(times), amp) for times, amp in units])
    return labels, times, amplitude.astype(np.float32)


@pytest.mark.parametrize("lag", [26, 0, -40])
def test_spikes_locked_to_a_louder_unit_are_echoes(lag):
    rng = np.random.default_rng(0)
    loud = spike_train(rng, 800)
    copies = rng.choice(loud, 600, replace=False) + lag + rng.integers(-1, 2, 600)
    own = spike_train(rng, 200)
    labels, times, amplitude = sorting(
        (loud, -150.0), (np.concatenate([copies, own]), 30.0), (spike_train(rng, 700), -60.0)
    )
    echo = echo_spikes(labels, times, amplitude, **OPTIONS)
    locked = np.zeros(len(labels), dtype=bool)
    locked[800:1400] = True
    assert np.array_equal(echo[labels != 1], locked[labels != 1])
    assert echo[800:1400].all()
    assert echo[1400:1600].sum() <= 2  # the unit's own spikes stay (one may fall at the lag)


def test_independent_units_have_no_echoes():
    rng = np.random.default_rng(1)
    labels, times, amplitude = sorting(
        (spike_train(rng, 3000), -150.0), (spike_train(rng, 2000), -40.0),
        (spike_train(rng, 500), 25.0),
    )
    assert not echo_spikes(labels, times, amplitude, **OPTIONS).any()


def test_the_louder_unit_keeps_its_spikes_and_zero_disables():
    rng = np.random.default_rng(2)
    loud = spike_train(rng, 500)
    labels, times, amplitude = sorting((loud + 30, 20.0), (loud, -100.0))
    echo = echo_spikes(labels, times, amplitude, **OPTIONS)
    assert echo[labels == 0].all() and not echo[labels == 1].any()
    assert not echo_spikes(labels, times, amplitude, **{**OPTIONS, "min_fraction": 0}).any()


@pytest.mark.parametrize("spread_samples", [7, 30])
def test_the_later_spikes_of_bursts_are_not_echoes(spread_samples):
    """A quieter unit whose spikes follow the louder one's by 4 ms give or take
    ``spread_samples`` (a burst's second spikes) is no copy, at any lag."""
    rng = np.random.default_rng(3)
    loud = spike_train(rng, 3000)
    lags = np.rint(rng.normal(96, spread_samples, 3000)).astype(np.int64)
    labels, times, amplitude = sorting((loud, -120.0), (np.sort(loud + lags), -60.0))
    assert not echo_spikes(labels, times, amplitude, **OPTIONS).any()


def test_echo_at_the_edge_of_the_lag_window():
    rng = np.random.default_rng(4)
    loud = spike_train(rng, 500)
    labels, times, amplitude = sorting((loud, -100.0), (loud - 120, 20.0))
    echo = echo_spikes(labels, times, amplitude, **OPTIONS)
    assert echo[labels == 1].all() and not echo[labels == 0].any()
