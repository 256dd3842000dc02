"""Self-contained study report: summary table, accuracy vs SNR, time and memory, drill-down.

Plots are embedded as base64 PNG; the page loads nothing from the network.
"""

from __future__ import annotations

import html
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

from neurosort.bench import read_table
from neurosort.errors import InputError

SORTER_COLUMNS = {
    "sorter": "sorter",
    "n_ok": "jobs ok",
    "n_failed": "failed",
    "n_skipped": "skipped",
    "mean_recording_accuracy": "mean accuracy (per recording)",
    "mean_accuracy_snr_ge_threshold": "mean accuracy (SNR ≥ thr)",
    "n_units_snr_ge_threshold": "units SNR ≥ thr",
    "n_units_accuracy_ge_0_8": "units acc ≥ 0.8",
    "n_gt_units": "GT units",
    "mean_precision_snr_ge_threshold": "precision (SNR ≥ thr)",
    "mean_recall_snr_ge_threshold": "recall (SNR ≥ thr)",
    "median_sort_wall_s": "median time (s)",
    "median_realtime_factor": "median × real time",
    "median_peak_memory_mib": "median peak MiB",
}
RECORDING_COLUMNS = {
    "sorter": "sorter",
    "status": "status",
    "mean_accuracy": "accuracy",
    "mean_precision": "precision",
    "mean_recall": "recall",
    "n_sorted_units": "units found",
    "n_gt_units": "GT units",
    "sort_wall_s": "time (s)",
    "realtime_factor": "× real time",
    "peak_memory_mib": "peak MiB",
    "error": "error",
}
UNIT_COLUMNS = {
    "sorter": "sorter",
    "gt_unit": "GT unit",
    "snr": "SNR",
    "n_gt": "GT spikes",
    "accuracy": "accuracy",
    "precision": "precision",
    "recall": "recall",
    "best_sorted_unit": "best unit",
}
STYLE = """
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 8px; text-align: right; }
th { background: #f0f0f0; }
td:first-child, th:first-child { text-align: left; }
td.error { color: #a00; text-align: left; max-width: 40em; }
img { max-width: 100%; }
details { margin: 0.3em 0; }
summary { cursor: pointer; font-weight: bold; }
"""


def _embedded(figure: Any) -> str:
    from neurosort.report import figure_to_data_uri

    figure.tight_layout()
    return figure_to_data_uri(figure)


def write_study_report(results_dir: str | Path) -> Path:
    """Write ``results_dir/report.html`` from the tables of a `neurosort bench` run."""
    results_dir = Path(results_dir)
    if not (results_dir / "summary.csv").is_file():
        raise InputError(f"{results_dir}: not a `neurosort bench` results folder")
    study = _study_info(results_dir)
    sorters = read_table(results_dir, "sorters")
    summary = read_table(results_dir, "summary")
    units = read_table(results_dir, "units")
    curves = read_table(results_dir, "accuracy_vs_snr")
    finished = summary[summary["status"] == "ok"]
    threshold = float(study.get("snr_threshold", math.nan))
    sections = [
        f"<h1>neurosort study: {html.escape(str(study.get('name', results_dir.name)))}</h1>",
        _study_header(study, summary),
        "<h2>Summary per sorter</h2>",
        html_table(sorters, SORTER_COLUMNS),
        "<h2>Accuracy vs SNR</h2>",
        _image(accuracy_vs_snr_figure(units, curves, threshold), "accuracy vs SNR per sorter"),
        "<h2>Time and memory</h2>",
        _image(bars_figure(finished, "sort_wall_s", "sort time (s)"), "sort time per recording"),
        _image(bars_figure(finished, "peak_memory_mib", "peak memory (MiB)"), "peak memory"),
        "<h2>Recordings</h2>",
        *_recording_sections(summary, units),
    ]
    page = (
        "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>neurosort study</title>"
        f"<style>{STYLE}</style></head><body>\n" + "\n".join(sections) + "\n</body></html>\n"
    )
    path = results_dir / "report.html"
    temporary = path.with_name(".report.html.tmp")
    temporary.write_text(page, encoding="utf-8")
    temporary.replace(path)
    return path


def _study_info(results_dir: Path) -> dict[str, Any]:
    try:
        return json.loads((results_dir / "study.json").read_text())
    except (OSError, ValueError):
        return {}


def _study_header(study: dict[str, Any], summary) -> str:
    facts = {
        "study file": study.get("study_file", "?"),
        "recordings": summary["recording"].nunique(),
        "sorters": summary["sorter"].nunique(),
        "matching window (samples)": study.get("match_window_samples", "?"),
        "SNR threshold": study.get("snr_threshold", "?"),
    }
    items = "".join(
        f"<li>{html.escape(key)}: {html.escape(str(value))}</li>" for key, value in facts.items()
    )
    return f"<ul>{items}</ul>"


def html_table(frame, columns: dict[str, str]) -> str:
    present = [name for name in columns if name in frame.columns]
    head = "".join(f"<th>{html.escape(columns[name])}</th>" for name in present)
    rows = []
    for record in frame[present].to_dict("records"):
        cells = "".join(_html_cell(name, record[name]) for name in present)
        rows.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _html_cell(name: str, value: Any) -> str:
    css = " class='error'" if name == "error" else ""
    return f"<td{css}>{html.escape(_format(value))}</td>"


def _format(value: Any) -> str:
    if isinstance(value, float | np.floating):
        if math.isnan(value):
            return ""
        if float(value).is_integer() and abs(value) >= 1:
            return str(int(value))
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value)


def _image(data_uri: str, alt: str) -> str:
    return f"<img src='{data_uri}' alt='{html.escape(alt)}'>"


def accuracy_vs_snr_figure(units, curves, snr_threshold: float):
    from matplotlib.figure import Figure

    sorters = list(dict.fromkeys(units["sorter"])) or ["(no ground truth)"]
    figure = Figure(figsize=(3.6 * len(sorters), 3.2))
    axes = figure.subplots(1, len(sorters), sharey=True, squeeze=False)
    for axis, sorter in zip(axes[0], sorters, strict=True):
        mine = units[units["sorter"] == sorter]
        axis.scatter(mine["snr"], mine["accuracy"], s=12, alpha=0.6, label="unit")
        if len(curves):
            curve = curves[curves["sorter"] == sorter]
            axis.plot(curve["mean_snr"], curve["mean_accuracy"], "k.-", label="binned mean")
        if math.isfinite(snr_threshold):
            axis.axvline(snr_threshold, color="grey", linestyle=":", linewidth=1)
        axis.set_title(str(sorter))
        axis.set_xlabel("SNR")
        axis.set_ylim(-0.02, 1.02)
    axes[0][0].set_ylabel("accuracy")
    return _embedded(figure)


def bars_figure(summary, column: str, label: str):
    from matplotlib.figure import Figure

    recordings = list(dict.fromkeys(summary["recording"]))
    sorters = list(dict.fromkeys(summary["sorter"]))
    height = 0.8 / max(1, len(sorters))
    figure = Figure(figsize=(8, 0.9 + 0.12 * len(recordings) * max(1, len(sorters))))
    axis = figure.subplots()
    positions = np.arange(len(recordings))
    for offset, sorter in enumerate(sorters):
        mine = summary[summary["sorter"] == sorter].set_index("recording")
        values = [float(mine[column].get(name, np.nan)) for name in recordings]
        axis.barh(positions + offset * height, values, height=height, label=str(sorter))
    axis.set_yticks(positions + 0.4 - height / 2, recordings, fontsize=7)
    axis.set_ylim(len(recordings) - 0.1, -0.2)
    axis.set_xlabel(label)
    axis.legend(fontsize=7)
    return _embedded(figure)


def _recording_sections(summary, units) -> list[str]:
    sections = []
    for recording in dict.fromkeys(summary["recording"]):
        rows = summary[summary["recording"] == recording]
        mine = units[units["recording"] == recording]
        body = html_table(rows, RECORDING_COLUMNS)
        if len(mine):
            body += html_table(mine, UNIT_COLUMNS)
        sections.append(
            f"<details><summary>{html.escape(str(recording))}</summary>{body}</details>"
        )
    return sections


__all__ = ["html_table", "write_study_report"]
