"""sort(recording, config, out_dir): composes the stages; no stage logic lives here."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from neurosort import cluster as clustering
from neurosort import curate, output
from neurosort.config import SortConfig, validate
from neurosort.detection import detected_chunks
from neurosort.errors import InputError, NeurosortError
from neurosort.features import encoder_options, make_features
from neurosort.log import StageTimer, get_logger, progress
from neurosort.overlaps import reassign_overlapping_spikes, rescue_unassigned_spikes
from neurosort.types import PEAK_DTYPE, SPIKE_DTYPE, Recording, SortResult
from neurosort.waveforms import (
    align_to_subsample_peak,
    channel_neighbourhoods,
    compute_templates,
    extract_snippets,
    main_channel_templates,
    main_channels,
    ms_to_samples,
    normalise_amplitude,
    scatter_templates,
    snippet_offsets,
)

logger = get_logger(__name__)


def detect_and_extract(
    recording: Recording, config: SortConfig, timer: StageTimer
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Filter chunk by chunk, detect peaks and cut their snippets on each peak's channel
    neighbourhood: (peaks, snippets, noise levels, neighbourhoods)."""
    fs = recording.sampling_frequency_hz
    before, after = snippet_offsets(fs, config.waveforms.before_ms, config.waveforms.after_ms)
    if recording.n_samples <= before + after + 1:
        raise InputError(
            f"{recording.name}: {recording.n_samples} samples, not longer than the waveform "
            f"window of {before + after + 1} samples (waveforms.before_ms + after_ms)"
        )
    neighbourhoods = channel_neighbourhoods(
        recording.channel_locations_um, config.waveforms.neighbourhood_radius_um
    )
    preprocessor, chunks = detected_chunks(recording, config, timer, (before, after))
    all_peaks, all_snippets = [], []
    for span, traces, peaks in chunks:
        with timer.step("waveforms"):
            channels = neighbourhoods[peaks["channel_index"]]
            snippets = extract_snippets(traces, peaks["sample_index"], before, after, channels)
            all_snippets.append(align_to_subsample_peak(snippets, before))
        peaks["sample_index"] += span.read_start
        all_peaks.append(peaks)
    peaks = np.concatenate(all_peaks) if all_peaks else np.zeros(0, PEAK_DTYPE)
    n_samples = before + after + 1
    snippets = (
        np.concatenate(all_snippets)
        if all_snippets
        else np.zeros((0, n_samples, neighbourhoods.shape[1]), np.float32)
    )
    return peaks, snippets, preprocessor.noise_levels_, neighbourhoods


def cluster_snippets(
    snippets: np.ndarray,
    peaks: np.ndarray,
    noise_levels: np.ndarray,
    recording: Recording,
    config: SortConfig,
    timer: StageTimer,
) -> tuple[np.ndarray, np.ndarray]:
    """Features then clusters then merging: (labels, features)."""
    cfg = config.cluster
    rng = np.random.default_rng(config.seed)
    shapes = normalise_amplitude(snippets) if config.waveforms.normalize_amplitude else snippets
    with timer.step("features"):
        extractor = make_features(
            config.features.method,
            config.features.n_components,
            config.features.wavelet_levels,
            config.seed,
            n_channels=snippets.shape[2],
            sampling_frequency_hz=recording.sampling_frequency_hz,
            **encoder_options(config.features),
        )
        fit_index = np.arange(len(shapes))
        if len(shapes) > cfg.max_spikes_to_fit:
            fit_index = np.sort(rng.choice(len(shapes), cfg.max_spikes_to_fit, replace=False))
        extractor.fit(shapes[fit_index])
        features = extractor.transform(shapes)
    with timer.step("cluster"):
        labels = cluster_features(features, config)
    with timer.step("merge"):
        labels = merge_units(
            labels,
            snippets,
            noise_levels,
            peaks,
            recording.n_samples,
            recording.sampling_frequency_hz,
            config,
        )
    return labels, features


def cluster_features(features: np.ndarray, config: SortConfig) -> np.ndarray:
    """Labels of the configured clusterer, fitted on a subsample, the rest assigned."""
    cfg = config.cluster
    clusterer = clustering.make_clusterer(
        cfg.method,
        n_units=cfg.n_units,
        max_units=cfg.max_units,
        min_cluster_size=cfg.min_cluster_size,
        seed=config.seed,
    )
    return clustering.cluster_subsample_then_assign(
        features,
        clusterer,
        max_spikes_to_fit=cfg.max_spikes_to_fit,
        assign_noise=cfg.assign_noise,
        seed=config.seed,
    )


def merge_units(
    labels: np.ndarray,
    snippets: np.ndarray,
    noise_levels: np.ndarray,
    peaks: np.ndarray,
    n_samples: int,
    sampling_frequency_hz: float,
    config: SortConfig,
) -> np.ndarray:
    """Merge over-split units as configured (template difference, refractory veto)."""
    cfg, fs = config.cluster, sampling_frequency_hz
    return clustering.merge_similar_units(
        labels,
        snippets,
        noise_levels,
        max_difference=cfg.merge_max_difference_sigma,
        sample_index=peaks["sample_index"],
        n_samples=n_samples,
        refractory_samples=ms_to_samples(cfg.refractory_period_ms, fs),
        dead_time_samples=ms_to_samples(config.detect.dead_time_ms, fs),
    )


def cluster_by_neighbourhood(
    snippets: np.ndarray,
    peaks: np.ndarray,
    noise_levels: np.ndarray,
    neighbourhoods: np.ndarray,
    recording: Recording,
    config: SortConfig,
    timer: StageTimer,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Cluster all spikes together when every snippet spans the same channels, else the
    spikes of each peak channel separately on that channel's neighbourhood.

    Each group's spikes are then refitted with its unit templates (``reassign``). Returns
    consecutive unit labels (-1 = unassigned) and, for a single group, the features.
    """
    n_samples, fs = recording.n_samples, recording.sampling_frequency_hz
    if neighbourhoods.shape[1] == recording.n_channels:
        labels, features = cluster_snippets(snippets, peaks, noise_levels, recording, config, timer)
        labels = reassign(labels, snippets, noise_levels, peaks, n_samples, fs, config, timer)
        return labels, features
    labels = np.full(len(peaks), -1, dtype=np.int64)
    for channel in progress(np.unique(peaks["channel_index"]), desc="cluster"):
        members = np.flatnonzero(peaks["channel_index"] == channel)
        if len(members) < config.cluster.min_cluster_size:
            continue
        group_noise = noise_levels[neighbourhoods[channel]]
        group_labels, _ = cluster_snippets(
            snippets[members], peaks[members], group_noise, recording, config, timer
        )
        group_labels = reassign(
            group_labels, snippets[members], group_noise, peaks[members], n_samples, fs, config,
            timer,
        )
        assigned = group_labels >= 0
        labels[members[assigned]] = group_labels[assigned] + labels.max() + 1
    return clustering.relabel_consecutive(labels, config.cluster.min_cluster_size), None


def reassign(
    labels: np.ndarray,
    snippets: np.ndarray,
    noise_levels: np.ndarray,
    peaks: np.ndarray,
    n_samples: int,
    sampling_frequency_hz: float,
    config: SortConfig,
    timer: StageTimer,
) -> np.ndarray:
    """Units of at least ``min_cluster_size`` spikes, numbered by size, after refitting every
    spike with the unit templates (overlaps allowed), refining them by a discriminant,
    splitting those that hold two neurons (refractory evidence) and merging those that take
    turns (one drifting neuron)."""
    min_size, fs = config.cluster.min_cluster_size, sampling_frequency_hz
    labels = clustering.relabel_consecutive(labels, min_size)
    with timer.step("reassign"):
        labels = reassign_overlapping_spikes(
            labels,
            snippets,
            noise_levels,
            min_gain_sigma2=config.cluster.reassign_min_gain_sigma2,
        )
    labels = refine(labels, snippets, noise_levels, config, timer)
    if config.cluster.split_max_violation_ratio > 0:
        with timer.step("split"):
            split = clustering.split_by_refractory(
                labels,
                snippets,
                noise_levels,
                peaks["sample_index"],
                refractory_samples=ms_to_samples(config.cluster.refractory_period_ms, fs),
                dead_time_samples=ms_to_samples(config.detect.dead_time_ms, fs),
                n_samples=n_samples,
                max_violation_ratio=config.cluster.split_max_violation_ratio,
                min_size=min_size,
                seed=config.seed,
            )
        if not np.array_equal(split, labels):
            labels = refine(split, snippets, noise_levels, config, timer)
    with timer.step("drift_merge"):
        labels = clustering.merge_drifted_units(
            labels,
            snippets,
            noise_levels,
            peaks["sample_index"],
            n_samples=n_samples,
            bin_samples=ms_to_samples(clustering.DRIFT_BIN_MS, fs),
            max_difference=config.cluster.drift_merge_max_difference_sigma,
        )
    return clustering.relabel_consecutive(labels, min_size)


def refine(
    labels: np.ndarray,
    snippets: np.ndarray,
    noise_levels: np.ndarray,
    config: SortConfig,
    timer: StageTimer,
) -> np.ndarray:
    """The configured rounds of discriminant refinement (none when 0)."""
    if config.cluster.refine_rounds == 0:
        return labels
    with timer.step("refine"):
        return clustering.refine_by_discriminant(
            labels,
            snippets,
            noise_levels,
            config.cluster.refine_rounds,
            max_spikes_per_unit=config.cluster.max_spikes_to_fit,
            seed=config.seed,
        )


def echoes(
    spikes: np.ndarray, recording: Recording, config: SortConfig, timer: StageTimer
) -> np.ndarray:
    """Mask of the sorted spikes that are echoes of a louder unit's (see :mod:`curate`)."""
    fs = recording.sampling_frequency_hz
    with timer.step("curate"):
        echo = curate.echo_spikes(
            spikes["unit_index"],
            spikes["sample_index"],
            spikes["amplitude"],
            n_samples=recording.n_samples,
            max_lag_samples=ms_to_samples(curate.ECHO_MAX_LAG_MS, fs),
            jitter_samples=ms_to_samples(curate.ECHO_JITTER_MS, fs),
            min_fraction=config.cluster.echo_min_fraction,
        )
    if echo.any():
        logger.info("%s: removed %d echo spikes (the same spike detected twice)",
                    recording.name, int(echo.sum()))
    return echo


def merge_across_channels(
    spikes: np.ndarray,
    snippets: np.ndarray,
    noise_levels: np.ndarray,
    neighbourhoods: np.ndarray,
    recording: Recording,
    config: SortConfig,
    timer: StageTimer,
) -> np.ndarray:
    """Unit labels after merging one neuron's units of neighbouring peak channels (probes)."""
    cfg, fs = config.cluster, recording.sampling_frequency_hz
    with timer.step("merge_channels"):
        return clustering.merge_across_channels(
            spikes["unit_index"],
            snippets,
            noise_levels,
            spikes["channel_index"],
            neighbourhoods,
            spikes["sample_index"],
            max_difference=cfg.merge_max_difference_sigma,
            n_samples=recording.n_samples,
            refractory_samples=ms_to_samples(cfg.refractory_period_ms, fs),
            dead_time_samples=ms_to_samples(config.detect.dead_time_ms, fs),
            max_violation_ratio=cfg.split_max_violation_ratio,
        )


def rescue(
    spikes: np.ndarray,
    snippets: np.ndarray,
    noise_levels: np.ndarray,
    neighbourhoods: np.ndarray,
    config: SortConfig,
    timer: StageTimer,
) -> np.ndarray:
    """Unit labels after giving a probe's unassigned spikes to the units that fit them (none
    to units smaller than ``min_cluster_size``, whose spikes are unassigned first)."""
    cfg = config.cluster
    labels = clustering.relabel_consecutive(spikes["unit_index"], cfg.min_cluster_size)
    if cfg.rescue_unassigned_quantile <= 0:
        return labels
    with timer.step("rescue"):
        return rescue_unassigned_spikes(
            labels, snippets, noise_levels, spikes["channel_index"], neighbourhoods,
            quantile=cfg.rescue_unassigned_quantile, min_unit_spikes=cfg.min_cluster_size,
        )


def sort_recording(recording: Recording, config: SortConfig | None = None) -> SortResult:
    """Run every stage on ``recording`` and return the sorting (nothing written)."""
    config = validate(config or SortConfig())
    timer = StageTimer()
    peaks, snippets, noise_levels, neighbourhoods = detect_and_extract(recording, config, timer)
    spikes = np.zeros(len(peaks), dtype=SPIKE_DTYPE)
    for name in PEAK_DTYPE.names:
        spikes[name] = peaks[name]
    spikes["unit_index"] = -1
    features = None
    if len(peaks) < max(2, config.cluster.min_cluster_size):
        logger.warning(
            "%s: only %d spikes detected; nothing to cluster", recording.name, len(peaks)
        )
    else:
        # Small dense problems: one BLAS/OpenMP thread is faster and avoids oversubscription.
        with threadpool_limits(1):
            spikes["unit_index"], features = cluster_by_neighbourhood(
                snippets, peaks, noise_levels, neighbourhoods, recording, config, timer
            )
        keep = ~echoes(spikes, recording, config, timer)
        spikes, snippets = spikes[keep], snippets[keep]
        features = None if features is None else features[keep]
        if neighbourhoods.shape[1] < recording.n_channels:
            if config.cluster.merge_across_channels:
                spikes["unit_index"] = merge_across_channels(
                    spikes, snippets, noise_levels, neighbourhoods, recording, config, timer
                )
            spikes["unit_index"] = rescue(spikes, snippets, noise_levels, neighbourhoods, config,
                                          timer)
        spikes["unit_index"] = clustering.relabel_consecutive(
            spikes["unit_index"], config.cluster.min_cluster_size
        )
    units = spikes["unit_index"]
    n_units = int(units.max()) + 1 if len(spikes) else 0
    unit_channels = main_channels(units, spikes["channel_index"], n_units)
    templates = (
        main_channel_templates(snippets, units, n_units, spikes["channel_index"], unit_channels)
        if neighbourhoods.shape[1] < recording.n_channels
        else compute_templates(snippets, units, n_units)
    )
    templates = scatter_templates(
        templates,
        unit_channels,
        neighbourhoods,
        recording.n_channels,
    )
    return SortResult(
        spikes=spikes,
        templates=templates,
        sampling_frequency_hz=recording.sampling_frequency_hz,
        n_channels=recording.n_channels,
        features=features,
        timings_s=dict(timer.seconds),
        n_samples=recording.n_samples,
    )


def sort(
    recording: Recording,
    config: SortConfig | None = None,
    out_dir: str | Path | None = None,
    *,
    report: bool = True,
) -> SortResult:
    """Sort ``recording``; with ``out_dir`` also write the output folder (see README)."""
    config = validate(config or SortConfig())
    if out_dir is None:
        return sort_recording(recording, config)
    try:
        result = sort_recording(recording, config)
    except NeurosortError:
        raise
    except Exception as error:
        output.write_failure(out_dir, config, error)
        raise
    with output.staged_folder(out_dir) as staging:
        extra = {
            "recording": recording.name,
            "n_spikes": int(len(result.spikes)),
            "n_units": int(len(result.unit_ids)),
            "duration_s": recording.duration_s,
        }
        if report:
            from neurosort.report import write_sort_report

            timer = StageTimer()
            with timer.step("report"):
                write_sort_report(result, recording, config, staging / "report.html")
            result.timings_s.update(timer.seconds)
        output.write_result(staging, result, config, **extra)
    return result
