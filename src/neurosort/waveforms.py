"""Snippets around detected peaks and per-unit templates."""

from __future__ import annotations

import numpy as np


def ms_to_samples(duration_ms: float, sampling_frequency_hz: float) -> int:
    """The nearest whole number of samples to ``duration_ms``."""
    return int(round(duration_ms * sampling_frequency_hz / 1000.0))


def snippet_offsets(
    sampling_frequency_hz: float, before_ms: float, after_ms: float
) -> tuple[int, int]:
    """Samples taken before and after the peak (the peak itself is at index ``before``)."""
    return ms_to_samples(before_ms, sampling_frequency_hz), ms_to_samples(
        after_ms, sampling_frequency_hz
    )


def channel_neighbourhoods(locations_um: np.ndarray, radius_um: float) -> np.ndarray:
    """(n_channels, k) channel indices: each channel's k nearest channels, itself first.

    k is the largest number of channels within ``radius_um`` of any channel. When every
    channel is in reach (a tetrode), each row is simply all channels in their own order.
    """
    distances = np.linalg.norm(locations_um[:, None, :] - locations_um[None, :, :], axis=-1)
    n_channels = len(locations_um)
    k = int((distances <= radius_um).sum(axis=1).max())
    if k >= n_channels:
        return np.tile(np.arange(n_channels), (n_channels, 1))
    return np.argsort(distances, axis=1, kind="stable")[:, :k]


def extract_snippets(
    traces: np.ndarray,
    peak_samples: np.ndarray,
    before: int,
    after: int,
    channels: np.ndarray | None = None,
) -> np.ndarray:
    """(n_peaks, before + after + 1, n_channels) float32 windows; peaks must lie inside.

    ``channels`` (n_peaks, k) restricts each snippet to those channels (its neighbourhood).
    """
    samples = peak_samples[:, None] + np.arange(-before, after + 1)[None, :]
    if channels is None:
        return traces[samples].astype(np.float32, copy=False)
    return traces[samples[:, :, None], channels[:, None, :]].astype(np.float32, copy=False)


def scatter_templates(
    templates: np.ndarray, unit_channels: np.ndarray, neighbourhoods: np.ndarray, n_channels: int
) -> np.ndarray:
    """Neighbourhood templates (n_units, n_samples, k) placed on all channels (zeros elsewhere)."""
    full = np.zeros(templates.shape[:2] + (n_channels,), dtype=np.float32)
    for unit, channel in enumerate(unit_channels):
        full[unit][:, neighbourhoods[channel]] = templates[unit]
    return full


def normalise_amplitude(snippets: np.ndarray) -> np.ndarray:
    """Scale each snippet to unit peak |amplitude| (shape-only features)."""
    peak = np.abs(snippets).reshape(len(snippets), -1).max(axis=1)
    return snippets / np.maximum(peak, 1e-12)[:, None, None]


def main_channels(labels: np.ndarray, channel_index: np.ndarray, n_units: int) -> np.ndarray:
    """Each unit's most common peak channel (-1 for a unit without spikes)."""
    assigned = labels >= 0
    counts = np.zeros((n_units, int(channel_index.max(initial=0)) + 1), dtype=np.int64)
    np.add.at(counts, (labels[assigned], channel_index[assigned]), 1)
    return np.where(counts.any(axis=1), counts.argmax(axis=1), -1)


def main_channel_templates(
    snippets: np.ndarray, labels: np.ndarray, n_units: int, channel_index: np.ndarray,
    unit_channels: np.ndarray,
) -> np.ndarray:
    """Median snippet of each unit over its spikes on its main channel ``unit_channels[unit]``:
    on a probe a unit merged across channels has snippets on several neighbourhoods."""
    main = labels >= 0
    main[main] = channel_index[main] == unit_channels[labels[main]]
    return compute_templates(snippets[main], labels[main], n_units)


def compute_templates(snippets: np.ndarray, labels: np.ndarray, n_units: int) -> np.ndarray:
    """Median snippet of each unit 0..n_units-1 (zeros for a unit with no spikes)."""
    templates = np.zeros((n_units,) + snippets.shape[1:], dtype=np.float32)
    for unit in range(n_units):
        members = snippets[labels == unit]
        if len(members):
            templates[unit] = np.median(members, axis=0)
    return templates


def subsample_peak_offsets(snippets: np.ndarray, before: int) -> np.ndarray:
    """Sub-sample position of each snippet's peak relative to sample ``before``, in [-0.5, 0.5].

    A parabola through the peak sample and its two neighbours on the peak channel.
    """
    channel = np.abs(snippets[:, before, :]).argmax(axis=1)
    peak_trace = snippets[np.arange(len(snippets)), before - 1 : before + 2, channel]
    peak_trace = peak_trace * np.sign(peak_trace[:, 1:2])
    left, centre, right = peak_trace.T
    curvature = left - 2 * centre + right
    safe = np.where(curvature < 0, curvature, -1.0)
    return np.where(curvature < 0, np.clip(0.5 * (left - right) / safe, -0.5, 0.5), 0.0)


def align_to_subsample_peak(snippets: np.ndarray, before: int, pad: int = 8) -> np.ndarray:
    """Shift each snippet by a fraction of a sample so that its peak sits exactly at ``before``.

    Peaks found on the sample grid jitter by up to half a sample; on steep spike flanks that
    jitter is larger than the differences between units. The shift is applied in the Fourier
    domain on an edge-padded copy.
    """
    if len(snippets) == 0 or before < 1 or before + 1 >= snippets.shape[1]:
        return snippets
    offsets = subsample_peak_offsets(snippets, before)
    padded = np.pad(snippets, ((0, 0), (pad, pad), (0, 0)), mode="edge")
    frequencies = np.fft.rfftfreq(padded.shape[1])
    phase = np.exp(2j * np.pi * frequencies[None, :, None] * offsets[:, None, None])
    shifted = np.fft.irfft(np.fft.rfft(padded, axis=1) * phase, n=padded.shape[1], axis=1)
    return shifted[:, pad : pad + snippets.shape[1]].astype(np.float32)
