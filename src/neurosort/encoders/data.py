"""Snippets as encoder inputs: scaled to noise units, channels first, resampled on request."""

from __future__ import annotations

import numpy as np
from scipy.signal import resample

BASELINE_SAMPLES = 5
MAD_TO_SIGMA = 1.4826


def noise_sigma(snippets: np.ndarray) -> float:
    """Robust noise level of (n, n_samples, n_channels) snippets from their first samples,
    which precede the peak and hold mostly background."""
    baseline = snippets[:, :BASELINE_SAMPLES, :].ravel()
    if baseline.size == 0:
        return 1.0
    sigma = MAD_TO_SIGMA * float(np.median(np.abs(baseline - np.median(baseline))))
    return sigma if sigma > 0 else float(np.std(baseline)) or 1.0


def to_inputs(snippets: np.ndarray, sigma: float, n_samples: int | None = None) -> np.ndarray:
    """(n, n_channels, n_samples) float32 in noise units; resampled (FFT) to ``n_samples``
    samples when given and different, so a model trained on one window length serves
    recordings of another sampling rate with the same window in milliseconds."""
    inputs = np.ascontiguousarray(snippets.transpose(0, 2, 1), dtype=np.float32) / sigma
    if n_samples is not None and inputs.shape[-1] != n_samples:
        inputs = resample(inputs, n_samples, axis=-1).astype(np.float32)
    return inputs


def per_channel(inputs: np.ndarray) -> np.ndarray:
    """(n, n_channels, n_samples) -> (n * n_channels, 1, n_samples), spike-major."""
    return inputs.reshape(-1, 1, inputs.shape[-1])


def seeded_subsample(n: int, limit: int, seed: int) -> np.ndarray:
    """Sorted indices of at most ``limit`` of ``n`` items, drawn reproducibly."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))
