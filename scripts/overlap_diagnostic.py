"""Where the spikes of well-isolated units go: how many of a unit's spikes the default sorting
puts outside the unit's main sorted unit, and how many of those lost spikes have another
ground-truth spike within 1.5 ms (an overlap). Training recordings by default.

    .venv/bin/python scripts/overlap_diagnostic.py                    # mearec/train monotrodes
    .venv/bin/python scripts/overlap_diagnostic.py --glob "mearec/train/mono_train_04*.npz"
    .venv/bin/python scripts/overlap_diagnostic.py --set cluster.reassign_min_gain_sigma2=0
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import numpy as np

from neurosort.config import SortConfig, with_overrides
from neurosort.evaluate import match_spike_times
from neurosort.io import load_ground_truth, load_recording
from neurosort.pipeline import sort_recording

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("NEUROSORT_DATA", REPO.parent / "shared" / "data"))
MATCH_WINDOW_MS = 0.5
OVERLAP_MS = 1.5


def nearest_other_spike_samples(times: np.ndarray, all_times: np.ndarray) -> np.ndarray:
    """Distance from each of ``times`` (all in sorted ``all_times``) to the closest other spike."""
    times, all_times = times.astype(np.int64), all_times.astype(np.int64)
    position = np.searchsorted(all_times, times)
    before = np.where(position > 0, times - all_times[np.maximum(position - 1, 0)], np.inf)
    last = len(all_times) - 1
    after = np.where(position < last, all_times[np.minimum(position + 1, last)] - times, np.inf)
    return np.minimum(before, after)


def unit_rows(path: Path, min_snr: float, config: SortConfig) -> list[dict]:
    recording, truth = load_recording(path), load_ground_truth(path)
    fs = recording.sampling_frequency_hz
    spikes = sort_recording(recording, config).spikes
    spikes = spikes[np.argsort(spikes["sample_index"], kind="stable")]
    all_truth = np.sort(truth.sample_index)
    overlap = OVERLAP_MS * fs / 1000
    rows = []
    for unit in np.unique(truth.unit_index):
        if truth.unit_snr[unit] < min_snr:
            continue
        times = np.sort(truth.sample_index[truth.unit_index == unit])
        found, detected = match_spike_times(
            times, spikes["sample_index"], int(round(MATCH_WINDOW_MS * fs / 1000))
        )
        labels = spikes["unit_index"][detected]
        main = np.bincount(labels[labels >= 0]).argmax()
        lost = times[found[labels != main]]
        overlapping = nearest_other_spike_samples(lost, all_truth) <= overlap
        rows.append({
            "recording": path.stem, "unit": int(unit), "snr": float(truth.unit_snr[unit]),
            "n": len(times),
            "overlapping": int((nearest_other_spike_samples(times, all_truth) <= overlap).sum()),
            "undetected": len(times) - len(found), "lost": len(lost),
            "lost_overlapping": int(overlapping.sum()),
        })
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--glob", default="mearec/train/mono_*.npz", help="under the data folder")
    parser.add_argument("--min-snr", type=float, default=8.0)
    parser.add_argument("--set", action="append", default=[], help="config override key=value")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    config = with_overrides(SortConfig(), args.set)
    paths = sorted(DATA.glob(args.glob))
    rows = [row for path in paths for row in unit_rows(path, args.min_snr, config)]
    print("| recording | unit | SNR | spikes | overlapping | undetected | in other units "
          "| of those overlapping |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['recording']} | {r['unit']} | {r['snr']:.1f} | {r['n']} | {r['overlapping']} "
              f"| {r['undetected']} | {r['lost']} | {r['lost_overlapping']} |")
    keys = ("n", "overlapping", "undetected", "lost", "lost_overlapping")
    total = {key: sum(r[key] for r in rows) for key in keys}
    print(f"| all {len(rows)} units | | | {total['n']} "
          f"| {total['overlapping']} ({total['overlapping'] / max(total['n'], 1):.0%}) "
          f"| {total['undetected']} | {total['lost']} "
          f"| {total['lost_overlapping']} "
          f"({total['lost_overlapping'] / max(total['lost'], 1):.0%}) |")


if __name__ == "__main__":
    main()
