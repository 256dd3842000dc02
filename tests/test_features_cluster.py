import warnings

import numpy as np
import pytest
from sklearn.metrics import adjusted_rand_score

from neurosort import registry
from neurosort.cluster import (
    cluster_subsample_then_assign,
    make_clusterer,
    merge_across_channels,
    merge_drifted_units,
    merge_similar_units,
    refine_by_discriminant,
    refractory_violations,
    split_by_refractory,
)
from neurosort.features import PCAFeatures, WaveletFeatures
from neurosort.waveforms import channel_neighbourhoods, main_channel_templates, main_channels


def two_unit_snippets(n=400, seed=0):
    rng = np.random.default_rng(seed)
    t = np.linspace(-1, 1, 32)
    shapes = np.stack([-np.exp(-(t**2) * 30), 0.8 * np.exp(-((t - 0.1) ** 2) * 10) - 0.4])
    labels = rng.integers(0, 2, n)
    snippets = shapes[labels] * 50 + rng.normal(0, 3, (n, 32))
    return snippets[:, :, None].astype(np.float32), labels


@pytest.mark.parametrize("extractor", [PCAFeatures(3), WaveletFeatures(6)])
def test_features_separate_two_units(extractor):
    snippets, labels = two_unit_snippets()
    features = extractor.fit(snippets).transform(snippets)
    assert features.shape[0] == len(snippets)
    labels_pred = cluster_subsample_then_assign(
        features,
        make_clusterer("gmm_bic", n_units=0, max_units=6, min_cluster_size=10, seed=0),
        max_spikes_to_fit=10_000,
        assign_noise=True,
        seed=0,
    )
    assert adjusted_rand_score(labels, labels_pred) > 0.95


@pytest.mark.parametrize("method", registry.available("cluster"))
def test_every_clusterer_finds_three_blobs_and_is_deterministic(method):
    rng = np.random.default_rng(1)
    centres = np.array([[0, 0], [8, 0], [0, 8]])
    truth = rng.integers(0, 3, 900)
    features = (centres[truth] + rng.normal(0, 1, (900, 2))).astype(np.float32)

    def run():
        clusterer = make_clusterer(method, n_units=0, max_units=8, min_cluster_size=20, seed=0)
        return cluster_subsample_then_assign(
            features, clusterer, max_spikes_to_fit=500, assign_noise=True, seed=0
        )

    labels = run()
    assert adjusted_rand_score(truth, labels) > 0.95
    assert np.array_equal(labels, run())


def test_fixed_number_of_units():
    rng = np.random.default_rng(2)
    features = rng.normal(0, 1, (300, 2))
    clusterer = make_clusterer("gmm_bic", n_units=4, max_units=8, min_cluster_size=5, seed=0)
    clusterer.fit(features)
    assert len(np.unique(clusterer.labels_)) == 4


def test_merge_joins_a_split_unit_but_not_distinct_units():
    snippets, labels = two_unit_snippets(n=600)
    split = labels.copy()
    unit0 = np.flatnonzero(labels == 0)
    split[unit0[: len(unit0) // 2]] = 2
    merged = merge_similar_units(split, snippets, np.array([3.0]), max_difference=1.5)
    assert adjusted_rand_score(labels, merged) == pytest.approx(1.0)
    assert len(np.unique(merged)) == 2


def test_subsample_alignment_moves_the_peak_onto_the_grid():
    from neurosort.waveforms import align_to_subsample_peak, subsample_peak_offsets

    t = np.arange(40, dtype=float)
    true_peak = 20.3
    snippet = -np.exp(-((t - true_peak) ** 2) / 8.0)[None, :, None].astype(np.float32)
    assert subsample_peak_offsets(snippet, 20)[0] == pytest.approx(0.3, abs=0.05)
    aligned = align_to_subsample_peak(snippet, 20)
    assert abs(subsample_peak_offsets(aligned, 20)[0]) < 0.05
    assert aligned[0, 20, 0] < snippet[0, 20, 0]


def test_refractory_evidence_vetoes_merging_independent_units():
    from neurosort.cluster import fire_independently

    rng = np.random.default_rng(0)
    n_samples = 24000 * 600
    independent_a = np.sort(rng.choice(n_samples, 6000, replace=False))
    independent_b = np.sort(rng.choice(n_samples, 6000, replace=False))
    options = {"refractory_samples": 36, "dead_time_samples": 14, "n_samples": n_samples}
    assert fire_independently(independent_a, independent_b, **options)
    one_neuron = np.arange(0, n_samples, 1200) + rng.integers(0, 200, n_samples // 1200)
    half_a, half_b = one_neuron[::2], one_neuron[1::2]
    assert not fire_independently(half_a, half_b, **options)


def test_merge_keeps_look_alike_units_that_fire_independently():
    snippets, labels = two_unit_snippets(n=600)
    split = labels.copy()
    unit0 = np.flatnonzero(labels == 0)
    split[unit0[::2]] = 2  # half of unit 0, interleaved in time: a look-alike pair
    rng = np.random.default_rng(3)
    times = np.sort(rng.choice(600 * 100, 600, replace=False))
    options = {"sample_index": times, "n_samples": 600 * 100, "dead_time_samples": 0}
    merged = merge_similar_units(
        split, snippets, np.array([3.0]), max_difference=1.5, refractory_samples=80, **options
    )
    assert len(np.unique(merged)) == 3


def test_discriminant_refinement_separates_twins_from_a_corrupted_start():
    rng = np.random.default_rng(3)
    shape = -np.exp(-np.linspace(-2, 2, 32) ** 2 * 4)
    truth = rng.integers(0, 2, 2000)
    gain = np.where(truth == 0, 10.0, 12.0) * rng.normal(1, 0.03, 2000)
    snippets = (gain[:, None] * shape + rng.normal(0, 1, (2000, 32)))[:, :, None]
    start = np.where(rng.random(2000) < 0.25, 1 - truth, truth)
    start[:100] = -1
    refined = refine_by_discriminant(start, snippets, np.ones(1), rounds=10)
    assert np.array_equal(refined[:100], start[:100])
    agreement = np.mean(refined[100:] == truth[100:])
    assert np.mean(start[100:] == truth[100:]) < 0.8 and agreement > 0.95
    assert np.array_equal(refined, refine_by_discriminant(start, snippets, np.ones(1), 10))
    capped = refine_by_discriminant(start, snippets, np.ones(1), 10, max_spikes_per_unit=300)
    assert np.mean(capped[100:] == truth[100:]) > 0.95


def test_discriminant_refinement_leaves_one_unit_and_zero_rounds_alone():
    snippets, labels = two_unit_snippets()
    one_unit = np.where(labels == 0, 0, -1)
    assert np.array_equal(refine_by_discriminant(one_unit, snippets, np.ones(1), 5), one_unit)
    assert np.array_equal(refine_by_discriminant(1 - labels, snippets, np.ones(1), 0), 1 - labels)
    unassigned = np.full(len(labels), -1)
    assert np.array_equal(refine_by_discriminant(unassigned, snippets, np.ones(1), 5), unassigned)


def test_discriminant_refinement_is_quiet_about_a_unit_of_one_spike():
    snippets, labels = two_unit_snippets()
    labels = labels.copy()
    labels[0] = 2  # a unit of one spike: no covariance of its own
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        refine_by_discriminant(labels, snippets, np.ones(1), 2)


def refractory_train(rng, n, refractory=48, mean_interval=400):
    """Spike times of one neuron: no two closer than ``refractory`` samples."""
    return np.cumsum(refractory + rng.exponential(mean_interval - refractory, n)).astype(int)


def test_split_separates_merged_twins_by_their_refractory_violations():
    rng = np.random.default_rng(5)
    shape = -np.exp(-np.linspace(-2, 2, 32) ** 2 * 4)
    truth = np.repeat([0, 1, 2], 1500)  # twins 0 and 1 merged into unit 0; unit 2 distinct
    gain = np.array([10.0, 12.0, 20.0])[truth] * rng.normal(1, 0.03, len(truth))
    snippets = (gain[:, None] * shape + rng.normal(0, 1, (len(truth), 32)))[:, :, None]
    times = np.concatenate([refractory_train(rng, 1500) for _ in range(3)])
    order = np.argsort(times, kind="stable")
    truth, snippets, times = truth[order], snippets[order], times[order]
    labels = np.where(truth == 2, 1, 0)
    options = {"refractory_samples": 48, "dead_time_samples": 19, "min_size": 15,
               "n_samples": int(times.max()) + 1}
    split = split_by_refractory(labels, snippets, np.ones(1), times, max_violation_ratio=0.35,
                                **options)
    assert np.array_equal(split[truth == 2], labels[truth == 2])
    twins = truth < 2
    assert len(np.unique(split[twins])) == 2
    assert adjusted_rand_score(truth[twins], split[twins]) > 0.8
    drawn = split_by_refractory(labels, snippets, np.ones(1), times, max_violation_ratio=0.35,
                                max_spikes_to_cut=1000, **options)
    assert adjusted_rand_score(truth[twins], drawn[twins]) > 0.8
    kept = split_by_refractory(labels, snippets, np.ones(1), times, max_violation_ratio=0.0,
                               **options)
    assert np.array_equal(kept, labels)


def test_split_leaves_a_pool_of_identical_neurons_and_a_clean_unit_alone():
    rng = np.random.default_rng(6)
    shape = -np.exp(-np.linspace(-2, 2, 32) ** 2 * 4)
    snippets = (10.0 * shape + rng.normal(0, 1, (3000, 32)))[:, :, None]
    pooled = np.sort(np.concatenate([refractory_train(rng, 1000) for _ in range(3)]))
    options = {"refractory_samples": 48, "dead_time_samples": 19, "min_size": 15,
               "max_violation_ratio": 0.35, "n_samples": int(pooled.max()) + 1}
    labels = np.zeros(3000, dtype=int)
    assert np.array_equal(split_by_refractory(labels, snippets, np.ones(1), pooled, **options),
                          labels)
    clean = refractory_train(rng, 3000)
    options["n_samples"] = int(clean.max()) + 1
    assert np.array_equal(split_by_refractory(labels, snippets, np.ones(1), clean, **options),
                          labels)


def test_split_refuses_a_cut_that_only_isolates_spikes_next_to_another():
    rng = np.random.default_rng(7)
    shape = -np.exp(-np.linspace(-2, 2, 32) ** 2 * 4)
    neuron = refractory_train(rng, 2000, mean_interval=1000)
    companions = np.sort(rng.choice(neuron, 80, replace=False)) + 30  # 30 samples after
    times = np.concatenate([neuron, companions])
    distorted = np.r_[np.zeros(2000), np.ones(80)]
    waveforms = 10.0 * shape + distorted[:, None] * 6.0 * np.roll(shape, 8)
    snippets = (waveforms + rng.normal(0, 1, (2080, 32)))[:, :, None]
    order = np.argsort(times, kind="stable")
    times, snippets = times[order], snippets[order]
    labels = np.zeros(2080, dtype=int)
    options = {"refractory_samples": 48, "dead_time_samples": 19, "min_size": 15,
               "max_violation_ratio": 0.35, "n_samples": int(times.max()) + 1}
    kept = split_by_refractory(labels, snippets, np.ones(1), times, **options)
    assert np.array_equal(kept, labels)
    unguarded = split_by_refractory(labels, snippets, np.ones(1), times,
                                    max_cross_excess=np.inf, **options)
    assert len(np.unique(unguarded)) == 2


def test_refractory_violations_count_pairs_beyond_the_dead_time_and_under_the_refractory():
    times = np.array([0, 19, 20, 47, 48, 200])  # gaps from 0: 19 (dead), 20, 47, 48 (not under)
    assert refractory_violations(times[:2], 48, 19) == 0
    assert refractory_violations(times[[0, 2]], 48, 19) == 1
    assert refractory_violations(times[[0, 3]], 48, 19) == 1
    assert refractory_violations(times[[0, 4]], 48, 19) == 0
    assert refractory_violations(times[::-1], 48, 19) == 6  # 0-20 0-47 19-47 20-47 19-48 20-48


def drifting_pair(alternate: bool, scale_b: float = 0.85, seed: int = 0):
    """One spike shape in two units, 1200 spikes over 60 s at 1 kHz: unit 1 (at ``scale_b``
    of unit 0's amplitude) fires in the odd 10 s blocks and unit 0 in the even ones when
    ``alternate``, both throughout otherwise."""
    rng = np.random.default_rng(seed)
    n_samples, n = 60_000, 1200
    times = np.sort(rng.choice(n_samples, n, replace=False))
    labels = (times // 10_000) % 2 if alternate else rng.integers(0, 2, n)
    t = np.linspace(-1, 1, 32)
    shape = -np.exp(-(t**2) * 30) * 20
    snippets = shape * np.where(labels == 1, scale_b, 1.0)[:, None] + rng.normal(0, 1, (n, 32))
    return labels, snippets[:, :, None].astype(np.float32), times, n_samples


def test_drift_merge_joins_units_that_take_turns_only():
    options = dict(bin_samples=5000, max_difference=4.0)
    labels, snippets, times, n_samples = drifting_pair(alternate=True)
    merged = merge_drifted_units(labels, snippets, np.ones(1), times, n_samples=n_samples,
                                 **options)
    assert len(np.unique(merged)) == 1
    labels, snippets, times, n_samples = drifting_pair(alternate=False)
    kept = merge_drifted_units(labels, snippets, np.ones(1), times, n_samples=n_samples,
                               **options)
    assert np.array_equal(kept, labels)  # same shapes, but both fire all the time
    labels, snippets, times, n_samples = drifting_pair(alternate=True, scale_b=0.5)
    kept = merge_drifted_units(labels, snippets, np.ones(1), times, n_samples=n_samples,
                               **options)
    assert np.array_equal(kept, labels)  # take turns, but differ by 10 sigmas
    labels, snippets, times, _ = drifting_pair(alternate=True)
    for short in ({"n_samples": 20_000}, {"n_samples": 60_000, "max_difference": 0.0}):
        kept = merge_drifted_units(labels, snippets, np.ones(1), times, **{**options, **short})
        assert np.array_equal(kept, labels)  # too few bins to tell; 0 disables


def probe_units(spec: list[tuple[int, int, np.ndarray]], seed: int = 0):
    """Spikes of (peak channel, unit, (shape, times)) on 6 channels in a line, 20 um apart:
    each spike's snippet is its shape's 6-channel waveform seen on the peak channel's
    neighbourhood (3 channels), plus noise of sigma 0.3."""
    rng = np.random.default_rng(seed)
    locations = np.stack([np.zeros(6), 20 * np.arange(6)], axis=1)
    neighbourhoods = channel_neighbourhoods(locations, 25)
    waveforms = {
        "A": np.outer(np.hanning(20), [2, 8, 8, 2, 0, 0]),
        "C": np.outer(np.hanning(20), [1, 4, 12, 4, 1, 0]),
        "A, 10 % smaller": 0.9 * np.outer(np.hanning(20), [2, 8, 8, 2, 0, 0]),
        "big": np.outer(np.hanning(20), [10, 40, 40, 10, 0, 0]),
        "big, 5 % smaller": 0.95 * np.outer(np.hanning(20), [10, 40, 40, 10, 0, 0]),
        "big, 15 % smaller": 0.85 * np.outer(np.hanning(20), [10, 40, 40, 10, 0, 0]),
        "big, 30 % smaller": 0.7 * np.outer(np.hanning(20), [10, 40, 40, 10, 0, 0]),
    }
    channels, labels, times, snippets = [], [], [], []
    for channel, unit, (shape, unit_times) in spec:
        full = -waveforms[shape][None] + rng.normal(0, 0.3, (len(unit_times), 20, 6))
        snippets.append(full[:, :, neighbourhoods[channel]])
        channels += [channel] * len(unit_times)
        labels += [unit] * len(unit_times)
        times.append(unit_times)
    order = np.argsort(np.concatenate(times), kind="stable")
    return (np.asarray(labels)[order], np.concatenate(snippets)[order].astype(np.float32),
            np.asarray(channels)[order], neighbourhoods, np.concatenate(times)[order])


def test_merge_across_channels_joins_one_neuron_seen_on_neighbouring_channels():
    n_samples = 600_000
    grid = np.arange(300) * 2000
    spec = [
        (1, 0, ("A", grid)),  # one neuron peaking on channel 1 ...
        (2, 1, ("A", grid + 1000)),  # ... and on channel 2
        (2, 2, ("C", grid + 500)),  # another neuron on channel 2
        (5, 3, ("A", grid + 1500)),  # not a neighbour of channels 1 and 2
    ]
    labels, snippets, channels, neighbourhoods, times = probe_units(spec)
    options = dict(n_samples=n_samples, refractory_samples=30, dead_time_samples=10,
                   max_violation_ratio=0.35)
    merged = merge_across_channels(labels, snippets, np.ones(6), channels, neighbourhoods, times,
                                   max_difference=1.5, **options)
    assert merged[labels == 1][0] == merged[labels == 0][0]
    assert len(np.unique(merged)) == 3  # C differs by 4 sigmas on channel 2's neighbourhood
    kept = merge_across_channels(labels, snippets, np.ones(6), channels, neighbourhoods, times,
                                 max_difference=0.0, **options)
    assert np.array_equal(kept, labels)  # 0 disables
    spec[1] = (2, 1, ("A", grid + 20))  # the same shape, inside unit 0's refractory period
    labels, snippets, channels, neighbourhoods, times = probe_units(spec)
    vetoed = merge_across_channels(labels, snippets, np.ones(6), channels, neighbourhoods, times,
                                   max_difference=1.5, **options)
    assert np.array_equal(vetoed, labels)
    # A large neuron's parts differ by more than 1.5 sigmas; the relative rule (a fifth of the
    # peak) merges them on neighbouring channels and on one channel alike.
    for channel, shape, n_units in (
        (2, "big, 5 % smaller", 1),  # 2 sigmas apart
        (1, "big, 5 % smaller", 1),  # two units of one peak channel
        (1, "big, 15 % smaller", 1),  # within a fifth of the peak
        (1, "big, 30 % smaller", 2),  # beyond it
    ):
        spec = [(1, 0, ("big", grid)), (channel, 1, (shape, grid + 1000))]
        labels, snippets, channels, neighbourhoods, times = probe_units(spec)
        merged = merge_across_channels(labels, snippets, np.ones(6), channels, neighbourhoods,
                                       times, max_difference=1.5, **options)
        assert len(np.unique(merged)) == n_units, (channel, shape)


def test_merge_across_channels_keeps_apart_what_a_split_would_cut():
    # Too few spikes for the independence test (0.7 coincidences expected), but 6 of unit 1's
    # spikes fall 20 samples after unit 0's and neither unit violates on its own.
    grid = np.arange(100) * 6000
    options = dict(max_difference=1.5, n_samples=600_000, refractory_samples=30,
                   dead_time_samples=10, max_violation_ratio=0.35)
    later = grid + 3000
    for n_close, n_units in ((0, 1), (6, 2)):
        later[:n_close] = grid[:n_close] + 20
        labels, snippets, channels, neighbourhoods, times = probe_units(
            [(1, 0, ("A", grid)), (1, 1, ("A", later.copy()))]
        )
        merged = merge_across_channels(labels, snippets, np.ones(6), channels, neighbourhoods,
                                       times, **options)
        assert len(np.unique(merged)) == n_units, n_close


def test_merge_across_channels_chains_whatever_the_unit_numbers():
    # One neuron seen on channels 1, 2 and 3: 1-3 are not neighbours, and 2-3 are less alike
    # than 1-2, so the 2-3 pair is merged after the 1-2 pair under either numbering.
    grid = np.arange(300) * 2000
    options = dict(max_difference=1.5, n_samples=600_000, refractory_samples=30,
                   dead_time_samples=10, max_violation_ratio=0.35)
    for ids in ((0, 1, 2), (1, 0, 2)):
        spec = [(1, ids[0], ("A", grid)), (2, ids[1], ("A", grid + 700)),
                (3, ids[2], ("A, 10 % smaller", grid + 1400))]
        labels, snippets, channels, neighbourhoods, times = probe_units(spec)
        merged = merge_across_channels(labels, snippets, np.ones(6), channels, neighbourhoods,
                                       times, **options)
        assert len(np.unique(merged)) == 1, ids


def test_main_channels_are_each_units_most_common_peak_channel():
    labels = np.array([0, 0, 0, 2, 2, -1])
    channel_index = np.array([3, 1, 3, 0, 0, 5])
    assert main_channels(labels, channel_index, 3).tolist() == [3, -1, 0]


def test_main_channel_templates_use_each_units_main_channel_only():
    snippets = np.concatenate([np.full((5, 4, 3), 1.0), np.full((3, 4, 3), 9.0)]).astype(
        np.float32)
    labels = np.array([0] * 8 + [-1])
    snippets = np.concatenate([snippets, np.zeros((1, 4, 3), np.float32)])
    channel_index = np.array([2] * 5 + [3] * 3 + [2])
    templates = main_channel_templates(snippets, labels, 1, channel_index, np.array([2]))
    assert np.all(templates[0] == 1.0)  # the 3 spikes of channel 3 span another neighbourhood
