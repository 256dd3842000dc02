import numpy as np

from neurosort.split import split_units

LENGTH = 40


def _units(n_per_unit: int = 300, seed: int = 0):
    """Two similar neurons (one 40 % larger, one 3 samples wider) labelled as one unit, plus a
    third neuron of its own, in unit-variance noise."""
    rng = np.random.default_rng(seed)
    time = np.arange(LENGTH)
    first = -10 * np.exp(-0.5 * ((time - 12) / 2.0) ** 2)
    second = -14 * np.exp(-0.5 * ((time - 12) / 3.5) ** 2)
    third = 8 * np.exp(-0.5 * ((time - 20) / 3.0) ** 2)
    clean = np.repeat(np.stack([first, second, third]), n_per_unit, axis=0)[:, :, None]
    snippets = (clean + rng.normal(0, 1, clean.shape)).astype(np.float32)
    truth = np.repeat([0, 1, 2], n_per_unit)
    return snippets, truth


def test_a_unit_holding_two_neurons_is_split():
    snippets, truth = _units()
    labels = np.where(truth == 2, 1, 0)
    split = split_units(labels, snippets, np.ones(1), min_difference_sigma=1.5, min_size=15)
    assert len(np.unique(split)) == 3
    for neuron in range(3):
        assert np.bincount(split[truth == neuron]).max() >= 0.95 * (truth == neuron).sum()


def test_units_of_one_neuron_stay_whole():
    snippets, truth = _units()
    split = split_units(truth, snippets, np.ones(1), min_difference_sigma=1.5, min_size=15)
    assert np.array_equal(split, truth)


def test_unassigned_spikes_and_small_units_are_left_alone():
    snippets, truth = _units()
    labels = np.where(truth == 2, -1, 0)
    labels[:20] = 5
    split = split_units(labels, snippets, np.ones(1), min_difference_sigma=1.5, min_size=15)
    assert np.all(split[truth == 2] == -1)
    assert np.all(split[:20] == 5)


def test_splitting_is_deterministic():
    snippets, truth = _units()
    labels = np.where(truth == 2, 1, 0)
    runs = [split_units(labels, snippets, np.ones(1), min_difference_sigma=1.5, min_size=15,
                        seed=3) for _ in range(2)]
    assert np.array_equal(*runs)
