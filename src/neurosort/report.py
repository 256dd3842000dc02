"""Figures of a sorting (each returns a matplotlib Figure) and the self-contained report.html."""

from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FormatStrFormatter, MaxNLocator, NullLocator

from neurosort.config import SortConfig
from neurosort.log import get_logger
from neurosort.preprocess import Preprocessor
from neurosort.types import GroundTruth, Recording, SortResult
from neurosort.waveforms import snippet_offsets

logger = get_logger(__name__)

REFRACTORY_MS = 1.5
ISI_TICKS_MS = (0.1, 1.0, 10.0, 100.0, 1000.0, 10000.0)
MAX_UNIT_PANELS = 24
SPIKES_PER_UNIT = 50
MAX_SNIPPETS = 1200
WINDOWS_PER_BATCH = 100
FILTER_MARGIN_MS = 8.0
MAX_SCATTER_POINTS = 5000
MAX_AMPLITUDE_POINTS_PER_UNIT = 3000
MAX_WAVEFORM_CHANNELS = 4
MAX_EMBEDDING_POINTS = 1000
TSNE_MAX_ITER = 400
TSNE_PERPLEXITY = 30.0
PNG_DPI = 80
UNASSIGNED_COLOUR = (0.75, 0.75, 0.75)


@dataclass
class SpikeSample:
    """Spikes drawn for plotting: their row in ``result.spikes``, unit and filtered snippets."""

    spike_index: np.ndarray
    unit_index: np.ndarray
    snippets: np.ndarray  # (n, n_samples, n_channels), microvolts after preprocessing
    before: int


@cache
def unit_palette() -> list[tuple[float, float, float]]:
    """Distinct colours dark enough for text: tab10, Dark2, then tab20b's darker shades."""
    import matplotlib

    names = [("tab10", range(10)), ("Dark2", range(8)), ("tab20b", range(0, 20, 4))]
    return [tuple(matplotlib.colormaps[name](i)[:3]) for name, picks in names for i in picks]


def unit_colour(unit: int) -> tuple[float, float, float]:
    """The colour of ``unit`` in every figure."""
    palette = unit_palette()
    return palette[int(unit) % len(palette)]


def new_figure(
    n_panels: int,
    title: str,
    *,
    xlabel: str = "",
    ylabel: str = "",
    sharex: bool = False,
    panel_size: tuple[float, float] = (2.4, 2.0),
    ncols: int = 6,
) -> tuple[Figure, list]:
    """A titled Figure on the Agg canvas with a grid of ``n_panels`` axes.

    Axis labels go on the outer panels only (and with ``sharex`` so do x tick labels). The
    layout is fixed in inches: tight_layout would draw every figure twice.
    """
    ncols = max(1, min(ncols, n_panels))
    nrows = -(-n_panels // ncols)
    width, height = panel_size[0] * ncols + 0.7, panel_size[1] * nrows + 0.6
    fig = Figure(figsize=(width, height), dpi=PNG_DPI)
    FigureCanvasAgg(fig)
    fig.subplots_adjust(
        left=0.65 / width,
        right=1 - 0.1 / width,
        bottom=0.5 / height,
        top=1 - 0.6 / height,
        wspace=0.35,
        hspace=0.45 if sharex else 0.7,
    )
    fig.suptitle(title, fontsize=11, y=1 - 0.1 / height, va="top")
    axes = []
    for i in range(n_panels):
        ax = fig.add_subplot(nrows, ncols, i + 1, sharex=axes[0] if sharex and axes else None)
        ax.tick_params(labelsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(3))
        ax.yaxis.set_major_locator(MaxNLocator(3))
        if i + ncols >= n_panels:
            ax.set_xlabel(xlabel, fontsize=8)
        elif sharex:
            ax.tick_params(labelbottom=False)
        if i % ncols == 0:
            ax.set_ylabel(ylabel, fontsize=8)
        axes.append(ax)
    return fig, axes


def panel_title(ax, text: str, colour) -> None:
    # A fixed title position spares matplotlib measuring every tick label to place it.
    ax.set_title(text, fontsize=9, color=colour, y=1.0, pad=3)


def figure_to_data_uri(fig: Figure, dpi: int = PNG_DPI) -> str:
    """The figure as a ``data:image/png;base64,...`` URI for an <img> tag."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def units_to_show(result: SortResult, max_units: int = MAX_UNIT_PANELS) -> np.ndarray:
    """Unit ids with the most spikes, at most ``max_units`` of them, in ascending order."""
    units, counts = np.unique(result.spikes["unit_index"], return_counts=True)
    keep = units >= 0
    units, counts = units[keep], counts[keep]
    order = np.argsort(-counts, kind="stable")[:max_units]
    return np.sort(units[order])


def draw_spike_sample(
    result: SortResult, units: np.ndarray, n_samples: int, margin: int, seed: int = 0
) -> np.ndarray:
    """Rows of ``result.spikes`` drawn at random per unit, whole windows inside the recording."""
    rng = np.random.default_rng(seed)
    per_unit = min(SPIKES_PER_UNIT, max(1, MAX_SNIPPETS // max(1, len(units))))
    samples = result.spikes["sample_index"]
    inside = (samples >= margin) & (samples < n_samples - margin)
    picks = []
    for unit in units:
        rows = np.flatnonzero((result.spikes["unit_index"] == unit) & inside)
        picks.append(rng.choice(rows, size=min(per_unit, len(rows)), replace=False))
    return np.sort(np.concatenate(picks)) if picks else np.zeros(0, np.int64)


def extract_spike_sample(
    result: SortResult, recording: Recording, config: SortConfig, units: np.ndarray
) -> SpikeSample:
    """Filtered snippets of a random sample of each unit's spikes.

    Only a short window around each drawn spike is read, so the cost does not depend on the
    recording's length.
    """
    fs = recording.sampling_frequency_hz
    before, after = snippet_offsets(fs, config.waveforms.before_ms, config.waveforms.after_ms)
    preprocessor = Preprocessor(config.preprocess, seed=config.seed).fit(recording)
    margin = min(preprocessor.margin_samples_, int(FILTER_MARGIN_MS * fs / 1000.0))
    reach = max(before, after) + margin + 1
    rows = draw_spike_sample(result, units, recording.n_samples, reach, config.seed)
    peaks = result.spikes["sample_index"][rows]
    batches = [
        read_filtered_windows(recording, preprocessor, batch, (before, after), margin)
        for batch in np.array_split(peaks, max(1, -(-len(peaks) // WINDOWS_PER_BATCH)))
    ]
    return SpikeSample(rows, result.spikes["unit_index"][rows], np.concatenate(batches), before)


def read_filtered_windows(
    recording: Recording,
    preprocessor: Preprocessor,
    peaks: np.ndarray,
    offsets: tuple[int, int],
    margin: int,
) -> np.ndarray:
    """(n_peaks, before + after + 1, n_channels) preprocessed snippets around ``peaks``.

    The windows, each with a filter margin on both sides and its own offset removed, are
    filtered as one concatenated block: one filter call instead of one per spike.
    """
    before, after = offsets
    width = before + after + 1 + 2 * margin
    windows = []
    for peak in peaks:
        start = int(peak) - before - margin
        raw = recording.get_traces(start, start + width)
        windows.append(raw - np.median(raw, axis=0))
    if not windows:
        return np.zeros((0, before + after + 1, recording.n_channels), np.float32)
    filtered = preprocessor.apply(np.concatenate(windows)).reshape(len(peaks), width, -1)
    return filtered[:, margin : margin + before + after + 1]


def unit_templates(result: SortResult, sample: SpikeSample, units: np.ndarray) -> np.ndarray:
    """Each shown unit's template: the sorter's if its shape fits, else the sample's median."""
    shape = sample.snippets.shape[1:]
    templates = np.zeros((len(units),) + shape, np.float32)
    for i, unit in enumerate(units):
        if unit < len(result.templates) and result.templates.shape[1:] == shape:
            templates[i] = result.templates[unit]
        elif np.any(sample.unit_index == unit):
            templates[i] = np.median(sample.snippets[sample.unit_index == unit], axis=0)
    return templates


def strongest_channels(template: np.ndarray, n: int = MAX_WAVEFORM_CHANNELS) -> np.ndarray:
    """Indices of the ``n`` channels with the largest peak |template|, in channel order."""
    energy = np.abs(template).max(axis=0)
    return np.sort(np.argsort(-energy, kind="stable")[:n])


def side_by_side(waveforms: np.ndarray, channels: np.ndarray) -> np.ndarray:
    """(..., n_samples, n_channels) -> (..., n_channels_kept * (n_samples + 1)) with NaN gaps."""
    picked = waveforms[..., channels]
    gap = np.full(picked.shape[:-2] + (1, len(channels)), np.nan, np.float32)
    stacked = np.concatenate([picked, gap], axis=-2)
    return np.swapaxes(stacked, -1, -2).reshape(picked.shape[:-2] + (-1,))


def plot_waveforms(
    sample: SpikeSample, templates: np.ndarray, units: np.ndarray, sampling_frequency_hz: float
) -> Figure:
    """One panel per unit: sampled spikes in a light colour, the template on top.

    Multi-channel units show their strongest channels side by side.
    """
    xlabel = "time from peak (ms)" if sample.snippets.shape[2] == 1 else ""
    fig, axes = new_figure(
        len(units), "Waveforms: random spikes and template", xlabel=xlabel, ylabel="µV"
    )
    n_samples = sample.snippets.shape[1]
    time_ms = (np.arange(n_samples + 1) - sample.before) * 1000.0 / sampling_frequency_hz
    span_ms = time_ms[-1] - time_ms[0]
    for ax, unit, template in zip(axes, units, templates, strict=True):
        colour = unit_colour(unit)
        channels = strongest_channels(template)
        x = np.concatenate([time_ms + k * span_ms for k in range(len(channels))])
        spikes = side_by_side(sample.snippets[sample.unit_index == unit], channels)
        # One NaN-separated line for all spikes draws far faster than one line per spike.
        ax.plot(np.tile(x, len(spikes)), spikes.ravel(), color=colour, alpha=0.2, lw=0.5)
        ax.plot(x, side_by_side(template, channels), color="black", lw=2.4)
        ax.plot(x, side_by_side(template, channels), color=colour, lw=1.4)
        panel_title(ax, f"unit {unit} ({len(spikes)} spikes)", colour)
        if len(channels) > 1:
            label_channels(ax, x, channels, n_samples)
    return fig


def label_channels(ax, x: np.ndarray, channels: np.ndarray, n_samples: int) -> None:
    centres = [x[k * (n_samples + 1) + n_samples // 2] for k in range(len(channels))]
    ax.set_xticks(centres, [f"ch{c}" for c in channels])


def feature_points(
    result: SortResult, sample: SpikeSample, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, str]:
    """(points, unit labels, axis name): sorter features if kept, else PCA of the snippets."""
    features = result.features
    if has_features(result):
        rng = np.random.default_rng(seed)
        rows = np.arange(len(features))
        if len(rows) > MAX_SCATTER_POINTS:
            rows = np.sort(rng.choice(rows, MAX_SCATTER_POINTS, replace=False))
        return features[rows, :3], result.spikes["unit_index"][rows], "feature"
    from sklearn.decomposition import PCA

    flat = sample.snippets.reshape(len(sample.snippets), -1)
    n_components = min(3, flat.shape[0], flat.shape[1])
    points = PCA(n_components, random_state=seed).fit_transform(flat)
    return points, sample.unit_index, "snippet PC"


def plot_features(
    points: np.ndarray, labels: np.ndarray, units: np.ndarray, axis_name: str = "feature"
) -> Figure:
    """Scatter of feature dimension pairs (1-2, 1-3, 2-3), one colour per unit."""
    dims = points.shape[1]
    pairs = [(0, 1), (0, 2), (1, 2)][: 3 if dims >= 3 else 1] if dims >= 2 else [(0, 0)]
    title = "Feature space (grey: unassigned or not shown)"
    fig, axes = new_figure(len(pairs), title, panel_size=(4.0, 3.6), ncols=3)
    fig.subplots_adjust(wspace=0.3)
    shown = np.isin(labels, units)
    for ax, (a, b) in zip(axes, pairs, strict=True):
        ax.scatter(points[~shown, a], points[~shown, b], s=2, color=UNASSIGNED_COLOUR, lw=0)
        for unit in units:
            members = labels == unit
            colour = unit_colour(unit)
            ax.scatter(points[members, a], points[members, b], s=3, lw=0, color=colour, label=unit)
        ax.set_xlim(robust_limits(points[:, a]))
        ax.set_ylim(robust_limits(points[:, b]))
        ax.set_xlabel(f"{axis_name} {a + 1}", fontsize=8)
        ax.set_ylabel(f"{axis_name} {b + 1}", fontsize=8)
    if 0 < len(units) <= 12:
        axes[-1].legend(title="unit", fontsize=7, markerscale=3, loc="best", frameon=False)
    return fig


def embedding_rows(n: int, seed: int = 0, max_points: int = MAX_EMBEDDING_POINTS) -> np.ndarray:
    """Sorted rows of a seeded random subsample of ``n`` spikes, at most ``max_points``."""
    if n <= max_points:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, max_points, replace=False))


def embed_2d(points: np.ndarray, seed: int = 0) -> tuple[np.ndarray, str]:
    """(2-d coordinates, axis name): t-SNE of ``points``, or the points themselves (padded to
    two columns) when they have at most 2 dimensions or are too few for t-SNE."""
    points = np.asarray(points, dtype=np.float64)
    if points.shape[1] <= 2 or len(points) < 4:
        padded = np.zeros((len(points), 2))
        padded[:, : min(2, points.shape[1])] = points[:, :2]
        return padded, "feature"
    from sklearn.manifold import TSNE
    from threadpoolctl import threadpool_limits

    perplexity = min(TSNE_PERPLEXITY, (len(points) - 1) / 3.0)
    tsne = TSNE(
        2,
        perplexity=perplexity,
        init="pca",
        max_iter=TSNE_MAX_ITER,
        random_state=seed,
        n_jobs=1,
    )
    # The gradient runs on OpenMP threads whatever n_jobs says; on a busy machine those threads
    # waiting on each other took over ten times as long as one thread (18 s against 1 s).
    with threadpool_limits(limits=1):
        return tsne.fit_transform(points), "t-SNE"


def plot_embedding(
    points: np.ndarray,
    predicted: np.ndarray,
    ground_truth: np.ndarray | None = None,
    seed: int = 0,
) -> Figure:
    """A 2-d embedding (t-SNE) of a seeded subsample of spikes coloured by predicted unit and,
    when ``ground_truth`` labels are given, a second panel coloured by ground-truth unit.

    Label -1 (unassigned, or no matching ground-truth spike) is drawn in grey.
    """
    predicted = np.asarray(predicted)
    if len(predicted) != len(points) or (
        ground_truth is not None and len(ground_truth) != len(points)
    ):
        raise ValueError("points, predicted and ground_truth need one row per spike")
    rows = embedding_rows(len(points), seed)
    xy, axis_name = embed_2d(np.asarray(points)[rows], seed)
    panels = [("predicted unit", predicted[rows])]
    if ground_truth is not None:
        panels.append(("ground-truth unit", np.asarray(ground_truth)[rows]))
    grey = "unassigned" if ground_truth is None else "unassigned or no ground-truth match"
    title = f"Embedding ({axis_name}) of {len(rows)} of {len(points)} spikes (grey: {grey})"
    fig, axes = new_figure(len(panels), title, panel_size=(4.0, 3.6), ncols=2)
    for ax, (name, labels) in zip(axes, panels, strict=True):
        scatter_labels(ax, xy, labels)
        ax.set_xlabel(f"{axis_name} 1", fontsize=8)
        ax.set_ylabel(f"{axis_name} 2", fontsize=8)
        panel_title(ax, f"coloured by {name}", "black")
    return fig


def scatter_labels(ax, xy: np.ndarray, labels: np.ndarray) -> None:
    """Scatter ``xy`` coloured by label (grey for negative labels), legend for few labels."""
    unassigned = labels < 0
    ax.scatter(xy[unassigned, 0], xy[unassigned, 1], s=3, lw=0, color=UNASSIGNED_COLOUR)
    units = np.unique(labels[~unassigned])
    for unit in units:
        members = labels == unit
        ax.scatter(xy[members, 0], xy[members, 1], s=4, lw=0, color=unit_colour(unit), label=unit)
    if 0 < len(units) <= 12:
        ax.legend(fontsize=7, markerscale=2.5, loc="best", frameon=False)


def has_features(result: SortResult) -> bool:
    """Whether ``result`` kept one row of features per spike."""
    features = result.features
    return features is not None and features.ndim == 2 and len(features) == len(result.spikes)


def robust_limits(values: np.ndarray) -> tuple[float, float]:
    """Axis limits holding the central 99% of ``values`` with a margin, so outliers do not
    squash the rest."""
    low, high = np.percentile(values, [0.5, 99.5])
    pad = 0.15 * (high - low) + 1e-3
    return float(low - pad), float(high + pad)


def unit_spike_times_s(result: SortResult, unit: int) -> np.ndarray:
    samples = np.sort(result.spikes["sample_index"][result.spikes["unit_index"] == unit])
    return samples / result.sampling_frequency_hz


def isi_violation_percent(times_s: np.ndarray, refractory_ms: float = REFRACTORY_MS) -> float:
    """Percentage of inter-spike intervals shorter than the refractory period."""
    if len(times_s) < 2:
        return 0.0
    return float(100.0 * np.mean(np.diff(times_s) * 1000.0 < refractory_ms))


def plot_isi(result: SortResult, units: np.ndarray) -> Figure:
    """Per unit, a histogram of inter-spike intervals on a log ms axis, refractory period marked."""
    title = f"Inter-spike intervals (dashed: {REFRACTORY_MS:g} ms refractory period)"
    fig, axes = new_figure(len(units), title, xlabel="ISI (ms)", ylabel="count", sharex=True)
    bins = np.logspace(-1, 4, 76)
    for ax, unit in zip(axes, units, strict=True):
        times = unit_spike_times_s(result, unit)
        colour = unit_colour(unit)
        counts, _ = np.histogram(np.diff(times) * 1000.0, bins=bins)
        ax.stairs(counts, bins, fill=True, color=colour)
        ax.axvline(REFRACTORY_MS, color="red", ls="--", lw=1)
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(ISI_TICKS_MS))
        ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.xaxis.set_minor_locator(NullLocator())
        violations = isi_violation_percent(times)
        panel_title(ax, f"unit {unit}: {violations:.2f}% violations", colour)
    return fig


def plot_amplitudes(result: SortResult, units: np.ndarray, seed: int = 0) -> Figure:
    """Per unit, spike amplitude (µV at the peak channel) against time in seconds."""
    fig, axes = new_figure(
        len(units),
        "Amplitude over time",
        xlabel="time (s)",
        ylabel="amplitude (µV)",
        sharex=True,
        panel_size=(3.2, 2.0),
        ncols=4,
    )
    rng = np.random.default_rng(seed)
    spikes = result.spikes
    for ax, unit in zip(axes, units, strict=True):
        rows = np.flatnonzero(spikes["unit_index"] == unit)
        if len(rows) > MAX_AMPLITUDE_POINTS_PER_UNIT:
            rows = rng.choice(rows, MAX_AMPLITUDE_POINTS_PER_UNIT, replace=False)
        colour = unit_colour(unit)
        times = spikes["sample_index"][rows] / result.sampling_frequency_hz
        ax.scatter(times, spikes["amplitude"][rows], s=3, lw=0, color=colour)
        if len(rows):
            ax.set_ylim(robust_limits(spikes["amplitude"][rows]))
        panel_title(ax, f"unit {unit}", colour)
    return fig


def peak_channel(result: SortResult, unit: int) -> int:
    if unit < len(result.templates) and result.templates.size:
        return int(np.abs(result.templates[unit]).max(axis=0).argmax())
    channels = result.spikes["channel_index"][result.spikes["unit_index"] == unit]
    return int(np.bincount(channels).argmax()) if len(channels) else -1


def unit_table_rows(result: SortResult, duration_s: float) -> list[dict[str, float | int]]:
    """Per unit: spike count, rate, median amplitude, ISI violations and peak channel."""
    rows = []
    for unit in result.unit_ids:
        members = result.spikes["unit_index"] == unit
        rows.append(
            {
                "unit": int(unit),
                "n_spikes": int(members.sum()),
                "rate_hz": float(members.sum() / duration_s) if duration_s > 0 else 0.0,
                "amplitude_median_uv": float(np.median(result.spikes["amplitude"][members])),
                "isi_violation_percent": isi_violation_percent(unit_spike_times_s(result, unit)),
                "peak_channel": peak_channel(result, int(unit)),
            }
        )
    return rows


def sort_figures(
    result: SortResult, recording: Recording, config: SortConfig, units: np.ndarray
) -> list[tuple[str, Figure]]:
    """(title, figure) for each report figure of the shown ``units``."""
    sample = extract_spike_sample(result, recording, config, units)
    templates = unit_templates(result, sample, units)
    points, labels, axis_name = feature_points(result, sample, config.seed)
    fs = recording.sampling_frequency_hz
    figures = [
        ("Waveforms", plot_waveforms(sample, templates, units, fs)),
        ("Feature space", plot_features(points, labels, units, axis_name)),
    ]
    if has_features(result):
        embedding = plot_embedding(result.features, result.spikes["unit_index"], seed=config.seed)
        figures.append(("Embedding (t-SNE)", embedding))
    figures.append(("Inter-spike intervals", plot_isi(result, units)))
    figures.append(("Amplitudes", plot_amplitudes(result, units, config.seed)))
    return figures


CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; max-width: 1500px; }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin-top: 1.6em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 3px 10px; text-align: right; }
th { background: #f0f0f0; } dl { display: grid; grid-template-columns: max-content auto; }
dt { font-weight: 600; padding-right: 1em; } dd { margin: 0; }
img { max-width: 100%; } .note { color: #a05000; }
"""


def summary_html(result: SortResult, recording: Recording) -> str:
    n_unassigned = int(np.sum(result.spikes["unit_index"] < 0))
    items = {
        "Recording": html.escape(recording.name),
        "Duration": f"{recording.duration_s:.2f} s",
        "Channels": str(recording.n_channels),
        "Sampling rate": f"{recording.sampling_frequency_hz:g} Hz",
        "Spikes": f"{len(result.spikes)} ({n_unassigned} unassigned)",
        "Units": str(len(result.unit_ids)),
    }
    rows = "".join(f"<dt>{key}</dt><dd>{value}</dd>" for key, value in items.items())
    return f"<dl>{rows}</dl>"


def unit_table_html(rows: list[dict[str, float | int]]) -> str:
    header = (
        "<tr><th>unit</th><th>spikes</th><th>rate (Hz)</th><th>median amplitude (µV)</th>"
        f"<th>ISI &lt; {REFRACTORY_MS:g} ms (%)</th><th>peak channel</th></tr>"
    )
    body = "".join(
        f"<tr><td>{r['unit']}</td><td>{r['n_spikes']}</td><td>{r['rate_hz']:.2f}</td>"
        f"<td>{r['amplitude_median_uv']:.1f}</td><td>{r['isi_violation_percent']:.2f}</td>"
        f"<td>{r['peak_channel']}</td></tr>"
        for r in rows
    )
    return f'<table class="units">{header}{body}</table>'


def figures_html(figures: list[tuple[str, Figure]]) -> str:
    return "".join(
        f'<h2>{html.escape(title)}</h2><img alt="{html.escape(title)}" '
        f'src="{figure_to_data_uri(fig)}">'
        for title, fig in figures
    )


def empty_note(result: SortResult) -> str:
    if len(result.spikes) == 0:
        return '<p class="note">No spikes were detected: there are no units to show.</p>'
    return (
        f'<p class="note">{len(result.spikes)} spikes were detected but none was assigned '
        "to a unit: there are no units to show.</p>"
    )


def report_html(result: SortResult, recording: Recording, config: SortConfig) -> str:
    """The full report page: summary, unit table and figures, with images inlined."""
    parts = [f"<h1>neurosort report: {html.escape(recording.name)}</h1>"]
    parts.append(summary_html(result, recording))
    units = units_to_show(result)
    if len(units) == 0:
        parts.append(empty_note(result))
    else:
        parts.append("<h2>Units</h2>")
        parts.append(unit_table_html(unit_table_rows(result, recording.duration_s)))
        if len(units) < len(result.unit_ids):
            parts.append(
                f'<p class="note">Figures show {len(units)} of {len(result.unit_ids)} units '
                "(those with the most spikes).</p>"
            )
        parts.append(figures_html(sort_figures(result, recording, config, units)))
    return html_page(f"neurosort report: {recording.name}", "\n".join(parts))


def html_page(title: str, body: str) -> str:
    """A self-contained HTML document with the report's style around ``body``."""
    title = html.escape(title)
    return (
        f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f"<style>{CSS}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def write_sort_report(
    result: SortResult, recording: Recording, config: SortConfig, path: str | Path
) -> Path:
    """Write one self-contained HTML report (no external files or network) to ``path``."""
    path = Path(path)
    path.write_text(report_html(result, recording, config), encoding="utf-8")
    logger.debug("report written to %s", path)
    return path


def write_folder_report(
    out_dir: str | Path, recording: Recording, path: str | Path | None = None
) -> Path:
    """Re-draw the report of a finished output folder (``out_dir/report.html`` by default)."""
    from neurosort.output import read_config, read_result

    result = read_result(out_dir)
    path = Path(out_dir) / "report.html" if path is None else Path(path)
    return write_sort_report(result, recording, read_config(out_dir), path)


def ground_truth_labels(
    spike_samples: np.ndarray, truth: GroundTruth, match_window_samples: int
) -> np.ndarray:
    """Per sorted spike, the unit of the ground-truth spike matched to it (one-to-one within
    the window, as in :func:`neurosort.evaluate.evaluate`), or -1 when none matched."""
    from neurosort.evaluate import match_spike_times

    gt_index, det_index = match_spike_times(truth.sample_index, spike_samples, match_window_samples)
    labels = np.full(len(spike_samples), -1, np.int64)
    labels[det_index] = np.asarray(truth.unit_index)[gt_index]
    return labels


def evaluation_html(
    result: SortResult,
    truth: GroundTruth,
    match_window_samples: int,
    table: str = "",
    seed: int = 0,
) -> str:
    """A page with the score ``table`` (plain text) and, when ``result`` kept features, the
    embedding coloured by predicted and by ground-truth unit."""
    parts = ["<h1>neurosort evaluation</h1>"]
    if table:
        parts.append(f"<pre>{html.escape(table)}</pre>")
    if has_features(result):
        gt_labels = ground_truth_labels(result.spikes["sample_index"], truth, match_window_samples)
        fig = plot_embedding(result.features, result.spikes["unit_index"], gt_labels, seed)
        parts.append(figures_html([("Embedding (t-SNE)", fig)]))
    return html_page("neurosort evaluation", "\n".join(parts))


def write_evaluation_report(
    result: SortResult,
    truth: GroundTruth,
    path: str | Path,
    *,
    match_window_samples: int = 30,
    table: str = "",
    seed: int = 0,
) -> Path:
    """Write the self-contained evaluation page (see :func:`evaluation_html`) to ``path``."""
    path = Path(path)
    page = evaluation_html(result, truth, match_window_samples, table, seed)
    path.write_text(page, encoding="utf-8")
    logger.debug("evaluation report written to %s", path)
    return path
