"""Ground-truth comparison: SpikeForest metric, SpikeInterface comparison, SNR, ARI/NMI, detection.

All spike times are peak samples. Two spikes match when their times differ by at most the
matching window; matching is one-to-one and greedy by time difference (ties broken by the
earlier spike), so results are deterministic.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment

from neurosort.errors import InputError
from neurosort.log import get_logger
from neurosort.types import SPIKE_DTYPE, GroundTruth, Recording, SortResult

logger = get_logger(__name__)

ACCURACY_WELL_DETECTED = 0.8
SNR_MAX_SNIPPETS_PER_UNIT = 200
SNR_NOISE_PIECES = 10
SNR_TEMPLATE_HALF_WIDTH_S = 1e-3
SNR_FILTER_MARGIN_S = 20e-3
MISSED_LABEL = -2
TRUTH_END_TOLERANCE_S = 1e-3
GREEDY_VECTOR_ROUNDS = 20

UNIT_COLUMNS = (
    "gt_unit",
    "n_gt",
    "best_sorted_unit",
    "n_sorted",
    "n_match",
    "accuracy",
    "precision",
    "recall",
    "snr",
    "si_sorted_unit",
    "si_accuracy",
    "si_precision",
    "si_recall",
)


@dataclass(frozen=True)
class EvalResult:
    """Per ground-truth unit scores (``units``, keys in UNIT_COLUMNS) and a ``summary``."""

    units: list[dict[str, Any]]
    summary: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return {"summary": jsonable(self.summary), "units": jsonable(self.units)}

    def to_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, allow_nan=False) + "\n")

    def to_csv(self, path: str | Path) -> None:
        with Path(path).open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=UNIT_COLUMNS, lineterminator="\n")
            writer.writeheader()
            for unit in self.units:
                writer.writerow({key: _csv_cell(unit[key]) for key in UNIT_COLUMNS})

    def format_table(self) -> str:
        header = (
            f"{'gt':>6} {'n_gt':>7} {'best':>6} {'n_sort':>7} {'n_match':>7} {'acc':>6} "
            f"{'prec':>6} {'rec':>6} {'snr':>6} {'si_unit':>7} {'si_acc':>6}"
        )
        rows = [header, "-" * len(header)]
        for unit in self.units:
            rows.append(
                f"{unit['gt_unit']:>6} {unit['n_gt']:>7} {unit['best_sorted_unit']:>6} "
                f"{unit['n_sorted']:>7} {unit['n_match']:>7} {unit['accuracy']:>6.3f} "
                f"{unit['precision']:>6.3f} {unit['recall']:>6.3f} {unit['snr']:>6.2f} "
                f"{unit['si_sorted_unit']:>7} {unit['si_accuracy']:>6.3f}"
            )
        rows.append("")
        rows.extend(f"{key}: {_format_value(value)}" for key, value in self.summary.items())
        return "\n".join(rows)


def evaluate(
    result: SortResult | np.ndarray,
    ground_truth: GroundTruth,
    *,
    recording: Recording | None = None,
    match_window_samples: int = 30,
    snr_threshold: float | None = None,
) -> EvalResult:
    """Compare a sorting (SortResult or SPIKE_DTYPE array) with ground-truth peak times.

    Spikes with ``unit_index`` -1 count as detections but belong to no unit. SNR is measured
    on ``recording`` when given, else taken from ``ground_truth.unit_snr`` (one value per
    unit in ``ground_truth.unit_ids`` order), else NaN.
    """
    spikes = _spikes_of(result)
    if isinstance(result, SortResult) and recording is not None:
        check_sorted_recording(result, recording)
    if recording is not None:
        check_ground_truth(ground_truth, recording.sampling_frequency_hz, recording.n_samples)
    elif isinstance(result, SortResult):
        check_ground_truth(ground_truth, result.sampling_frequency_hz, result.n_samples)
    if match_window_samples < 0:
        raise ValueError(f"match_window_samples must be >= 0, got {match_window_samples}")
    gt_times = np.asarray(ground_truth.sample_index, dtype=np.int64)
    gt_labels = np.asarray(ground_truth.unit_index, dtype=np.int64)
    gt_units = np.unique(gt_labels)

    units = _spikeforest_scores(spikes, gt_times, gt_labels, match_window_samples)
    si_scores = _spikeinterface_scores(
        spikes, gt_times, gt_labels, ground_truth.sampling_frequency_hz, match_window_samples
    )
    snr = _unit_snrs(ground_truth, recording)
    for unit, unit_snr in zip(units, snr, strict=True):
        unit["snr"] = float(unit_snr)
        unit.update(si_scores[unit["gt_unit"]])
    units = [{key: unit[key] for key in UNIT_COLUMNS} for unit in units]

    gt_index, det_index = match_spike_times(gt_times, spikes["sample_index"], match_window_samples)
    predicted = np.full(len(gt_times), MISSED_LABEL, dtype=np.int64)
    predicted[gt_index] = spikes["unit_index"][det_index]
    summary = {
        **_unit_summary(units, snr_threshold),
        "n_gt_units": len(gt_units),
        "n_sorted_units": len(_sorted_unit_ids(spikes)),
        **label_scores(gt_labels, predicted),
        **_detection_counts(len(det_index), len(spikes), len(gt_times)),
        "match_window_samples": int(match_window_samples),
    }
    logger.debug("evaluation summary: %s", summary)
    return EvalResult(units=units, summary=summary)


def match_spike_times(a: np.ndarray, b: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one matching of two spike-time arrays, greedy by |time difference| <= window.

    Returns indices into ``a`` and ``b`` of the matched pairs, sorted by the index into ``a``.
    """
    a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
    ia, ib = _candidate_pairs(a, b, window)
    cost = np.abs(a[ia] - b[ib])
    keep = _greedy_one_to_one(ia, ib, cost)
    order = np.argsort(ia[keep], kind="stable")
    return ia[keep][order], ib[keep][order]


def detection_scores(
    detected_sample_index: np.ndarray, gt_sample_index: np.ndarray, window_samples: int
) -> dict[str, float]:
    """Precision, recall and F1 of detected peak times against ground-truth peak times."""
    matched, _ = match_spike_times(detected_sample_index, gt_sample_index, window_samples)
    counts = _detection_counts(len(matched), len(detected_sample_index), len(gt_sample_index))
    precision, recall = counts["detection_precision"], counts["detection_recall"]
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "n_detected": len(detected_sample_index),
        "n_gt": len(gt_sample_index),
        "n_matched": len(matched),
    }


def check_sorted_recording(
    result: SortResult, recording: Recording, label: str = "recording"
) -> None:
    """Raise InputError when ``recording`` cannot be the one ``result`` was sorted from."""
    if not math.isclose(result.sampling_frequency_hz, recording.sampling_frequency_hz,
                        rel_tol=1e-6):
        raise InputError(
            f"{label}: sampled at {recording.sampling_frequency_hz:g} Hz but the sorting at "
            f"{result.sampling_frequency_hz:g} Hz: not the recording that was sorted"
        )
    if result.n_samples is not None and result.n_samples != recording.n_samples:
        raise InputError(
            f"{label}: {recording.n_samples} samples but the sorted recording had "
            f"{result.n_samples}: not the recording that was sorted"
        )


def check_ground_truth(
    truth: GroundTruth,
    sampling_frequency_hz: float,
    n_samples: int | None = None,
    label: str = "ground truth",
) -> None:
    """Raise InputError when ``truth`` cannot belong to a recording of this rate and length:
    another sampling rate, no spikes, or spikes outside the recording (beyond a 1 ms margin)."""
    if not math.isclose(truth.sampling_frequency_hz, sampling_frequency_hz, rel_tol=1e-6):
        raise InputError(
            f"{label}: sampled at {truth.sampling_frequency_hz:g} Hz but the recording at "
            f"{sampling_frequency_hz:g} Hz (pass --sampling-frequency if a file's rate is wrong)"
        )
    times = np.asarray(truth.sample_index)
    if times.size == 0:
        raise InputError(f"{label}: no ground-truth spikes to compare with")
    if n_samples is None:
        return
    margin = int(round(TRUTH_END_TOLERANCE_S * sampling_frequency_hz))
    outside = (times < -margin) | (times >= n_samples + margin)
    if outside.any():
        raise InputError(
            f"{label}: {int(outside.sum())} of {times.size} spikes lie outside the recording's "
            f"{n_samples} samples (first at sample {int(times[outside][0])}): another "
            "recording's ground truth, or another sampling rate?"
        )


def _spikes_of(result: SortResult | np.ndarray) -> np.ndarray:
    spikes = np.asarray(result.spikes if isinstance(result, SortResult) else result)
    missing = {"sample_index", "unit_index"} - set(spikes.dtype.names or ())
    if missing:
        raise ValueError(f"spikes need fields {sorted(missing)} (expected {SPIKE_DTYPE})")
    return spikes


def _candidate_pairs(a: np.ndarray, b: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """All (index into a, index into b) with |a - b| <= window."""
    b_order = np.argsort(b, kind="stable")
    b_sorted = b[b_order]
    low = np.searchsorted(b_sorted, a - window, side="left")
    high = np.searchsorted(b_sorted, a + window, side="right")
    counts = high - low
    ia = np.repeat(np.arange(len(a)), counts)
    starts = np.repeat(low - (np.cumsum(counts) - counts), counts)
    ib = b_order[starts + np.arange(len(ia))]
    return ia, ib


def _greedy_one_to_one(node_a: np.ndarray, node_b: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Mask of pairs kept by greedy matching in order of (cost, node_a, node_b).

    Each round keeps the pairs that are the cheapest remaining pair of both their nodes and
    drops the pairs those nodes take part in; this equals the sequential greedy matching.
    Long chains of near-ties (regular spike trains) need many rounds, so after
    GREEDY_VECTOR_ROUNDS the remaining pairs are matched sequentially.
    """
    order = np.lexsort((node_b, node_a, cost))
    node_a, node_b = node_a[order], node_b[order]
    alive = np.ones(len(order), dtype=bool)
    kept = np.zeros(len(order), dtype=bool)
    for _ in range(GREEDY_VECTOR_ROUNDS):
        candidates = np.flatnonzero(alive)
        if len(candidates) == 0:
            break
        best = _first_of_each(node_a[candidates]) & _first_of_each(node_b[candidates])
        winners = candidates[best]
        kept[winners] = True
        taken = np.isin(node_a[candidates], node_a[winners]) | np.isin(
            node_b[candidates], node_b[winners]
        )
        alive[candidates[taken]] = False
    kept[_sequential_greedy(node_a, node_b, np.flatnonzero(alive))] = True
    mask = np.zeros(len(order), dtype=bool)
    mask[order[kept]] = True
    return mask


def _sequential_greedy(node_a: np.ndarray, node_b: np.ndarray, pairs: np.ndarray) -> list[int]:
    used_a: set[int] = set()
    used_b: set[int] = set()
    kept = []
    nodes = zip(pairs.tolist(), node_a[pairs].tolist(), node_b[pairs].tolist(), strict=True)
    for pair, a, b in nodes:
        if a not in used_a and b not in used_b:
            used_a.add(a)
            used_b.add(b)
            kept.append(pair)
    return kept


def _first_of_each(values: np.ndarray) -> np.ndarray:
    first = np.zeros(len(values), dtype=bool)
    first[np.unique(values, return_index=True)[1]] = True
    return first


def _sorted_unit_ids(spikes: np.ndarray) -> np.ndarray:
    units = np.unique(spikes["unit_index"])
    return units[units >= 0]


def _match_count_matrix(
    gt_times: np.ndarray,
    gt_codes: np.ndarray,
    sorted_times: np.ndarray,
    sorted_codes: np.ndarray,
    shape: tuple[int, int],
    window: int,
) -> np.ndarray:
    """One-to-one match counts for every (GT unit, sorted unit) pair, all pairs at once."""
    ia, ib = _candidate_pairs(gt_times, sorted_times, window)
    pair_gt, pair_sorted = gt_codes[ia], sorted_codes[ib]
    cost = np.abs(gt_times[ia] - sorted_times[ib])
    keep = _greedy_one_to_one(ia * shape[1] + pair_sorted, ib * shape[0] + pair_gt, cost)
    flat = pair_gt[keep] * shape[1] + pair_sorted[keep]
    return np.bincount(flat, minlength=shape[0] * shape[1]).reshape(shape)


def _spikeforest_scores(
    spikes: np.ndarray, gt_times: np.ndarray, gt_labels: np.ndarray, window: int
) -> list[dict[str, Any]]:
    gt_units, gt_codes = np.unique(gt_labels, return_inverse=True)
    assigned = spikes[spikes["unit_index"] >= 0]
    sorted_units, sorted_codes = np.unique(assigned["unit_index"], return_inverse=True)
    shape = (len(gt_units), len(sorted_units))
    n_match = _match_count_matrix(
        gt_times, gt_codes, assigned["sample_index"].astype(np.int64), sorted_codes, shape, window
    )
    n_gt = np.bincount(gt_codes, minlength=len(gt_units))
    n_sorted = np.bincount(sorted_codes, minlength=len(sorted_units))
    union = n_gt[:, None] + n_sorted[None, :] - n_match
    accuracy = np.divide(n_match, union, out=np.zeros(shape), where=union > 0)
    return [
        _best_match(gt_unit, n_gt[row], accuracy[row], n_match[row], n_sorted, sorted_units)
        for row, gt_unit in enumerate(gt_units)
    ]


def _best_match(
    gt_unit: int,
    n_gt: int,
    accuracy: np.ndarray,
    n_match: np.ndarray,
    n_sorted: np.ndarray,
    sorted_units: np.ndarray,
) -> dict[str, Any]:
    unit = {"gt_unit": int(gt_unit), "n_gt": int(n_gt)}
    if len(accuracy) == 0 or accuracy.max() <= 0:
        scores = dict(best_sorted_unit=-1, n_sorted=0, n_match=0, accuracy=0.0, precision=0.0)
        return {**unit, **scores, "recall": 0.0}
    best = int(np.argmax(accuracy))
    return {
        **unit,
        "best_sorted_unit": int(sorted_units[best]),
        "n_sorted": int(n_sorted[best]),
        "n_match": int(n_match[best]),
        "accuracy": float(accuracy[best]),
        "precision": float(n_match[best] / n_sorted[best]),
        "recall": float(n_match[best] / n_gt),
    }


def _spikeinterface_scores(
    spikes: np.ndarray,
    gt_times: np.ndarray,
    gt_labels: np.ndarray,
    sampling_frequency_hz: float,
    window: int,
) -> dict[int, dict[str, Any]]:
    """SpikeInterface's Hungarian comparison per GT unit (zeros when nothing is sorted)."""
    empty = dict(si_sorted_unit=-1, si_accuracy=0.0, si_precision=0.0, si_recall=0.0)
    scores = {int(unit): dict(empty) for unit in np.unique(gt_labels)}
    assigned = spikes[spikes["unit_index"] >= 0]
    if len(assigned) == 0 or len(gt_times) == 0:
        return scores
    from spikeinterface.comparison import compare_sorter_to_ground_truth

    comparison = compare_sorter_to_ground_truth(
        _numpy_sorting(gt_times, gt_labels, sampling_frequency_hz),
        _numpy_sorting(assigned["sample_index"], assigned["unit_index"], sampling_frequency_hz),
        # Half a sample more than the window so SpikeInterface's int() rounding keeps it.
        delta_time=(window + 0.5) / sampling_frequency_hz * 1000.0,
    )
    performance = comparison.get_performance(method="by_unit", output="pandas")
    for gt_unit, sorted_unit in comparison.hungarian_match_12.items():
        row = performance.loc[gt_unit]
        scores[int(gt_unit)] = {
            "si_sorted_unit": int(sorted_unit),
            "si_accuracy": float(row["accuracy"]),
            "si_precision": float(row["precision"]),
            "si_recall": float(row["recall"]),
        }
    return scores


def _numpy_sorting(times: np.ndarray, labels: np.ndarray, sampling_frequency_hz: float) -> Any:
    import spikeinterface.core as si

    order = np.argsort(times, kind="stable")
    return si.NumpySorting.from_samples_and_labels(
        [np.asarray(times, np.int64)[order]], [np.asarray(labels)[order]], sampling_frequency_hz
    )


def _unit_snrs(ground_truth: GroundTruth, recording: Recording | None) -> np.ndarray:
    n_units = len(ground_truth.unit_ids)
    if recording is not None:
        return unit_snrs(recording, ground_truth)
    if ground_truth.unit_snr is not None:
        snr = np.asarray(ground_truth.unit_snr, dtype=np.float64)
        if snr.shape != (n_units,):
            raise ValueError(f"ground truth has {n_units} units but {snr.size} unit_snr values")
        return snr
    return np.full(n_units, np.nan)


def unit_snrs(
    recording: Recording,
    ground_truth: GroundTruth,
    max_snippets_per_unit: int = SNR_MAX_SNIPPETS_PER_UNIT,
) -> np.ndarray:
    """Peak |template| / MAD noise on each GT unit's best channel after a 300-6000 Hz band-pass.

    Templates average at most ``max_snippets_per_unit`` evenly spaced spikes and the noise
    is measured on a few one-second pieces, so the cost does not grow with the recording.
    """
    from neurosort.preprocess import mad_noise_levels

    fs = recording.sampling_frequency_hz
    noise = mad_noise_levels(_noise_sample(recording))
    half_width = int(round(SNR_TEMPLATE_HALF_WIDTH_S * fs))
    snrs = []
    for unit in ground_truth.unit_ids:
        times = np.sort(ground_truth.sample_index[ground_truth.unit_index == unit])
        template = _template(recording, times, half_width, max_snippets_per_unit)
        if template is None:
            snrs.append(np.nan)
            continue
        peak = np.abs(template).max(axis=0)
        ratio = np.divide(peak, noise, out=np.zeros_like(peak), where=noise > 0)
        snrs.append(float(ratio.max()))
    return np.asarray(snrs, dtype=np.float64)


def _filter_margin(recording: Recording) -> int:
    return int(SNR_FILTER_MARGIN_S * recording.sampling_frequency_hz)


def _filtered_pieces(recording: Recording, starts: np.ndarray, length: int) -> np.ndarray:
    """Band-passed traces [start, start + length) for each start: (n, length, n_channels)."""
    from neurosort.preprocess import bandpass

    margin = _filter_margin(recording)
    raw = np.stack(
        [recording.get_traces(start - margin, start + length + margin) for start in starts]
    )
    raw = raw - np.median(raw, axis=1, keepdims=True)
    n_pieces, n_read, n_channels = raw.shape
    columns = raw.transpose(1, 0, 2).reshape(n_read, n_pieces * n_channels)
    filtered = bandpass(columns, recording.sampling_frequency_hz, 300.0, 6000.0)
    pieces = filtered.reshape(n_read, n_pieces, n_channels).transpose(1, 0, 2)
    return pieces[:, margin : margin + length]


def _noise_sample(recording: Recording) -> np.ndarray:
    margin = _filter_margin(recording)
    usable = recording.n_samples - 2 * margin
    length = min(int(recording.sampling_frequency_hz), usable)
    if length <= 0:
        raise ValueError(f"recording {recording.name!r} is too short to measure noise")
    n_pieces = max(1, min(SNR_NOISE_PIECES, usable // length))
    starts = np.linspace(margin, margin + usable - length, n_pieces).astype(np.int64)
    pieces = _filtered_pieces(recording, starts, length)
    return pieces.reshape(-1, recording.n_channels)


def _template(
    recording: Recording, times: np.ndarray, half_width: int, max_snippets: int
) -> np.ndarray | None:
    margin = _filter_margin(recording)
    inside = (times - half_width - margin >= 0) & (
        times + half_width + margin < recording.n_samples
    )
    times = times[inside]
    if len(times) == 0:
        return None
    if len(times) > max_snippets:
        times = times[np.linspace(0, len(times) - 1, max_snippets).astype(np.int64)]
    snippets = _filtered_pieces(recording, times - half_width, 2 * half_width + 1)
    return snippets.mean(axis=0)


def _unit_summary(units: list[dict[str, Any]], snr_threshold: float | None) -> dict[str, Any]:
    def mean_of(key: str, rows: list[dict[str, Any]]) -> float:
        return float(np.mean([row[key] for row in rows])) if rows else 0.0

    summary = {
        "mean_accuracy": mean_of("accuracy", units),
        "mean_precision": mean_of("precision", units),
        "mean_recall": mean_of("recall", units),
        "n_units_accuracy_ge_0_8": sum(row["accuracy"] >= ACCURACY_WELL_DETECTED for row in units),
        "si_mean_accuracy": mean_of("si_accuracy", units),
        "si_mean_precision": mean_of("si_precision", units),
        "si_mean_recall": mean_of("si_recall", units),
    }
    if snr_threshold is not None:
        above = [row for row in units if row["snr"] >= snr_threshold]
        summary["snr_threshold"] = float(snr_threshold)
        summary["n_units_snr_ge_threshold"] = len(above)
        # No unit above the threshold (or SNR unknown): the average is undefined, not zero.
        summary["mean_accuracy_snr_ge_threshold"] = (
            mean_of("accuracy", above) if above else float("nan")
        )
    return summary


def label_scores(gt_labels: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """ARI, NMI and Hungarian-matched accuracy over all GT spikes (missed = own label)."""
    from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

    if len(gt_labels) == 0:
        return {"ari": 0.0, "nmi": 0.0, "cluster_accuracy": 0.0}
    return {
        "ari": float(adjusted_rand_score(gt_labels, predicted)),
        "nmi": float(normalized_mutual_info_score(gt_labels, predicted)),
        "cluster_accuracy": _hungarian_accuracy(gt_labels, predicted),
    }


def _hungarian_accuracy(gt_labels: np.ndarray, predicted: np.ndarray) -> float:
    """Fraction of GT spikes whose unit maps to their predicted unit under the best 1:1 map.

    Missed and unassigned spikes (negative predicted labels) are always errors.
    """
    assigned = predicted >= 0
    if not assigned.any():
        return 0.0
    _, gt_codes = np.unique(gt_labels[assigned], return_inverse=True)
    _, predicted_codes = np.unique(predicted[assigned], return_inverse=True)
    confusion = np.zeros((gt_codes.max() + 1, predicted_codes.max() + 1), dtype=np.int64)
    np.add.at(confusion, (gt_codes, predicted_codes), 1)
    rows, columns = linear_sum_assignment(confusion, maximize=True)
    return float(confusion[rows, columns].sum() / len(gt_labels))


def _detection_counts(n_matched: int, n_detected: int, n_gt: int) -> dict[str, float]:
    return {
        "detection_precision": n_matched / n_detected if n_detected else 0.0,
        "detection_recall": n_matched / n_gt if n_gt else 0.0,
    }


def jsonable(value: Any) -> Any:
    """``value`` with numpy scalars as Python numbers and NaN/inf as None (JSON null)."""
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _csv_cell(value: Any) -> Any:
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return value


def _format_value(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
