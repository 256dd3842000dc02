"""Ground-truth evaluation on hand-made spike trains whose scores are known."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from neurosort.errors import InputError
from neurosort.evaluate import (
    UNIT_COLUMNS,
    detection_scores,
    evaluate,
    match_spike_times,
    unit_snrs,
)
from neurosort.types import SPIKE_DTYPE, GroundTruth, Recording, SortResult

FS = 30000.0


def ground_truth(times, units, unit_snr=None) -> GroundTruth:
    return GroundTruth(np.asarray(times), np.asarray(units), FS, unit_snr=unit_snr)


def spikes(times, units) -> np.ndarray:
    out = np.zeros(len(times), dtype=SPIKE_DTYPE)
    out["sample_index"] = times
    out["unit_index"] = units
    return out


def unit_row(result, gt_unit):
    return next(row for row in result.units if row["gt_unit"] == gt_unit)


TIMES = np.arange(1, 21) * 1000
LABELS = np.repeat([0, 1], 10)


def test_perfect_sorting_scores_one_with_jitter_and_relabelled_units():
    result = evaluate(spikes(TIMES + 3, LABELS + 5), ground_truth(TIMES, LABELS))
    for row in result.units:
        assert row["best_sorted_unit"] == row["gt_unit"] + 5
        assert (row["accuracy"], row["precision"], row["recall"]) == (1.0, 1.0, 1.0)
        assert row["si_accuracy"] == 1.0
    summary = result.summary
    for key in ("mean_accuracy", "ari", "nmi", "cluster_accuracy", "detection_precision"):
        assert summary[key] == pytest.approx(1.0)
    assert summary["n_units_accuracy_ge_0_8"] == 2
    assert (summary["n_gt_units"], summary["n_sorted_units"]) == (2, 2)


def test_split_unit_matches_its_larger_part():
    sorted_labels = np.r_[np.repeat(0, 6), np.repeat(1, 4), np.repeat(2, 10)]
    result = evaluate(spikes(TIMES, sorted_labels), ground_truth(TIMES, LABELS))
    split = unit_row(result, 0)
    assert split["best_sorted_unit"] == 0
    assert (split["n_gt"], split["n_sorted"], split["n_match"]) == (10, 6, 6)
    assert split["accuracy"] == pytest.approx(0.6)
    assert (split["precision"], split["recall"]) == (1.0, pytest.approx(0.6))
    assert unit_row(result, 1)["accuracy"] == 1.0
    assert result.summary["cluster_accuracy"] == pytest.approx(16 / 20)


def test_merged_pair_shares_one_sorted_unit():
    times = np.arange(1, 11) * 1000
    labels = np.r_[np.repeat(0, 6), np.repeat(1, 4)]
    result = evaluate(spikes(times, np.zeros(10)), ground_truth(times, labels))
    assert unit_row(result, 0)["accuracy"] == pytest.approx(0.6)
    assert unit_row(result, 0)["precision"] == pytest.approx(0.6)
    assert unit_row(result, 1)["accuracy"] == pytest.approx(0.4)
    assert unit_row(result, 1)["recall"] == 1.0
    assert result.summary["ari"] == pytest.approx(0.0)
    assert result.summary["nmi"] == pytest.approx(0.0)
    assert result.summary["cluster_accuracy"] == pytest.approx(0.6)


def test_missed_spikes_lower_recall_and_count_as_errors():
    found = np.ones(20, dtype=bool)
    found[[0, 1, 2, 10]] = False
    result = evaluate(spikes(TIMES[found], LABELS[found]), ground_truth(TIMES, LABELS))
    assert unit_row(result, 0)["recall"] == pytest.approx(0.7)
    assert unit_row(result, 0)["accuracy"] == pytest.approx(0.7)
    assert unit_row(result, 0)["precision"] == 1.0
    assert result.summary["detection_recall"] == pytest.approx(16 / 20)
    assert result.summary["detection_precision"] == 1.0
    assert result.summary["cluster_accuracy"] == pytest.approx(16 / 20)
    assert 0.0 < result.summary["ari"] < 1.0


def test_unassigned_spikes_are_detections_without_a_unit():
    sorted_labels = LABELS.copy()
    sorted_labels[[0, 1]] = -1
    result = evaluate(spikes(TIMES, sorted_labels), ground_truth(TIMES, LABELS))
    assert unit_row(result, 0)["accuracy"] == pytest.approx(0.8)
    assert unit_row(result, 0)["n_sorted"] == 8
    assert result.summary["n_sorted_units"] == 2
    assert result.summary["detection_recall"] == 1.0
    assert result.summary["cluster_accuracy"] == pytest.approx(18 / 20)


@pytest.mark.parametrize(("offset", "matched"), [(30, True), (-30, True), (31, False)])
def test_window_edges(offset, matched):
    truth = ground_truth([1000, 5000], [0, 0])
    result = evaluate(spikes(truth.sample_index + offset, [0, 0]), truth)
    assert result.units[0]["accuracy"] == (1.0 if matched else 0.0)
    assert result.units[0]["si_accuracy"] == (1.0 if matched else 0.0)
    assert result.summary["detection_recall"] == (1.0 if matched else 0.0)


def test_window_is_configurable():
    truth = ground_truth([1000, 5000], [0, 0])
    result = evaluate(spikes([1010, 5010], [0, 0]), truth, match_window_samples=5)
    assert result.units[0]["accuracy"] == 0.0
    assert result.summary["match_window_samples"] == 5


def test_empty_sorting_gives_zeros(tmp_path):
    result = evaluate(spikes([], []), ground_truth(TIMES, LABELS))
    for row in result.units:
        assert row["best_sorted_unit"] == -1
        assert (row["accuracy"], row["precision"], row["recall"], row["si_accuracy"]) == (0,) * 4
    for key in ("mean_accuracy", "ari", "nmi", "cluster_accuracy", "detection_precision"):
        assert result.summary[key] == 0.0
    assert result.summary["n_sorted_units"] == 0
    result.to_json(tmp_path / "eval.json")
    assert "gt" in result.format_table()


def test_sort_result_input_and_sampling_rate_check():
    result = SortResult(spikes(TIMES, LABELS), np.zeros((2, 10, 1)), FS, 1)
    assert evaluate(result, ground_truth(TIMES, LABELS)).summary["mean_accuracy"] == 1.0
    wrong_rate = SortResult(spikes(TIMES, LABELS), np.zeros((2, 10, 1)), 2 * FS, 1)
    with pytest.raises(InputError, match="Hz"):
        evaluate(wrong_rate, ground_truth(TIMES, LABELS))
    too_short = SortResult(spikes(TIMES, LABELS), np.zeros((2, 10, 1)), FS, 1, n_samples=10)
    with pytest.raises(InputError, match="outside the recording"):
        evaluate(too_short, ground_truth(TIMES, LABELS))


def test_best_match_accuracy_agrees_with_spikeinterface():
    rng = np.random.default_rng(1)
    times = np.sort(rng.choice(np.arange(0, 3_000_000, 100), size=600, replace=False))
    labels = rng.integers(0, 3, size=600)
    sorted_labels = labels.copy()
    sorted_labels[rng.random(600) < 0.15] = 3
    kept = rng.random(600) > 0.1
    extra = rng.choice(np.arange(50, 3_000_000, 100), size=40, replace=False)
    sorted_times = np.r_[times[kept] + rng.integers(-10, 11, kept.sum()), extra]
    all_labels = np.r_[sorted_labels[kept], rng.integers(0, 4, 40)]
    result = evaluate(spikes(sorted_times, all_labels), ground_truth(times, labels))
    for row in result.units:
        assert row["si_sorted_unit"] == row["best_sorted_unit"] == row["gt_unit"]
        assert row["accuracy"] == pytest.approx(row["si_accuracy"])
        assert row["precision"] == pytest.approx(row["si_precision"])
        assert row["recall"] == pytest.approx(row["si_recall"])
        assert 0.5 < row["accuracy"] < 0.9


def test_match_spike_times_is_one_to_one_and_prefers_the_nearest():
    index_a, index_b = match_spike_times(np.array([100, 200]), np.array([95, 102, 300]), 10)
    assert index_a.tolist() == [0] and index_b.tolist() == [1]
    index_a, index_b = match_spike_times(np.array([100, 104]), np.array([103]), 10)
    assert index_a.tolist() == [1] and index_b.tolist() == [0]


def sequential_greedy(a, b, window):
    pairs = sorted(
        (abs(int(x) - int(y)), i, j)
        for i, x in enumerate(a)
        for j, y in enumerate(b)
        if abs(int(x) - int(y)) <= window
    )
    used_a, used_b, matches = set(), set(), []
    for _, i, j in pairs:
        if i not in used_a and j not in used_b:
            used_a.add(i)
            used_b.add(j)
            matches.append((i, j))
    return sorted(matches)


@pytest.mark.parametrize("seed", range(5))
def test_match_spike_times_equals_sequential_greedy(seed):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2000, size=120)
    b = rng.integers(0, 2000, size=150)
    index_a, index_b = match_spike_times(a, b, 15)
    assert list(zip(index_a.tolist(), index_b.tolist(), strict=True)) == sequential_greedy(a, b, 15)


def test_match_spike_times_on_a_long_chain_of_ties_equals_sequential_greedy():
    a = np.arange(0, 800, 10)
    b = a + 5
    index_a, index_b = match_spike_times(a, b, 15)
    assert list(zip(index_a.tolist(), index_b.tolist(), strict=True)) == sequential_greedy(a, b, 15)
    assert len(index_a) == len(a)


def test_detection_scores():
    scores = detection_scores(np.array([100, 200, 300, 5000]), np.array([98, 205, 310, 400]), 5)
    assert scores["precision"] == pytest.approx(0.5)
    assert scores["recall"] == pytest.approx(0.5)
    assert scores["f1"] == pytest.approx(0.5)
    assert detection_scores(np.array([]), np.array([1, 2]), 5)["f1"] == 0.0


def synthetic_recording(amplitude_uv: float, noise_uv: float) -> tuple[Recording, GroundTruth]:
    rng = np.random.default_rng(0)
    n_samples = int(10 * FS)
    traces = rng.normal(0.0, noise_uv, (n_samples, 2)).astype(np.float32)
    t = np.arange(-60, 61) / FS
    waveform = amplitude_uv * np.exp(-(t**2) / (2 * 0.25e-3**2)) * np.cos(2 * np.pi * 1500 * t)
    times = np.arange(3000, n_samples - 3000, 3000)
    for time in times:
        traces[time - 60 : time + 61, 1] += waveform
        traces[time - 60 : time + 61, 0] += 0.3 * waveform
    return Recording(traces, FS), ground_truth(times, np.zeros(len(times), dtype=int))


def test_snr_of_known_template_in_white_noise():
    recording, truth = synthetic_recording(amplitude_uv=80.0, noise_uv=10.0)
    # White noise keeps (6000 - 300) / 15000 of its power through the 300-6000 Hz band-pass.
    expected = 80.0 / (10.0 * np.sqrt(5700 / 15000))
    assert unit_snrs(recording, truth)[0] == pytest.approx(expected, rel=0.1)
    result = evaluate(spikes(truth.sample_index, truth.unit_index), truth, recording=recording)
    assert result.units[0]["snr"] == pytest.approx(expected, rel=0.1)


def test_snr_from_ground_truth_or_nan_and_threshold_summary():
    sorted_labels = np.r_[np.repeat(0, 10), np.repeat(-1, 10)]
    truth = ground_truth(TIMES, LABELS, unit_snr=np.array([12.0, 3.0]))
    result = evaluate(spikes(TIMES, sorted_labels), truth, snr_threshold=8.0)
    assert [row["snr"] for row in result.units] == [12.0, 3.0]
    assert result.summary["mean_accuracy"] == pytest.approx(0.5)
    assert result.summary["mean_accuracy_snr_ge_threshold"] == 1.0
    assert result.summary["n_units_snr_ge_threshold"] == 1
    no_snr = evaluate(spikes(TIMES, sorted_labels), ground_truth(TIMES, LABELS))
    assert all(np.isnan(row["snr"]) for row in no_snr.units)
    assert "mean_accuracy_snr_ge_threshold" not in no_snr.summary


def test_json_and_csv_outputs_are_complete_and_deterministic(tmp_path):
    sorted_labels = np.r_[np.repeat(0, 6), np.repeat(1, 4), np.repeat(2, 10)]
    result = evaluate(spikes(TIMES, sorted_labels), ground_truth(TIMES, LABELS))
    again = evaluate(spikes(TIMES, sorted_labels), ground_truth(TIMES, LABELS))
    result.to_json(tmp_path / "a.json")
    again.to_json(tmp_path / "b.json")
    assert (tmp_path / "a.json").read_bytes() == (tmp_path / "b.json").read_bytes()
    loaded = json.loads((tmp_path / "a.json").read_text())
    assert loaded["summary"]["mean_accuracy"] == pytest.approx(0.8)
    assert loaded["units"][0]["snr"] is None
    result.to_csv(tmp_path / "units.csv")
    with (tmp_path / "units.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert [tuple(row) for row in rows] == [UNIT_COLUMNS] * 2
    assert float(rows[0]["accuracy"]) == pytest.approx(0.6)
    table = result.format_table()
    assert "mean_accuracy: 0.8000" in table
    assert len(table.splitlines()) == 5 + len(result.summary)
