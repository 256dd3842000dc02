"""Streaming inference: slide a window along a long signal, one window at a time."""

from __future__ import annotations

import time
from collections import deque

import numpy as np

from neurosort.errors import InputError
from neurosort.states.modelfile import TrainedModel
from neurosort.states.policy import UNKNOWN_STATE, Policy
from neurosort.states.windows import standardise, window_starts


class RunningScaler:
    """Causal per-recording standardisation from the last ``history_samples`` samples seen.

    ``history_samples=0`` uses everything seen so far; a finite history lets the statistics
    recover after a high-amplitude episode such as a seizure.
    """

    def __init__(self, signal: np.ndarray, level: bool, history_samples: int = 0) -> None:
        padded = np.pad(signal.astype(np.float64), ((0, 0), (1, 0)))
        self._sum = np.cumsum(padded, axis=1)
        self._square_sum = np.cumsum(padded**2, axis=1)
        self._level = level
        self._history = history_samples

    def scale(self, window: np.ndarray, end: int) -> np.ndarray:
        begin = max(0, end - self._history) if self._history > 0 else 0
        count = end - begin
        mean = (self._sum[:, end] - self._sum[:, begin]) / count
        square_mean = (self._square_sum[:, end] - self._square_sum[:, begin]) / count
        variance = np.maximum(square_mean - mean**2, 0.0)
        return standardise(window, mean, np.sqrt(variance), self._level)


def check_stream_input(trained: TrainedModel, signal: np.ndarray,
                       sampling_frequency_hz: float, where: str) -> None:
    if abs(sampling_frequency_hz - trained.sampling_frequency_hz) > 1e-3:
        raise InputError(f"{where}: sampling rate {sampling_frequency_hz:g} Hz differs from the "
                         f"model's {trained.sampling_frequency_hz:g} Hz")
    expected = trained.n_signal_channels
    if signal.shape[0] != expected:
        raise InputError(f"{where}: {signal.shape[0]} channels, the model expects {expected}")
    if signal.shape[1] < trained.window.length_samples:
        raise InputError(f"{where}: signal of {signal.shape[1]} samples is shorter than one "
                         f"window ({trained.window.length_samples} samples)")
    if np.all(signal == signal[:, :1]):
        raise InputError(f"{where}: constant signal (every sample equal): nothing to classify")


def stream_predict(
    trained: TrainedModel,
    signal: np.ndarray,
    sampling_frequency_hz: float,
    hop_samples: int | None = None,
    smoothing_windows: int = 3,
    confidence_threshold: float = 0.5,
    policy: Policy | None = None,
    where: str = "signal",
    history_samples: int | None = None,
) -> list[dict]:
    """Per-window probabilities, smoothed state, confidence, latency and recommendation.

    The smoothed state is the argmax of the mean probabilities of the last
    ``smoothing_windows`` windows; below the confidence threshold (the policy's when given)
    the state is ``unknown`` and nothing is recommended; so it is in a flat window (a lost
    contact: every sample equal), which does not enter the smoothing. Per-recording scaling
    uses the last ``history_samples`` samples (default: the median training recording length).
    """
    check_stream_input(trained, signal, sampling_frequency_hz, where)
    length = trained.window.length_samples
    hop = hop_samples or trained.window.hop_samples
    threshold = policy.confidence_threshold if policy else confidence_threshold
    scaling = trained.window.scaling
    if history_samples is None:
        history_samples = int(trained.card.get("median_recording_samples", 0))
    scaler = (
        RunningScaler(signal, scaling == "recording_level", history_samples)
        if scaling != "global" else None
    )
    recent: deque[np.ndarray] = deque(maxlen=max(smoothing_windows, 1))
    rows = []
    for start in window_starts(signal.shape[1], length, hop):
        began = time.perf_counter()
        window = signal[:, start : start + length]
        flat = bool(np.all(window == window[:, :1]))
        if scaler is not None:
            window = scaler.scale(window, int(start + length))
        probabilities = trained.predict_proba(window[None].astype(np.float32))[0]
        latency_ms = (time.perf_counter() - began) * 1000
        if not flat:
            recent.append(probabilities)
        smoothed = np.zeros_like(probabilities) if flat or not recent else np.mean(recent, 0)
        confidence = float(smoothed.max())
        state = trained.class_names[int(smoothed.argmax())]
        state = state if confidence >= threshold and not flat else UNKNOWN_STATE
        stimulation = policy.recommend(state, confidence) if policy else None
        rows.append({
            "start_s": start / sampling_frequency_hz,
            "end_s": (start + length) / sampling_frequency_hz,
            "probabilities": dict(zip(trained.class_names, probabilities.round(4).tolist(),
                                      strict=True)),
            "state": state,
            "confidence": round(confidence, 4),
            "latency_ms": round(latency_ms, 3),
            "stimulation": stimulation.to_dict() if stimulation else None,
        })
    return rows
