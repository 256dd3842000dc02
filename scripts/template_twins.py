"""Ground-truth units whose waveform has a near twin: another unit of the same recording whose
template differs nowhere by more than a few noise sigmas (on one channel no sorter separates
such a pair by waveform). With a bench's units.csv, the sorter's accuracy on units with and
without a twin.

    .venv/bin/python scripts/template_twins.py --glob "mearec/test/mono_*.npz" \
        --units runs/bench_shared/units.csv --sorter neurosort
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

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("NEUROSORT_DATA", REPO.parent / "shared" / "data"))


def nearest_twins(path: Path) -> pd.DataFrame:
    """Per unit: its nearest other unit and their largest template difference in noise sigmas
    (median templates of the true spike times on the band-passed trace, every channel)."""
    recording, truth = load_recording(path), load_ground_truth(path)
    fs = recording.sampling_frequency_hz
    filtered = bandpass(recording.get_traces().astype(np.float64), fs)
    filtered /= mad_noise_levels(filtered)
    window = WaveformConfig()
    before, after = round(window.before_ms * fs / 1000), round(window.after_ms * fs / 1000)
    units = np.unique(truth.unit_index)
    templates = []
    for unit in units:
        times = truth.sample_index[truth.unit_index == unit]
        times = times[(times >= before) & (times < len(filtered) - after)]
        offsets = times[:, None] + np.arange(-before, after)[None, :]
        templates.append(np.median(filtered[offsets], axis=0).ravel())
    flat = np.stack(templates)
    differences = np.abs(flat[:, None] - flat[None]).max(axis=-1)
    np.fill_diagonal(differences, np.inf)
    nearest = differences.argmin(axis=1)
    return pd.DataFrame({
        "recording": path.stem, "gt_unit": units, "nearest_unit": units[nearest],
        "twin_difference_sigma": differences[np.arange(len(units)), nearest],
    })


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--glob", default="mearec/test/mono_*.npz", help="under the data folder")
    parser.add_argument("--units", type=Path, help="a bench's units.csv to join")
    parser.add_argument("--sorter", default="neurosort")
    parser.add_argument("--min-snr", type=float, default=8.0)
    parser.add_argument("--twin-sigma", type=float, default=2.0)
    args = parser.parse_args()
    twins = pd.concat([nearest_twins(path) for path in sorted(DATA.glob(args.glob))])
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
