"""Snippets as encoder inputs: scaled to noise units, channels first, resampled on request."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True)
class ModelWindow:
    """The spike window a pretrained encoder was trained on."""

    sampling_frequency_hz: float
    peak_index: int
    n_samples: int


def to_inputs(snippets: np.ndarray, sigma: float) -> np.ndarray:
    """(n, n_channels, n_samples) float32 in noise units."""
    return np.ascontiguousarray(snippets.transpose(0, 2, 1), dtype=np.float32) / sigma


def to_model_window(
    inputs: np.ndarray, peak: int, window: ModelWindow, sampling_frequency_hz: float
) -> np.ndarray:
    """``inputs`` (peak at sample ``peak``) resampled to the model's rate, then cropped or
    edge-padded so the peak sits where the model expects it. With an unknown rate (0) the
    window is assumed to span the model's window in milliseconds and is only resampled."""
    n_samples = inputs.shape[-1]
    if sampling_frequency_hz <= 0:
        if n_samples == window.n_samples:
            return inputs
        return resample(inputs, window.n_samples, axis=-1).astype(np.float32)
    ratio = window.sampling_frequency_hz / sampling_frequency_hz
    if ratio != 1:
        n_samples = max(2, round(n_samples * ratio))
        inputs = resample(inputs, n_samples, axis=-1).astype(np.float32)
        peak = round(peak * ratio)
    shift = window.peak_index - peak
    pad_left, pad_right = max(0, shift), max(0, window.n_samples - n_samples - shift)
    padded = np.pad(inputs, ((0, 0), (0, 0), (pad_left, pad_right)), mode="edge")
    start = pad_left - shift
    return np.ascontiguousarray(padded[..., start : start + window.n_samples])


def per_channel(inputs: np.ndarray) -> np.ndarray:
    """(n, n_channels, n_samples) -> (n * n_channels, 1, n_samples), spike-major."""
    return inputs.reshape(-1, 1, inputs.shape[-1])


def seeded_subsample(n: int, limit: int, seed: int) -> np.ndarray:
    """Sorted indices of at most ``limit`` of ``n`` items, drawn reproducibly."""
    if n <= limit:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, limit, replace=False))


def peak_index(inputs: np.ndarray) -> int:
    """Sample of the largest mean absolute value of (n, channels, samples) ``inputs``: where
    the snippets are aligned."""
    return int(np.abs(inputs).mean(axis=(0, 1)).argmax())
