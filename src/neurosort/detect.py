"""Threshold detection: k x MAD, polarity, dead time, alignment to the peak, local exclusion."""

from __future__ import annotations

import numpy as np

from neurosort.registry import register
from neurosort.types import PEAK_DTYPE


def channel_neighbours(locations_um: np.ndarray, radius_um: float) -> np.ndarray:
    """Boolean (n_channels, n_channels) matrix: channels within ``radius_um`` of each other."""
    distances = np.linalg.norm(locations_um[:, None, :] - locations_um[None, :, :], axis=-1)
    return distances <= radius_um


def peak_score(traces: np.ndarray, noise_levels: np.ndarray, polarity: str) -> np.ndarray:
    """Signal in noise-sigma units, signed so that the polarity to detect is positive."""
    normalised = traces / np.maximum(noise_levels, 1e-12)
    if polarity == "negative":
        return -normalised
    if polarity == "positive":
        return normalised
    return np.abs(normalised)


@register("detect", "threshold")
def detect_threshold(
    traces: np.ndarray,
    noise_levels: np.ndarray,
    *,
    threshold: float,
    polarity: str,
    dead_time_samples: int,
    neighbours: np.ndarray,
) -> np.ndarray:
    """Peaks of (n_samples, n_channels) filtered traces above ``threshold`` x noise.

    A sample is kept when it crosses the threshold and is the largest score within
    ``dead_time_samples`` on either side across its neighbouring channels (ties go to the
    earliest sample and lowest channel), so each spike is reported once, at its peak.
    Peaks closer than the dead time to the block's edges are left out: callers pass
    blocks with margins.
    """
    score = peak_score(traces, noise_levels, polarity)
    samples, channels = np.nonzero(score > threshold)
    dead_time = int(dead_time_samples)
    inside = (samples >= dead_time) & (samples < len(score) - dead_time)
    samples, channels = samples[inside], channels[inside]
    # A peak is at least as large as its two neighbouring samples: a cheap first cut.
    own = score[samples, channels]
    local_top = own >= np.maximum(score[samples - 1, channels], score[samples + 1, channels])
    samples, channels = samples[local_top], channels[local_top]
    keep = np.zeros(samples.size, dtype=bool)
    # Only supra-threshold samples are compared with their neighbourhood (sparse and fast).
    offsets = np.arange(-dead_time, dead_time + 1)
    for channel in np.unique(channels):
        mine = channels == channel
        around = score[samples[mine, None] + offsets][:, :, neighbours[channel]]
        keep[mine] = score[samples[mine], channel] >= around.max(axis=(1, 2))
    samples, channels = samples[keep], channels[keep]
    samples, channels = _drop_ties(samples, channels, int(dead_time_samples), neighbours)
    peaks = np.zeros(samples.size, dtype=PEAK_DTYPE)
    peaks["sample_index"] = samples
    peaks["channel_index"] = channels
    peaks["amplitude"] = traces[samples, channels]
    return peaks


def _drop_ties(
    samples: np.ndarray, channels: np.ndarray, dead_time: int, neighbours: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Of equal-score peaks within the dead time on neighbouring channels keep the first.

    Strict local maxima are already more than ``dead_time`` apart, so only plateaus
    (equal scores) reach this point; comparing each peak with earlier candidates suffices.
    """
    order = np.lexsort((channels, samples))
    samples, channels = samples[order], channels[order]
    keep = np.ones(samples.size, dtype=bool)
    for channel in np.unique(channels):
        nearby = neighbours[channel][channels]
        near_samples = samples[nearby]
        near_rank = np.flatnonzero(nearby)
        own = np.flatnonzero(channels == channel)
        first_close = np.searchsorted(near_samples, samples[own] - dead_time, side="left")
        keep[own] = near_rank[first_close] >= own
    return samples[keep], channels[keep]
