"""Benchmark of feature methods x clusterers on the same detections (issue 4).

    .venv/bin/python scripts/embedding_benchmark.py --out runs/embedding_bench [--jobs 1]
    .venv/bin/python scripts/embedding_benchmark.py --out runs/embedding_bench --resume
    .venv/bin/python scripts/embedding_benchmark.py --out runs/embedding_bench --summary

A feature method NAME@TRAINING (e.g. ``s4@pretrained``) sets ``features.training`` for it.
Each recording (MEArec test, both Quiroga excerpts) is detected and cut ONCE with the default
config (``--detector cnn`` for the learned detector); every feature method is then fitted on at
most ``cluster.max_spikes_to_fit`` seeded spikes and transforms all, and every clusterer runs
subsample -> assign -> merge -> relabel -> overlap-aware reassignment -> discriminant
refinement -> split by refractory evidence -> drift merge as the pipeline does (``--set
cluster.reassign_min_gain_sigma2=0 --set cluster.refine_rounds=0 --set
cluster.split_max_violation_ratio=0 --set cluster.drift_merge_max_difference_sigma=0``:
clustering alone, as rows measured before any existed). The echo removal, which works on the
finished sorting's spikes, is not run: echo spikes match no ground-truth spike.
``gmm_truek`` is the GMM with k = number of ground-truth units and no merge (merging would
change k). Martinez snippet sets have no traces: their given snippets are clustered (no
merge or reassignment, which need spike times and noise levels) and scored by ARI/NMI/cluster
accuracy only. One row per recording x feature x clusterer
goes to OUT/rows.csv as soon as it is scored (per-unit SNR and accuracy to OUT/units.csv).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import fnmatch
import multiprocessing
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import NamedTuple

import numpy as np
from threadpoolctl import threadpool_limits

from neurosort import cluster as clustering
from neurosort import registry
from neurosort.config import SortConfig, replace, with_overrides
from neurosort.evaluate import evaluate, label_scores, unit_snrs
from neurosort.features import encoder_options, make_features
from neurosort.io import load_ground_truth, load_martinez_snippets, load_recording
from neurosort.log import StageTimer, configure, get_logger
from neurosort.pipeline import cluster_features, detect_and_extract, merge_units, reassign
from neurosort.types import PEAK_DTYPE, SPIKE_DTYPE, GroundTruth
from neurosort.waveforms import normalise_amplitude

logger = get_logger("embedding_benchmark")
REPO = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("NEUROSORT_DATA", REPO.parent / "shared" / "data"))
FEATURES = ["pca", "wavelet", "ae_ensemble", "ae_semisup", "ae_atom", "contrastive_cnn", "s4"]
CLUSTERERS = ["hdbscan", "gmm_bic", "isosplit", "gmm_truek"]
QUIROGA = [
    ("quiroga2004_easy1_short/C_Easy1_noise01_short.mat", None),
    ("quiroga2004_cbp_excerpt/C_Easy1_noise015_5sec.mat", 24000.0),  # the file's dt is wrong
]
# fmt: off
COLUMNS = [
    "dataset", "recording", "detector", "features", "clusterer", "n_channels", "n_gt_units",
    "median_snr", "n_spikes", "n_sorted_units", "ari", "nmi", "cluster_accuracy", "sf_accuracy",
    "n_units_acc_ge_0_8", "fit_s", "transform_s", "cluster_s",
]
# fmt: on
UNIT_COLUMNS = ["recording", "detector", "features", "clusterer", "gt_unit", "snr", "accuracy"]
GROUPS = [
    ("MEArec test, median unit SNR < 6", lambda r: r["dataset"] == "mearec" and r["snr"] < 6),
    ("MEArec test, median unit SNR >= 6", lambda r: r["dataset"] == "mearec" and r["snr"] >= 6),
    ("Quiroga excerpts", lambda r: r["dataset"] == "quiroga"),
    ("Martinez snippets (given snippets, no detection)", lambda r: r["dataset"] == "martinez"),
]
TIME_HEAD = "| features | n sets | mean spikes | fit s | transform s |\n" + "|---" * 5 + "|"
_lock = None


def tasks(patterns: list[str]) -> list[tuple[str, str, str, float | None]]:
    """(dataset, name, path-or-simulation, sampling rate) of every benchmarked set."""
    found = [("mearec", p.stem, str(p), None) for p in sorted((DATA / "mearec/test").glob("*.npz"))]
    found += [("quiroga", Path(path).stem, str(DATA / path), fs) for path, fs in QUIROGA]
    found += [("martinez", f"martinez_sim{n}", str(n), 24000.0) for n in (2, 3, 4)]
    return [t for t in found if any(fnmatch.fnmatch(t[1], pattern) for pattern in patterns)]


def _init_worker(lock, verbose: bool) -> None:
    global _lock
    _lock = lock
    configure(verbose=verbose, progress=False)


def append(path: Path, columns: list[str], rows: list[dict]) -> None:
    with _lock:
        new = not path.exists() or path.stat().st_size == 0
        with path.open("a", newline="") as handle:
            writer = csv.DictWriter(handle, columns, lineterminator="\n")
            if new:
                writer.writeheader()
            writer.writerows(rows)


def done_keys(out: Path) -> set[tuple[str, ...]]:
    if not (out / "rows.csv").exists():
        return set()
    with (out / "rows.csv").open() as handle:
        return {tuple(r[key] for key in UNIT_COLUMNS[:4]) for r in csv.DictReader(handle)}


class Detections(NamedTuple):
    """One set's snippets; Martinez sets have no peaks/noise/samples and truth is the labels."""

    snippets: np.ndarray
    peaks: np.ndarray | None
    noise: np.ndarray | None
    n_samples: int
    fs: float
    truth: GroundTruth | np.ndarray
    snr: np.ndarray


def load_set(task, config: SortConfig) -> Detections:
    dataset, name, source, fs = task
    if dataset == "martinez":
        snippets, labels = load_martinez_snippets(DATA / "martinez2009_ssoer_snippets", int(source))
        return Detections(snippets, None, None, 0, fs, labels, np.array([np.nan]))
    recording = load_recording(source, sampling_frequency_hz=fs)
    truth = load_ground_truth(source, sampling_frequency_hz=recording.sampling_frequency_hz)
    snr = truth.unit_snr if truth.unit_snr is not None else unit_snrs(recording, truth)
    truth = dataclasses.replace(truth, unit_snr=np.asarray(snr, dtype=np.float64))
    peaks, snippets, noise, neighbourhoods = detect_and_extract(recording, config, StageTimer())
    if neighbourhoods.shape[1] != recording.n_channels:
        logger.warning("%s: clustered as one group, the pipeline would go by channel", name)
    fs = recording.sampling_frequency_hz
    return Detections(snippets, peaks, noise, recording.n_samples, fs, truth, truth.unit_snr)


def embed(method: str, shapes: np.ndarray, fs: float, config: SortConfig):
    """Fit on a seeded subsample, transform all: (features, fit seconds, transform seconds)."""
    rng = np.random.default_rng(config.seed)
    fit_index = np.arange(len(shapes))
    if len(shapes) > config.cluster.max_spikes_to_fit:
        fit_index = np.sort(rng.choice(len(shapes), config.cluster.max_spikes_to_fit, False))
    cfg = config.features
    name, _, training = method.partition("@")
    options = encoder_options(replace(cfg, training=training) if training else cfg)
    extractor = make_features(
        name,
        cfg.n_components,
        cfg.wavelet_levels,
        config.seed,
        shapes.shape[2],
        sampling_frequency_hz=fs,
        **options,
    )
    start = time.perf_counter()
    extractor.fit(shapes[fit_index])
    fitted = time.perf_counter()
    features = np.asarray(extractor.transform(shapes), dtype=np.float32)
    return features, fitted - start, time.perf_counter() - fitted


def cluster(name: str, features: np.ndarray, sets: Detections, n_true: int, config: SortConfig):
    """Cluster, assign, merge (not for true k), relabel, reassign and refine (not without spike
    times)."""
    if name == "gmm_truek":
        settings = replace(config.cluster, method="gmm_bic", n_units=n_true)
    else:
        settings = replace(config.cluster, method=name)
    config = replace(config, cluster=settings)
    labels = cluster_features(features, config)
    if sets.peaks is None:
        return clustering.relabel_consecutive(labels, settings.min_cluster_size)
    if name != "gmm_truek":
        labels = merge_units(
            labels, sets.snippets, sets.noise, sets.peaks, sets.n_samples, sets.fs, config
        )
    return reassign(
        labels, sets.snippets, sets.noise, sets.peaks, sets.n_samples, sets.fs, config,
        StageTimer(),
    )


def score(labels, peaks, truth) -> tuple[dict, list[dict]]:
    """Summary scores and per-unit (SNR, SpikeForest accuracy) rows."""
    if peaks is None:  # Martinez: the labels of the given snippets are the ground truth
        return {**label_scores(truth, labels), "sf_accuracy": "", "n_units_acc_ge_0_8": ""}, []
    spikes = np.zeros(len(peaks), dtype=SPIKE_DTYPE)
    for field in PEAK_DTYPE.names:
        spikes[field] = peaks[field]
    spikes["unit_index"] = labels
    result = evaluate(spikes, truth)
    summary = {key: result.summary[key] for key in ("ari", "nmi", "cluster_accuracy")}
    summary["sf_accuracy"] = result.summary["mean_accuracy"]
    summary["n_units_acc_ge_0_8"] = result.summary["n_units_accuracy_ge_0_8"]
    return summary, [{key: u[key] for key in UNIT_COLUMNS[4:]} for u in result.units]


def run_set(task, args) -> float:
    """Benchmark one recording or snippet set; rows are appended as they are scored."""
    start = time.perf_counter()
    dataset, name = task[:2]
    config = with_overrides(SortConfig(), [f"detect.method={args.detector}", *args.set])
    todo = [
        (f, c)
        for f in args.features
        for c in args.clusterers
        if (name, args.detector, f, c) not in args.done
    ]
    if not todo:
        return 0.0
    sets = load_set(task, config)
    truth, snr, snippets = sets.truth, sets.snr, sets.snippets
    n_true = len(np.unique(truth if sets.peaks is None else truth.unit_index))
    shapes = normalise_amplitude(snippets) if config.waveforms.normalize_amplitude else snippets
    median_snr = float(np.median(snr)) if np.isfinite(snr).any() else ""
    base = dict(dataset=dataset, recording=name, detector=args.detector, median_snr=median_snr)
    base.update(n_channels=snippets.shape[2], n_gt_units=n_true, n_spikes=len(snippets))
    for method in dict.fromkeys(f for f, _ in todo):
        try:
            features, fit_s, transform_s = embed(method, shapes, sets.fs, config)
        except Exception:
            logger.exception("%s: feature method %s failed", name, method)
            continue
        for clusterer in (c for f, c in todo if f == method):
            with threadpool_limits(1):
                tic = time.perf_counter()
                labels = cluster(clusterer, features, sets, n_true, config)
                cluster_s = time.perf_counter() - tic
            scores, units = score(labels, sets.peaks, truth)
            row = dict(base, features=method, clusterer=clusterer, **scores)
            row.update(n_sorted_units=int(labels.max()) + 1, fit_s=fit_s, cluster_s=cluster_s)
            row["transform_s"] = transform_s
            key = {column: row[column] for column in UNIT_COLUMNS[:4]}
            append(args.out / "units.csv", UNIT_COLUMNS, [{**key, **u} for u in units])
            append(args.out / "rows.csv", COLUMNS, [row])
            logger.info("%s %s+%s: ARI %.3f", name, method, clusterer, row["ari"])
    seconds = time.perf_counter() - start
    logger.info("%s done in %.1f s", name, seconds)
    return seconds


def summary(out: Path) -> str:
    """Markdown: per group of sets, features x clusterers with mean ARI / NMI / cluster
    accuracy / SpikeForest accuracy in each cell; then feature fit and transform times."""
    with (out / "rows.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    for row in rows:
        row["snr"] = float(row["median_snr"]) if row["median_snr"] else np.nan
    clusterers = list(dict.fromkeys(r["clusterer"] for r in rows))
    head = "| features | " + " | ".join(clusterers) + " |\n" + "|---" * (len(clusterers) + 1)
    lines = ["Cells: mean ARI / NMI / cluster accuracy / SpikeForest accuracy over the sets."]
    for title, keep in GROUPS:
        chosen = [r for r in rows if keep(r)]
        if not chosen:
            continue
        n_sets = len({r["recording"] for r in chosen})
        lines += ["", f"### {title} ({n_sets} sets)", "", head + "|"]
        for method in dict.fromkeys(r["features"] for r in chosen):
            cells = []
            for clusterer in clusterers:
                cell = [r for r in chosen if (r["features"], r["clusterer"]) == (method, clusterer)]
                metrics = ("ari", "nmi", "cluster_accuracy", "sf_accuracy")
                cells.append(" / ".join(_mean(cell, m, ".2f") for m in metrics))
            lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines += ["", "### Feature time per set (mean s over every set)", "", TIME_HEAD]
    for method in dict.fromkeys(r["features"] for r in rows):
        cell = list({r["recording"]: r for r in rows if r["features"] == method}.values())
        lines.append(
            f"| {method} | {len(cell)} | {_mean(cell, 'n_spikes', '.0f')} | "
            f"{_mean(cell, 'fit_s', '.2f')} | {_mean(cell, 'transform_s', '.3f')} |"
        )
    return "\n".join(lines)


def _mean(rows: list[dict], key: str, fmt: str = ".3f") -> str:
    values = [float(r[key]) for r in rows if r[key] != ""]
    return format(float(np.mean(values)), fmt) if values else "-"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--features", nargs="+", default=FEATURES)
    parser.add_argument("--clusterers", nargs="+", default=CLUSTERERS, choices=CLUSTERERS)
    parser.add_argument("--recordings", nargs="+", default=["*"], help="glob(s) on set names")
    parser.add_argument("--detector", default="threshold", choices=["threshold", "cnn"])
    parser.add_argument("--out", type=Path, default=Path("runs/embedding_bench"))
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument(
        "--set", action="append", default=[], help="config override section.key=value"
    )
    parser.add_argument("--resume", action="store_true", help="skip rows already in rows.csv")
    parser.add_argument("--summary", action="store_true", help="print tables from rows.csv")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    configure(verbose=args.verbose, progress=False)
    if args.summary:
        print(summary(args.out))
        return
    if (args.out / "rows.csv").exists() and not args.resume:
        parser.error(f"{args.out}/rows.csv exists: pass --resume or another --out")
    args.out.mkdir(parents=True, exist_ok=True)
    known = registry.available("features")
    missing = [m for m in args.features if m.partition("@")[0] not in known]
    for method in missing:
        logger.warning("feature method %r is not registered (have %s): skipped", method, known)
    args.features = [m for m in args.features if m not in missing]
    args.done = done_keys(args.out)
    lock = multiprocessing.get_context("spawn").Lock()
    chosen = tasks(args.recordings)
    logger.info(
        "%d sets x features %s x clusterers %s", len(chosen), args.features, args.clusterers
    )
    start = time.perf_counter()
    if args.jobs == 1:
        _init_worker(lock, args.verbose)
        times = [run_set(task, args) for task in chosen]
    else:
        with ProcessPoolExecutor(
            args.jobs, multiprocessing.get_context("spawn"), _init_worker, (lock, args.verbose)
        ) as pool:
            times = list(pool.map(run_set, chosen, [args] * len(chosen)))
    logger.info(
        "%d sets in %.1f s (per set: %s)",
        len(chosen),
        time.perf_counter() - start,
        ", ".join(f"{t[1]} {s:.1f}" for t, s in zip(chosen, times, strict=True)),
    )


if __name__ == "__main__":
    main()
