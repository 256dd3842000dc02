"""Benchmark of the spike detectors (issue 3): detection P/R/F1, sorting accuracy and speed.

    .venv/bin/python scripts/detector_benchmark.py detection --out runs/detector
    .venv/bin/python scripts/detector_benchmark.py sweep --out runs/detector
    .venv/bin/python scripts/detector_benchmark.py sorting --out runs/detector
    .venv/bin/python scripts/detector_benchmark.py speed --out runs/detector
    .venv/bin/python scripts/detector_benchmark.py tables --out runs/detector

Every part writes ``OUT/<part>.json`` and prints markdown tables. Detection is scored with a
0.5 ms match window on every MEArec test recording and both Quiroga excerpts, for ``threshold``
at 4 and 5 x MAD and ``cnn`` at its default probability (everything else default).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from neurosort.config import SortConfig, replace
from neurosort.detection import detect_recording
from neurosort.evaluate import detection_scores, evaluate, match_spike_times, unit_snrs
from neurosort.io import load_ground_truth, load_recording
from neurosort.pipeline import sort_recording

REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("NEUROSORT_DATA", REPO.parent / "shared" / "data"))
QUIROGA = {
    "C_Easy1_noise01_short": (DATA / "quiroga2004_easy1_short" / "C_Easy1_noise01_short.mat", None),
    "C_Easy1_noise015_5sec": (
        DATA / "quiroga2004_cbp_excerpt" / "C_Easy1_noise015_5sec.mat",
        24000.0,
    ),
}
SNR_BINS = ((0.0, 4.0, "<4"), (4.0, 6.0, "4-6"), (6.0, 10.0, "6-10"), (10.0, np.inf, ">10"))
MATCH_WINDOW_MS = 0.5


def detector_configs() -> dict[str, SortConfig]:
    default = SortConfig()
    return {
        "threshold_4": replace(default, detect=replace(default.detect, threshold_mad=4.0)),
        "threshold_5": replace(default, detect=replace(default.detect, threshold_mad=5.0)),
        "cnn": replace(default, detect=replace(default.detect, method="cnn")),
    }


def recordings() -> list[tuple[str, Path, float | None]]:
    mearec = sorted((DATA / "mearec" / "test").glob("*.npz"))
    return [(path.stem, path, None) for path in mearec] + [
        (name, path, fs) for name, (path, fs) in QUIROGA.items()
    ]


def load(path: Path, fs: float | None):
    recording = load_recording(path, sampling_frequency_hz=fs)
    truth = load_ground_truth(path, sampling_frequency_hz=fs or recording.sampling_frequency_hz)
    snr = truth.unit_snr if truth.unit_snr is not None else unit_snrs(recording, truth)
    return recording, truth, np.asarray(snr, dtype=float)


def snr_bin(snr: float) -> str:
    return next(label for low, high, label in SNR_BINS if low <= snr < high)


def detection_row(name, recording, truth, snr, method, config) -> dict:
    window = int(round(MATCH_WINDOW_MS * recording.sampling_frequency_hz / 1000.0))
    start = time.perf_counter()
    peaks = detect_recording(recording, config)
    seconds = time.perf_counter() - start
    scores = detection_scores(peaks["sample_index"], truth.sample_index, window)
    matched, _ = match_spike_times(truth.sample_index, peaks["sample_index"], window)
    found = np.zeros(len(truth.sample_index), bool)
    found[matched] = True
    spike_snr = snr[np.searchsorted(truth.unit_ids, truth.unit_index)]
    per_bin = {
        label: {"n_gt": int(n.sum()), "n_found": int(found[n].sum())}
        for low, high, label in SNR_BINS
        if (n := (spike_snr >= low) & (spike_snr < high)).any()
    }
    return {
        "recording": name,
        "method": method,
        "median_snr": float(np.median(snr)),
        "seconds": seconds,
        **{key: scores[key] for key in ("precision", "recall", "f1", "n_detected", "n_gt")},
        "n_matched": scores["n_matched"],
        "per_snr_bin": per_bin,
    }


def _existing(path: Path) -> list[dict]:
    return json.loads(path.read_text()) if path.exists() else []


def _save(path: Path, rows: list[dict], row: dict) -> None:
    rows.append(row)
    path.write_text(json.dumps(rows, indent=1))


def run_detection(out: Path, methods: list[str]) -> list[dict]:
    """Detection scores; rows already in OUT/detection.json are kept (resumable)."""
    path = out / "detection.json"
    rows = _existing(path)
    done = {(row["recording"], row["method"]) for row in rows}
    for name, recording_path, fs in recordings():
        recording, truth, snr = load(recording_path, fs)
        for method, config in detector_configs().items():
            if method not in methods or (name, method) in done:
                continue
            _save(path, rows, detection_row(name, recording, truth, snr, method, config))
            print(name, method, {k: round(rows[-1][k], 3) for k in ("precision", "recall", "f1")})
    return rows


def run_sorting(
    out: Path, methods: list[str], cnn_probability: float | None = None, seeds: tuple = (0,)
) -> list[dict]:
    """Mean unit accuracy of sorting with each detector and seed, all else default (resumable)."""
    path = out / "sorting.json"
    rows = _existing(path)
    done = {(row["recording"], row["method"], row.get("seed", 0)) for row in rows}
    for recording_path in sorted((DATA / "mearec" / "test").glob("*.npz")):
        recording, truth, _ = load(recording_path, None)
        for seed, method in itertools.product(seeds, ("threshold", "cnn")):
            if method not in methods or (recording_path.stem, method, seed) in done:
                continue
            default = SortConfig()
            detect = replace(default.detect, method=method)
            if cnn_probability is not None:
                detect = replace(detect, cnn_probability=cnn_probability)
            config = replace(default, detect=detect, seed=seed)
            start = time.perf_counter()
            result = sort_recording(recording, config)
            summary = evaluate(result, truth).summary
            row = {
                "recording": recording_path.stem,
                "method": method,
                "seed": seed,
                "seconds": time.perf_counter() - start,
                **_rounded(summary, "mean_accuracy", "n_sorted_units"),
            }
            _save(path, rows, row)
            print(row)
    return rows


def _rounded(summary: dict, *keys: str) -> dict:
    return {key: float(summary[key]) for key in keys}


def run_speed(out: Path, repeats: int = 3) -> dict:
    """Samples per second of the detector alone on one core (filtered 24 kHz single channel)."""
    import torch

    from neurosort.detect import channel_neighbours
    from neurosort.preprocess import Preprocessor
    from neurosort.registry import get

    torch.set_num_threads(1)
    recording = load_recording(DATA / "mearec" / "test" / "mono_test_dev_09_u08_n2.npz")
    preprocessor = Preprocessor(SortConfig().preprocess).fit(recording)
    traces = preprocessor.apply(recording.get_traces())
    fs = recording.sampling_frequency_hz
    common = {
        "polarity": "both",
        "dead_time_samples": int(round(0.6e-3 * fs)),
        "neighbours": channel_neighbours(recording.channel_locations_um, 60.0),
    }
    methods = {
        "threshold_4": (get("detect", "threshold"), {"threshold": 4.0}),
        "threshold_5": (get("detect", "threshold"), {"threshold": 5.0}),
        "cnn": (
            get("detect", "cnn"),
            {
                "threshold": 4.5,
                "probability": SortConfig().detect.cnn_probability,
                "sampling_frequency_hz": fs,
            },
        ),
    }
    results = {}
    with threadpool_limits(1):
        for name, (detector, options) in methods.items():
            detector(traces[: int(fs)], preprocessor.noise_levels_, **common, **options)
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                detector(traces, preprocessor.noise_levels_, **common, **options)
                times.append(time.perf_counter() - start)
            best = min(times)
            results[name] = {
                "seconds": best,
                "samples_per_s": len(traces) / best,
                "realtime_factor": len(traces) / fs / best,
            }
            print(name, results[name])
    (out / "speed.json").write_text(json.dumps(results, indent=1))
    return results


THRESHOLD_GRID = tuple(np.round(np.arange(3.0, 8.01, 0.25), 2))


def run_sweep(out: Path) -> dict:
    """Pooled P/R of both detectors over their decision knobs, by recording median SNR.

    The whole filtered recording is scored once: candidates at 3 x MAD carry their threshold
    score (|peak| / noise) and CNN probability, so a threshold-T detection is exactly the
    candidates scoring above T (detection without the pipeline's chunking).
    """
    from neurosort.detect import channel_neighbours, peak_score
    from neurosort.detect_cnn import PROBABILITY_GRID, default_classifier, score_candidates
    from neurosort.preprocess import Preprocessor

    counts: dict = {}
    for name, path, fs in recordings():
        recording, truth, snr = load(path, fs)
        fs = recording.sampling_frequency_hz
        preprocessor = Preprocessor(SortConfig().preprocess).fit(recording)
        traces = preprocessor.apply(recording.get_traces())
        candidates, probabilities = score_candidates(
            traces,
            preprocessor.noise_levels_,
            polarity="both",
            dead_time_samples=int(round(0.6e-3 * fs)),
            neighbours=channel_neighbours(recording.channel_locations_um, 60.0),
            sampling_frequency_hz=fs,
            classifier=default_classifier(),
        )
        score = peak_score(traces, preprocessor.noise_levels_, "both")
        level = score[candidates["sample_index"], candidates["channel_index"]]
        window = int(round(MATCH_WINDOW_MS * fs / 1000.0))
        group = "quiroga" if name.startswith("C_") else "low" if np.median(snr) < 6 else "high"
        for knob, values, grid in (
            ("threshold", level, THRESHOLD_GRID),
            ("cnn", probabilities, PROBABILITY_GRID),
        ):
            for value in grid:
                kept = candidates["sample_index"][values >= value]
                scores = detection_scores(kept, truth.sample_index, window)
                key = (group, knob, float(value))
                total = counts.setdefault(key, [0, 0, 0])
                total[0] += scores["n_matched"]
                total[1] += scores["n_detected"]
                total[2] += scores["n_gt"]
        print(name, group, len(candidates))
    rows = [
        {"group": g, "method": k, "value": v, "precision": m / max(d, 1), "recall": m / max(t, 1)}
        for (g, k, v), (m, d, t) in counts.items()
    ]
    (out / "sweep.json").write_text(json.dumps(rows, indent=1))
    return {"rows": rows}


def sweep_tables(out: Path, probability: float) -> str:
    rows = json.loads((out / "sweep.json").read_text())
    parts = []
    for group in ("low", "high", "quiroga"):
        mine = [row for row in rows if row["group"] == group]
        table = [
            [
                row["method"],
                row["value"],
                row["precision"],
                row["recall"],
                _f1(row["precision"], row["recall"]),
            ]
            for row in mine
        ]
        cnn = next(r for r in mine if r["method"] == "cnn" and r["value"] == probability)
        best = max(
            (r for r in mine if r["method"] == "threshold" and r["precision"] >= cnn["precision"]),
            key=lambda r: r["recall"],
            default=None,
        )
        summary = (
            f"cnn at p={probability}: P={cnn['precision']:.3f} R={cnn['recall']:.3f}; best "
            + (
                f"threshold with P >= that: {best['value']} x MAD, R={best['recall']:.3f} "
                f"(cnn - threshold = {100 * (cnn['recall'] - best['recall']):+.1f} points)"
                if best
                else "threshold: none reaches that precision"
            )
        )
        parts += [f"#### {group}", summary, markdown(table, ["method", "knob", "P", "R", "F1"])]
    return "\n\n".join(parts)


def _f1(precision: float, recall: float) -> float:
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def markdown(rows: list[list], header: list[str]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_cell(value) for value in row) + " |" for row in rows]
    return "\n".join(lines)


def _cell(value) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def detection_tables(out: Path) -> str:
    rows = json.loads((out / "detection.json").read_text())
    methods = list(detector_configs())
    by_recording: dict[str, dict] = {}
    for row in rows:
        by_recording.setdefault(row["recording"], {})[row["method"]] = row
    table = []
    for name, results in by_recording.items():
        cells = [name, results[methods[0]]["median_snr"]]
        for method in methods:
            cells += [results[method][key] for key in ("precision", "recall", "f1")]
        table.append(cells)
    header = ["recording", "median SNR"] + [
        f"{method} {key}" for method in methods for key in ("P", "R", "F1")
    ]
    parts = ["### Per recording", markdown(table, header)]
    parts += ["### Recall per unit-SNR bin (all spikes of units in the bin, pooled)"]
    parts.append(_bin_table(rows, methods))
    parts += ["### Pooled by recording median SNR (MEArec test set)"]
    parts.append(_group_table(rows, methods))
    return "\n\n".join(parts)


def _bin_table(rows: list[dict], methods: list[str]) -> str:
    table = []
    for _, _, label in SNR_BINS:
        cells: list = [label]
        for method in methods:
            mine = [
                row["per_snr_bin"][label]
                for row in rows
                if row["method"] == method and label in row["per_snr_bin"]
            ]
            n_gt = sum(item["n_gt"] for item in mine)
            cells.append(sum(item["n_found"] for item in mine) / n_gt if n_gt else "")
        table.append([*cells[:1], n_gt, *cells[1:]])
    return markdown(table, ["unit SNR", "GT spikes", *[f"{m} recall" for m in methods]])


def _group_table(rows: list[dict], methods: list[str]) -> str:
    groups = (("median SNR < 6", lambda snr: snr < 6), ("median SNR >= 6", lambda snr: snr >= 6))
    table = []
    for label, test in groups:
        for method in methods:
            mine = [
                row
                for row in rows
                if row["method"] == method
                and test(row["median_snr"])
                and not row["recording"].startswith("C_")
            ]
            matched = sum(row["n_matched"] for row in mine)
            detected = sum(row["n_detected"] for row in mine)
            truth = sum(row["n_gt"] for row in mine)
            precision, recall = matched / max(detected, 1), matched / max(truth, 1)
            f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
            mean_f1 = float(np.mean([row["f1"] for row in mine]))
            table.append(
                [
                    label,
                    len(mine),
                    method,
                    precision,
                    recall,
                    f1,
                    mean_f1,
                    min(row["f1"] for row in mine),
                ]
            )
    header = ["recordings", "n", "method", "pooled P", "pooled R", "pooled F1", "mean F1", "min F1"]
    return markdown(table, header)


def sorting_table(out: Path) -> str:
    """Per recording: each detector's accuracy (mean over seeds); then the mean per seed."""
    rows = json.loads((out / "sorting.json").read_text())
    accuracy: dict[tuple[str, int], dict[str, float]] = {}
    for row in rows:
        key = (row["recording"], row.get("seed", 0))
        accuracy.setdefault(key, {})[row["method"]] = row["mean_accuracy"]
    paired = {key: acc for key, acc in accuracy.items() if len(acc) == 2}
    seeds = sorted({seed for _, seed in paired})
    recordings = sorted({name for name, _ in paired})

    def means(keys: list) -> list[float]:
        values = np.array([[paired[key]["threshold"], paired[key]["cnn"]] for key in keys])
        threshold, cnn = values.mean(axis=0)
        return [float(threshold), float(cnn), float(cnn - threshold)]

    table = [
        [name, *means([(name, seed) for seed in seeds if (name, seed) in paired])]
        for name in recordings
    ]
    table.append(["**mean**", *means(list(paired))])
    if len(seeds) > 1:
        for seed in seeds:
            table.append([f"mean, seed {seed}", *means([k for k in paired if k[1] == seed])])
    return markdown(table, ["recording", "threshold", "cnn", "cnn - threshold"])


def tables(out: Path) -> str:
    """Markdown for every part whose results are in OUT."""
    parts = []
    if (out / "detection.json").exists():
        parts.append(detection_tables(out))
    if (out / "sweep.json").exists():
        parts.append(sweep_tables(out, SortConfig().detect.cnn_probability))
    if (out / "sorting.json").exists():
        parts.append(sorting_table(out))
    return "\n\n".join(parts)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=["detection", "sweep", "sorting", "speed", "tables"])
    parser.add_argument("--out", default="runs/detector")
    parser.add_argument(
        "--methods",
        default="threshold_4,threshold_5,cnn,threshold",
        help="detection: threshold_4,threshold_5,cnn; sorting: threshold,cnn",
    )
    parser.add_argument("--cnn-probability", type=float, help="sorting: override the default")
    parser.add_argument("--seeds", default="0", help="sorting: comma-separated seeds")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    if args.part == "tables":
        print(tables(out))
        return
    if args.part == "detection":
        run_detection(out, args.methods.split(","))
        return
    if args.part == "sorting":
        seeds = tuple(int(seed) for seed in args.seeds.split(","))
        run_sorting(out, args.methods.split(","), args.cnn_probability, seeds)
        return
    {"sweep": run_sweep, "speed": run_speed}[args.part](out)


if __name__ == "__main__":
    main()
