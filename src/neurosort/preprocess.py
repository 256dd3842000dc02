"""Filtering, referencing, whitening and noise estimates, applied chunk by chunk."""

from __future__ import annotations

import functools
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from scipy import signal

from neurosort.config import PreprocessConfig
from neurosort.errors import InputError
from neurosort.io import ChunkSpan, iter_chunks
from neurosort.log import get_logger
from neurosort.types import Recording

logger = get_logger(__name__)

MAD_TO_SIGMA = 1.0 / 0.6745


@functools.lru_cache(maxsize=32)
def bandpass_sos(
    sampling_frequency_hz: float, low_hz: float, high_hz: float, order: int = 3
) -> np.ndarray:
    """Butterworth band-pass (or high-pass when ``high_hz`` reaches Nyquist) as SOS.

    Cached: chunked filtering designs the same filter once, not once per chunk."""
    nyquist = sampling_frequency_hz / 2.0
    if high_hz >= nyquist * 0.95:
        logger.info(
            "band-pass upper edge %.0f Hz is at or above 0.95 x Nyquist (%.0f Hz): high-pass only",
            high_hz,
            nyquist,
        )
        return signal.butter(
            order, low_hz, btype="highpass", fs=sampling_frequency_hz, output="sos"
        )
    if low_hz <= 0:
        return signal.butter(
            order, high_hz, btype="lowpass", fs=sampling_frequency_hz, output="sos"
        )
    return signal.butter(
        order, [low_hz, high_hz], btype="bandpass", fs=sampling_frequency_hz, output="sos"
    )


def bandpass(
    traces: np.ndarray,
    sampling_frequency_hz: float,
    low_hz: float = 300.0,
    high_hz: float = 6000.0,
    order: int = 3,
) -> np.ndarray:
    """Zero-phase band-pass along axis 0 of (n_samples, n_channels) traces."""
    sos = bandpass_sos(sampling_frequency_hz, low_hz, high_hz, order)
    return signal.sosfiltfilt(sos, traces, axis=0).astype(np.float32)


def notch(
    traces: np.ndarray, sampling_frequency_hz: float, freq_hz: float, quality: float = 30.0
) -> np.ndarray:
    b, a = signal.iirnotch(freq_hz, quality, fs=sampling_frequency_hz)
    return signal.filtfilt(b, a, traces, axis=0).astype(np.float32)


def mad_noise_levels(traces: np.ndarray) -> np.ndarray:
    """Robust per-channel noise sigma: median(|x - median(x)|) / 0.6745."""
    centred = traces - np.median(traces, axis=0)
    return (np.median(np.abs(centred), axis=0) * MAD_TO_SIGMA).astype(np.float32)


def common_median_reference(traces: np.ndarray) -> np.ndarray:
    return traces - np.median(traces, axis=1, keepdims=True)


@dataclass
class Preprocessor:
    """Estimates noise (and whitening) on a sample of the recording, then filters chunk-wise.

    ``fit`` reads at most ``n_noise_chunks`` one-second pieces spread over the recording, so
    its cost does not grow with the recording's length.
    """

    config: PreprocessConfig
    n_noise_chunks: int = 20
    seed: int = 0

    def fit(self, recording: Recording) -> Preprocessor:
        nyquist_hz = recording.sampling_frequency_hz / 2.0
        if self.config.bandpass_low_hz >= nyquist_hz:
            raise InputError(
                f"{recording.name}: sampled at {recording.sampling_frequency_hz:g} Hz, so the "
                f"band-pass low edge {self.config.bandpass_low_hz:g} Hz is above Nyquist: check "
                "the sampling rate or lower preprocess.bandpass_low_hz"
            )
        self.sampling_frequency_hz_ = recording.sampling_frequency_hz
        self.margin_samples_ = int(0.02 * recording.sampling_frequency_hz)
        self.use_reference_ = self.config.common_reference == "median" or (
            self.config.common_reference == "auto" and recording.n_channels >= 8
        )
        self.whitening_ = None
        sample = self._noise_sample(recording)
        self.noise_levels_ = mad_noise_levels(sample)
        if self.config.whiten == "global" and recording.n_channels > 1:
            self.whitening_ = self._whitening_matrix(sample)
            self.noise_levels_ = mad_noise_levels(sample @ self.whitening_)
        return self

    def _noise_sample(self, recording: Recording) -> np.ndarray:
        piece = int(recording.sampling_frequency_hz)
        n_pieces = max(1, recording.n_samples // piece)
        rng = np.random.default_rng(self.seed)
        picks = np.sort(
            rng.choice(n_pieces, size=min(n_pieces, self.n_noise_chunks), replace=False)
        )
        pieces = []
        for index in picks:
            start = index * piece
            raw = recording.get_traces(
                start - self.margin_samples_, start + piece + self.margin_samples_
            )
            filtered = self.apply(raw)
            pieces.append(filtered[self.margin_samples_ : self.margin_samples_ + piece])
        sample = np.concatenate(pieces, axis=0)
        if len(sample) == 0:
            raise InputError(
                f"{recording.name}: {recording.n_samples} samples is too short to estimate the "
                f"noise level after the filter's {self.margin_samples_}-sample edge"
            )
        return sample

    @staticmethod
    def _whitening_matrix(sample: np.ndarray) -> np.ndarray:
        covariance = np.cov(sample, rowvar=False)
        eigvals, eigvecs = np.linalg.eigh(covariance)
        eps = 1e-6 * eigvals.max()
        scale = np.median(mad_noise_levels(sample))
        return (eigvecs @ np.diag(1.0 / np.sqrt(eigvals + eps)) @ eigvecs.T * scale).astype(
            np.float32
        )

    def apply(self, raw: np.ndarray) -> np.ndarray:
        """Filter (and reference/whiten) one block of raw microvolt traces."""
        cfg = self.config
        traces = bandpass(
            raw,
            self.sampling_frequency_hz_,
            cfg.bandpass_low_hz,
            cfg.bandpass_high_hz,
            cfg.filter_order,
        )
        if cfg.notch_hz > 0:
            traces = notch(traces, self.sampling_frequency_hz_, cfg.notch_hz, cfg.notch_quality)
        if self.use_reference_:
            traces = common_median_reference(traces)
        if self.whitening_ is not None:
            traces = traces @ self.whitening_
        return traces.astype(np.float32, copy=False)

    def chunks(
        self, recording: Recording, extra_margin_samples: int = 0
    ) -> Iterator[tuple[ChunkSpan, np.ndarray]]:
        """Yield each chunk's span and its filtered traces including ``extra_margin_samples``.

        Filtering reads a further margin on each side that is cut away, so chunk borders
        carry no filter edge effects.
        """
        chunk = int(self.config.chunk_duration_s * recording.sampling_frequency_hz)
        margin = self.margin_samples_
        for span in iter_chunks(recording.n_samples, chunk, extra_margin_samples):
            read_start = span.read_start - margin
            raw = recording.get_traces(read_start, span.read_end + margin)
            cut = span.read_start - max(0, read_start)
            filtered = self.apply(raw)[cut : cut + span.read_end - span.read_start]
            yield span, filtered
