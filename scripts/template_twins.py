"""Ground-truth units whose waveform has a near twin: another unit of the same recording whose
template differs nowhere by more than a few noise sigmas (on one channel no sorter separates
such a pair by waveform). With a bench's units.csv, the sorter's accuracy on units with and
without a twin.

    .venv/bin/python scripts/template_twins.py --glob "mearec/test/mono_*.npz" \
        --units runs/bench_shared/units.csv --sorter neurosort

With --oracle, how well the units' spikes can be told apart by waveform at all: perfect
detection (the ground-truth times, background spikes left out), each spike assigned to the
nearest true median template (plain, or whitened by the background's covariance), or by a
linear discriminant trained on the recording's own labels (5-fold); SpikeForest accuracy.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd

from neurosort.config import WaveformConfig
from neurosort.io import load_ground_truth, load_recording
from neurosort.preprocess import bandpass, mad_noise_levels
from neurosort.waveforms import snippet_offsets

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("NEUROSORT_DATA", REPO.parent / "shared" / "data"))


def truth_snippets(path: Path, n_background: int = 20000):
    """(snippets of every ground-truth spike, their units, snippets at random times), flat,
    on the band-passed trace in noise sigmas, every channel; and the ground truth."""
    recording, truth = load_recording(path), load_ground_truth(path)
    fs = recording.sampling_frequency_hz
    filtered = bandpass(recording.get_traces().astype(np.float64), fs)
    filtered /= mad_noise_levels(filtered)
    n_channels = filtered.shape[1]
    window = WaveformConfig()
    before, after = snippet_offsets(fs, window.before_ms, window.after_ms)
    inside = (truth.sample_index >= before) & (truth.sample_index < len(filtered) - after)
    offsets = np.arange(-before, after)[None, :]

    def cut(times):
        return filtered[times[:, None] + offsets].reshape(len(times), offsets.size * n_channels)

    random_times = np.random.default_rng(0).integers(before, len(filtered) - after, n_background)
    return cut(truth.sample_index[inside]), truth.unit_index[inside], cut(random_times), truth


def nearest_twins(path: Path) -> pd.DataFrame:
    """Per unit: its nearest other unit and their largest template difference in noise sigmas
    (median templates of the true spike times on the band-passed trace, every channel)."""
    snippets, labels, _, _ = truth_snippets(path, n_background=0)
    units = np.unique(labels)
    flat = np.stack([np.median(snippets[labels == unit], axis=0) for unit in units])
    differences = np.abs(flat[:, None] - flat[None]).max(axis=-1)
    np.fill_diagonal(differences, np.inf)
    nearest = differences.argmin(axis=1)
    return pd.DataFrame({
        "recording": path.stem, "gt_unit": units, "nearest_unit": units[nearest],
        "twin_difference_sigma": differences[np.arange(len(units)), nearest],
    })


def spikeforest_accuracy(labels: np.ndarray, predicted: np.ndarray, unit: int) -> float:
    matched = np.sum((labels == unit) & (predicted == unit))
    return matched / (np.sum(labels == unit) + np.sum(predicted == unit) - matched)


def oracle_accuracies(path: Path) -> pd.DataFrame:
    """Per unit and assignment rule, the accuracy of telling the units apart by waveform."""
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    snippets, labels, background, truth = truth_snippets(path)
    units = np.unique(labels)
    templates = np.stack([np.median(snippets[labels == unit], axis=0) for unit in units])
    covariance = np.cov(background.T) + 1e-3 * np.eye(background.shape[1])
    whiten = np.linalg.cholesky(np.linalg.inv(covariance))

    def nearest(values, centres):
        return units[((values[:, None, :] - centres[None]) ** 2).sum(axis=-1).argmin(axis=1)]

    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    predictions = {
        "nearest_template": nearest(snippets, templates),
        "nearest_whitened_template": nearest(snippets @ whiten, templates @ whiten),
        "lda_own_labels_5fold": cross_val_predict(
            LinearDiscriminantAnalysis(), snippets, labels, cv=folds
        ),
    }
    rows = [
        {"recording": path.stem, "gt_unit": unit, "snr": float(truth.unit_snr[index]),
         "rule": rule, "accuracy": spikeforest_accuracy(labels, predicted, unit)}
        for rule, predicted in predictions.items()
        for index, unit in enumerate(units)
    ]
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--glob", default="mearec/test/mono_*.npz", help="under the data folder")
    parser.add_argument("--units", type=Path, help="a bench's units.csv to join")
    parser.add_argument("--sorter", default="neurosort")
    parser.add_argument("--min-snr", type=float, default=8.0)
    parser.add_argument("--twin-sigma", type=float, default=2.0)
    parser.add_argument("--oracle", action="store_true", help="waveform-only upper references")
    args = parser.parse_args()
    paths = sorted(DATA.glob(args.glob))
    if args.oracle:
        table = pd.concat([oracle_accuracies(path) for path in paths])
        strong = table[table.snr >= args.min_snr]
        n_units = len(strong) // len(strong.rule.unique())
        print(f"units with SNR >= {args.min_snr:g}: mean accuracy by rule ({n_units} units)")
        print(strong.groupby("rule").accuracy.mean().round(3).to_string())
        return
    twins = pd.concat([nearest_twins(path) for path in paths])
    if args.units is None:
        print(twins.round(2).to_string(index=False))
        return
    units = pd.read_csv(args.units)
    units = units[(units.sorter == args.sorter) & (units.snr >= args.min_snr)]
    table = units.merge(twins, on=["recording", "gt_unit"])
    table["has_twin"] = table.twin_difference_sigma <= args.twin_sigma
    summary = table.groupby("has_twin").agg(
        units=("accuracy", "size"), mean_accuracy=("accuracy", "mean"),
        mean_precision=("precision", "mean"), mean_recall=("recall", "mean"),
    )
    print(f"{args.sorter}, units with SNR >= {args.min_snr:g}; twin: another unit's template "
          f"within {args.twin_sigma:g} noise sigmas everywhere")
    print(summary.round(3).to_string())
    print(f"all: {len(table)} units, mean accuracy {table.accuracy.mean():.3f}")


if __name__ == "__main__":
    main()
