"""Learned detector: low-threshold candidates, DWT + multi-branch 1D CNN spike/noise classifier.

Each candidate (a local peak above a low threshold, found as by the threshold detector) is cut
as a window on its own channel, divided by that channel's noise sigma (so the model is
scale-free), resampled to the model's rate, decomposed with a discrete wavelet transform and
classified by a CNN with one branch per wavelet level and one on the raw window. Candidates
whose spike probability reaches ``probability`` are kept, at their peak sample.

Torch is imported inside functions only: importing this module (the registry does) stays cheap.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pywt
from scipy.signal import resample_poly

from neurosort.config import DetectConfig
from neurosort.detect import detect_threshold
from neurosort.errors import InputError
from neurosort.log import get_logger
from neurosort.registry import register

logger = get_logger(__name__)

DEFAULT_WEIGHTS = Path(__file__).resolve().parent / "weights" / "detector_cnn.pt"
FORMAT = "neurosort-detector-cnn/1"
RESAMPLE_PAD_SAMPLES = 16
MAX_ABS_SIGMA = 100.0
BATCH_SIZE = 4096
PROBABILITY_GRID = tuple(round(0.05 * step, 2) for step in range(1, 20))
PR_THRESHOLDS_MAD = (3.0, 3.5, 4.0, 4.5, 5.0, 5.5, 6.0, 7.0, 8.0)


@dataclass(frozen=True)
class WindowSpec:
    """How candidate windows are cut and transformed; stored with the weights."""

    model_rate_hz: float = 24000.0
    before_samples: int = 24
    after_samples: int = 40
    wavelet: str = "sym4"
    levels: int = 3
    skip_finest_levels: int = 1
    candidate_threshold_mad: float = 3.0

    @property
    def n_samples(self) -> int:
        return self.before_samples + self.after_samples

    def coefficient_lengths(self) -> list[int]:
        """Lengths of the kept DWT coefficient arrays, coarsest (approximation) first."""
        return [c.shape[-1] for c in wavelet_coefficients(np.zeros((1, self.n_samples)), self)]

    @property
    def input_size(self) -> int:
        return self.n_samples + sum(self.coefficient_lengths())


def wavelet_coefficients(windows: np.ndarray, spec: WindowSpec) -> list[np.ndarray]:
    """DWT levels of each window (rows): [A_L, D_L, ..., D_(1+skip)], finest levels dropped.

    With 64 samples at 24 kHz and sym4 (3 levels, the most the window allows), A3 spans
    0-1.5 kHz, D3 1.5-3 kHz and D2 3-6 kHz, each with more energy in spike than in noise
    windows; D1 (6-12 kHz) lies above the band-pass and is left to the raw-window branch.
    """
    coefficients = pywt.wavedec(
        windows, spec.wavelet, mode="periodization", level=spec.levels, axis=-1
    )
    return coefficients[: len(coefficients) - spec.skip_finest_levels]


@functools.cache
def _input_matrix(spec: WindowSpec) -> np.ndarray:
    """(n_samples, input_size): the identity beside the (linear) kept DWT of each window."""
    identity = np.eye(spec.n_samples)
    parts = [identity, *wavelet_coefficients(identity, spec)]
    return np.concatenate(parts, axis=1).astype(np.float32)


def model_inputs(windows: np.ndarray, spec: WindowSpec) -> np.ndarray:
    """(n, input_size) float32: asinh(x / 2) of the raw window followed by its kept wavelet
    coefficients; asinh is linear for noise-sized values, logarithmic for large spikes and
    artefacts."""
    windows = np.asarray(windows, dtype=np.float32).reshape(-1, spec.n_samples)
    return np.arcsinh((windows @ _input_matrix(spec)) / 2, dtype=np.float32)


def resampling_ratio(sampling_frequency_hz: float, spec: WindowSpec) -> tuple[int, int]:
    """(up, down) with sampling_frequency * up / down ~= the model's rate."""
    ratio = Fraction(spec.model_rate_hz / sampling_frequency_hz).limit_denominator(64)
    return ratio.numerator, ratio.denominator


def cut_windows(
    traces: np.ndarray,
    noise_levels: np.ndarray,
    samples: np.ndarray,
    channels: np.ndarray,
    sampling_frequency_hz: float,
    spec: WindowSpec,
) -> np.ndarray:
    """(n, spec.n_samples) windows around each peak at the model's rate, in noise sigmas."""
    up, down = resampling_ratio(sampling_frequency_hz, spec)
    reach = max(spec.before_samples, spec.after_samples)
    half = down * -(-(reach + (RESAMPLE_PAD_SAMPLES if up != down else 0)) // up)
    padded = np.pad(np.asarray(traces, np.float32), ((half, half), (0, 0)))
    offsets = np.arange(-half, half)
    native = padded[samples[:, None] + half + offsets, channels[:, None]]
    native /= np.maximum(noise_levels[channels], 1e-12)[:, None].astype(np.float32)
    if up != down:
        native = resample_poly(native, up, down, axis=1).astype(np.float32)
    centre = half * up // down
    windows = native[:, centre - spec.before_samples : centre + spec.after_samples]
    return np.clip(windows, -MAX_ABS_SIGMA, MAX_ABS_SIGMA)


def find_candidates(
    traces: np.ndarray,
    noise_levels: np.ndarray,
    spec: WindowSpec,
    *,
    polarity: str,
    dead_time_samples: int,
    neighbours: np.ndarray,
) -> np.ndarray:
    """Locally exclusive peaks above the model's low candidate threshold (high recall)."""
    return detect_threshold(
        traces,
        noise_levels,
        threshold=spec.candidate_threshold_mad,
        polarity=polarity,
        dead_time_samples=dead_time_samples,
        neighbours=neighbours,
    )


@functools.cache
def _network_class() -> type:
    import torch
    from torch import nn

    class LevelBranch(nn.Module):
        """Two small convolutions over one coefficient array, flattened."""

        def __init__(self, length: int, channels: int) -> None:
            super().__init__()
            pool = 2 if length >= 16 else 1
            self.layers = nn.Sequential(
                nn.Conv1d(1, channels, 3, padding=1),
                nn.ReLU(inplace=True),
                nn.Conv1d(channels, channels, 3, padding=1),
                nn.ReLU(inplace=True),
                nn.MaxPool1d(pool),
                nn.Flatten(),
            )
            self.n_outputs = channels * (length // pool)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.layers(x)

    class RawBranch(nn.Module):
        """Three convolutions with pooling over the raw window, flattened."""

        def __init__(self, length: int, channels: int) -> None:
            super().__init__()
            self.layers = nn.Sequential(
                nn.Conv1d(1, channels, 5, padding=2),
                nn.ReLU(inplace=True),
                nn.MaxPool1d(2),
                nn.Conv1d(channels, channels, 5, padding=2),
                nn.ReLU(inplace=True),
                nn.MaxPool1d(2),
                nn.Conv1d(channels, channels, 3, padding=1),
                nn.ReLU(inplace=True),
                nn.Flatten(),
            )
            self.n_outputs = channels * (length // 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.layers(x)

    class SpikeNet(nn.Module):
        """Logit of 'spike' for ``model_inputs`` rows: [raw window | A_L | D_L | ... ]."""

        def __init__(self, lengths: list[int], channels: int = 8, hidden: int = 32) -> None:
            super().__init__()
            self.lengths = list(lengths)
            self.branches = nn.ModuleList(
                [RawBranch(lengths[0], channels)]
                + [LevelBranch(length, channels) for length in lengths[1:]]
            )
            width = sum(branch.n_outputs for branch in self.branches)
            self.head = nn.Sequential(
                nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(0.1), nn.Linear(hidden, 1)
            )

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            parts = torch.split(x.unsqueeze(1), self.lengths, dim=2)
            features = [branch(part) for branch, part in zip(self.branches, parts, strict=True)]
            return self.head(torch.cat(features, dim=1)).squeeze(1)

    return SpikeNet


def build_network(spec: WindowSpec, channels: int = 8, hidden: int = 32) -> Any:
    """An untrained network for windows cut with ``spec``."""
    return _network_class()([spec.n_samples, *spec.coefficient_lengths()], channels, hidden)


@dataclass
class SpikeClassifier:
    """A trained network with the window spec it was trained for."""

    spec: WindowSpec
    network: Any
    architecture: dict[str, int]

    def probabilities(self, windows: np.ndarray) -> np.ndarray:
        """Spike probability of each (n, spec.n_samples) window."""
        import torch

        from neurosort.nn import predict_batches

        if len(windows) == 0:
            return np.zeros(0, np.float32)
        inputs = torch.from_numpy(model_inputs(windows, self.spec))
        logits = predict_batches(self.network, inputs, batch_size=BATCH_SIZE)
        return torch.sigmoid(logits).numpy().astype(np.float32)

    def payload(self, extra: dict[str, Any] | None = None) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "spec": asdict(self.spec),
            "architecture": dict(self.architecture),
            "state_dict": self.network.state_dict(),
            **(extra or {}),
        }

    def save(self, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
        from neurosort.nn import save_checkpoint

        return save_checkpoint(path, self.payload(extra))


def new_classifier(spec: WindowSpec, channels: int = 8, hidden: int = 32) -> SpikeClassifier:
    architecture = {"channels": channels, "hidden": hidden}
    return SpikeClassifier(spec, build_network(spec, **architecture), architecture)


def load_classifier(path: str | Path) -> SpikeClassifier:
    """Read weights written by :meth:`SpikeClassifier.save`; InputError names what is wrong."""
    from neurosort.nn import load_checkpoint, resolve_device

    payload = load_checkpoint(path)
    if payload.get("format") != FORMAT:
        raise InputError(f"{path}: not a neurosort CNN detector file (format {FORMAT} expected)")
    try:
        spec = WindowSpec(**payload["spec"])
        architecture = {key: int(value) for key, value in payload["architecture"].items()}
        network = build_network(spec, **architecture)
        network.load_state_dict(payload["state_dict"])
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise InputError(f"{path}: incompatible CNN detector weights ({reason})") from error
    network.to(resolve_device("auto")).eval()
    return SpikeClassifier(spec, network, architecture)


@functools.cache
def default_classifier() -> SpikeClassifier:
    """The shipped weights, loaded once per process."""
    classifier = load_classifier(DEFAULT_WEIGHTS)
    logger.debug("loaded CNN detector weights from %s", DEFAULT_WEIGHTS)
    return classifier


def classify_candidates(
    traces: np.ndarray,
    noise_levels: np.ndarray,
    candidates: np.ndarray,
    sampling_frequency_hz: float,
    classifier: SpikeClassifier,
) -> np.ndarray:
    """Spike probability of each candidate peak (PEAK_DTYPE)."""
    windows = cut_windows(
        traces,
        np.asarray(noise_levels, np.float32),
        candidates["sample_index"],
        candidates["channel_index"],
        sampling_frequency_hz,
        classifier.spec,
    )
    return classifier.probabilities(windows)


@register("detect", "cnn")
def detect_cnn(
    traces: np.ndarray,
    noise_levels: np.ndarray,
    *,
    threshold: float,
    polarity: str,
    dead_time_samples: int,
    neighbours: np.ndarray,
    probability: float = DetectConfig.cnn_probability,
    sampling_frequency_hz: float = 24000.0,
    classifier: SpikeClassifier | None = None,
) -> np.ndarray:
    """Peaks of (n_samples, n_channels) filtered traces that the CNN calls spikes.

    Candidates are found like the threshold detector's peaks (polarity, dead time, local
    exclusion over ``neighbours``) but at the model's own low threshold
    (``candidate_threshold_mad`` of its weights, the level it was trained on), so ``threshold``
    is not used; a candidate is kept when its spike probability is >= ``probability``.
    ``classifier`` defaults to the shipped weights.
    """
    candidates, scores = score_candidates(
        traces,
        noise_levels,
        polarity=polarity,
        dead_time_samples=dead_time_samples,
        neighbours=neighbours,
        sampling_frequency_hz=sampling_frequency_hz,
        classifier=classifier or default_classifier(),
    )
    return candidates[scores >= probability]


def score_candidates(
    traces: np.ndarray,
    noise_levels: np.ndarray,
    *,
    polarity: str,
    dead_time_samples: int,
    neighbours: np.ndarray,
    sampling_frequency_hz: float,
    classifier: SpikeClassifier,
) -> tuple[np.ndarray, np.ndarray]:
    """Every candidate peak (PEAK_DTYPE) and its spike probability."""
    candidates = find_candidates(
        traces,
        noise_levels,
        classifier.spec,
        polarity=polarity,
        dead_time_samples=dead_time_samples,
        neighbours=neighbours,
    )
    scores = classify_candidates(
        traces, noise_levels, candidates, sampling_frequency_hz, classifier
    )
    return candidates, scores


def precision_recall_curve(
    recording: Any,
    truth_sample_index: np.ndarray,
    config: Any,
    match_window_samples: int,
) -> list[dict[str, float]]:
    """Detection precision/recall against ground truth as the method's decision knob varies.

    ``cnn`` sweeps ``detect.cnn_probability``; ``threshold`` sweeps ``detect.threshold_mad``.
    """
    from neurosort.config import replace
    from neurosort.detection import detect_recording
    from neurosort.evaluate import detection_scores

    if config.detect.method == "cnn":
        knob, values = "cnn_probability", PROBABILITY_GRID
    else:
        knob, values = "threshold_mad", PR_THRESHOLDS_MAD
    curve = []
    for value in values:
        detect = replace(config.detect, **{knob: value})
        peaks = detect_recording(recording, replace(config, detect=detect))
        scores = detection_scores(peaks["sample_index"], truth_sample_index, match_window_samples)
        curve.append({knob: value, **{k: scores[k] for k in ("precision", "recall", "f1")}})
    return curve
