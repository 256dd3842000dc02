"""Snippets around detected peaks and per-unit templates."""

from __future__ import annotations

import numpy as np


def snippet_offsets(
    sampling_frequency_hz: float, before_ms: float, after_ms: float
) -> tuple[int, int]:
    """Samples taken before and after the peak (the peak itself is at index ``before``)."""
    before = int(round(before_ms * sampling_frequency_hz / 1000.0))
    after = int(round(after_ms * sampling_frequency_hz / 1000.0))
    return before, after


def extract_snippets(
    traces: np.ndarray, peak_samples: np.ndarray, before: int, after: int
) -> np.ndarray:
    """(n_peaks, before + after + 1, n_channels) float32 windows; peaks must lie inside."""
    offsets = np.arange(-before, after + 1)
    return traces[peak_samples[:, None] + offsets[None, :]].astype(np.float32, copy=False)


def normalise_amplitude(snippets: np.ndarray) -> np.ndarray:
    """Scale each snippet to unit peak |amplitude| (shape-only features)."""
    peak = np.abs(snippets).reshape(len(snippets), -1).max(axis=1)
    return snippets / np.maximum(peak, 1e-12)[:, None, None]


def compute_templates(snippets: np.ndarray, labels: np.ndarray, n_units: int) -> np.ndarray:
    """Median snippet of each unit 0..n_units-1 (zeros for a unit with no spikes)."""
    templates = np.zeros((n_units,) + snippets.shape[1:], dtype=np.float32)
    for unit in range(n_units):
        members = snippets[labels == unit]
        if len(members):
            templates[unit] = np.median(members, axis=0)
    return templates
