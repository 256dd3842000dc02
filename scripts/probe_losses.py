"""Where a sorting loses a recording's ground-truth spikes: in each neuron's best unit, in
other units (fragments), detected but unassigned, or never detected; and how often the
unassigned and undetected ones overlap another neuron's spike.

    neurosort sort runs/generated/probe_c32_u20_s0.npz --out s0/
    python scripts/probe_losses.py s0/ runs/generated/probe_c32_u20_s0.npz

A true spike is detected when a sorted spike lies within the match window (30 samples, as
the evaluation); it overlaps when another true spike lies within the same window.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

MATCH_WINDOW_SAMPLES = 30


def nearest(times: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Index into sorted ``times`` of the time nearest each of ``targets``."""
    after = np.clip(np.searchsorted(times, targets), 1, len(times) - 1)
    before = after - 1
    return np.where(np.abs(times[before] - targets) <= np.abs(times[after] - targets),
                    before, after)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sorting", type=Path, help="a `neurosort sort` output folder")
    parser.add_argument("ground_truth", type=Path, help="npz with spike_times, spike_units")
    args = parser.parse_args()
    sorted_spikes, truth = np.load(args.sorting / "spikes.npz"), np.load(args.ground_truth)
    order = np.argsort(sorted_spikes["sample_index"], kind="stable")
    times, labels = sorted_spikes["sample_index"][order], sorted_spikes["unit_index"][order]
    true_order = np.argsort(truth["spike_times"], kind="stable")
    true_times, true_units = truth["spike_times"][true_order], truth["spike_units"][true_order]
    match = nearest(times, true_times)
    detected = np.abs(times[match] - true_times) <= MATCH_WINDOW_SAMPLES
    unit_of = np.where(detected, labels[match], -2)  # -2 undetected, -1 unassigned
    gaps = np.diff(true_times)
    overlaps = np.minimum(np.r_[np.inf, gaps], np.r_[gaps, np.inf]) <= MATCH_WINDOW_SAMPLES
    in_best = 0
    for unit in np.unique(true_units):
        assigned = unit_of[(true_units == unit) & (unit_of >= 0)]
        in_best += np.bincount(assigned).max() if len(assigned) else 0
    n = len(true_times)
    kinds = {"unassigned": unit_of == -1, "undetected": unit_of == -2}
    print(f"{n} true spikes: {in_best / n:.3f} in their neuron's best unit, "
          f"{((unit_of >= 0).sum() - in_best) / n:.3f} in other units (fragments)")
    for name, mask in kinds.items():
        share = overlaps[mask].mean() if mask.any() else float("nan")
        print(f"{name}: {mask.sum()} ({mask.mean():.3f}); overlapping another: {share:.2f}")
    print(f"all true spikes overlapping another: {overlaps.mean():.2f}")


if __name__ == "__main__":
    main()
