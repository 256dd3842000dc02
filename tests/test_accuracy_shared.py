"""Accuracy floors on the shared datasets (skipped with a reason when ../shared/data is absent).

Floors sit a little below the figures measured with the default configuration (BENCHMARKS.md)
so that a regression fails while run-to-run library differences do not.
"""

import numpy as np
import pytest

from neurosort.config import SortConfig
from neurosort.evaluate import evaluate
from neurosort.io import load_ground_truth, load_recording
from neurosort.pipeline import sort_recording

# Mean per-recording accuracy on the 20 monotrode test recordings, from
# `neurosort bench studies/shared.toml` (BENCHMARKS.md): MountainSort5 (both polarities,
# scheme 2) 0.248 here (0.32 as quoted in issue 2), neurosort's default 0.489.
MOUNTAINSORT5_MONOTRODE_MEAN_ACCURACY = 0.32
NEUROSORT_MONOTRODE_FLOOR = 0.40


def sort_and_score(path, **load_options):
    recording = load_recording(path, **load_options)
    truth = load_ground_truth(path, **load_options)
    return evaluate(sort_recording(recording, SortConfig()), truth).summary


def test_quiroga_easy1_short(data_dir):
    summary = sort_and_score(data_dir / "quiroga2004_easy1_short" / "C_Easy1_noise01_short.mat")
    assert summary["mean_accuracy"] >= 0.97


def test_quiroga_cbp_excerpt_with_overlaps(data_dir):
    path = data_dir / "quiroga2004_cbp_excerpt" / "C_Easy1_noise015_5sec.mat"
    summary = sort_and_score(path, sampling_frequency_hz=24000.0)
    # 121 spikes of 3 units: a few spikes move the mean by 0.05 (default 0.836 with the S4
    # weights its card's command reproduces, 0.884 with the earlier, unreproducible ones)
    assert summary["mean_accuracy"] >= 0.80


def test_mearec_monotrode_beats_mountainsort5(data_dir):
    paths = sorted((data_dir / "mearec" / "test").glob("mono_*.npz"))
    if not paths:
        pytest.skip(f"no MEArec monotrode recordings in {data_dir / 'mearec' / 'test'}")
    accuracies = [sort_and_score(path)["mean_accuracy"] for path in paths]
    assert np.mean(accuracies) >= max(
        MOUNTAINSORT5_MONOTRODE_MEAN_ACCURACY, NEUROSORT_MONOTRODE_FLOOR
    )


def test_mearec_tetrodes_sort(data_dir):
    paths = sorted((data_dir / "mearec" / "test").glob("tet_*.npz"))
    if not paths:
        pytest.skip(f"no MEArec tetrode recordings in {data_dir / 'mearec' / 'test'}")
    summaries = [sort_and_score(path) for path in paths]
    assert all(s["n_sorted_units"] >= 2 for s in summaries)
    assert summaries[0]["mean_accuracy"] >= 0.5  # the low-noise tetrode (n1)
