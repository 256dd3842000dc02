"""Detection alone: filter a recording chunk by chunk and find its peaks with the configured
detector. Imports neither scikit-learn nor the sorting stages, so `neurosort detect` starts fast.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from neurosort.config import SortConfig, validate
from neurosort.detect import channel_neighbours
from neurosort.io import ChunkSpan
from neurosort.log import StageTimer, progress
from neurosort.preprocess import Preprocessor
from neurosort.registry import get
from neurosort.types import PEAK_DTYPE, Recording
from neurosort.waveforms import ms_to_samples


def detected_chunks(
    recording: Recording, config: SortConfig, timer: StageTimer,
    margins_samples: tuple[int, int] = (0, 0),
) -> tuple[Preprocessor, Iterator[tuple[ChunkSpan, np.ndarray, np.ndarray]]]:
    """The fitted preprocessor and, chunk by chunk, (span, filtered traces, peaks of the
    chunk's core with chunk-local sample indices), keeping only peaks at least
    ``margins_samples`` (before, after) from the ends of the traces."""
    fs = recording.sampling_frequency_hz
    with timer.step("preprocess_fit"):
        preprocessor = Preprocessor(config.preprocess, seed=config.seed).fit(recording)
    detector = get("detect", config.detect.method)
    neighbours = channel_neighbours(
        recording.channel_locations_um, config.detect.exclusion_radius_um
    )
    dead_time = max(1, ms_to_samples(config.detect.dead_time_ms, fs))
    detector_options = {}
    if config.detect.method == "cnn":
        detector_options = {
            "probability": config.detect.cnn_probability,
            "sampling_frequency_hz": fs,
        }

    def chunks():
        before, after = margins_samples
        spans = preprocessor.chunks(recording, extra_margin_samples=max(before, after) + dead_time)
        n_chunks = -(-recording.n_samples // int(config.preprocess.chunk_duration_s * fs))
        for span, traces in progress(timer.each("filter", spans), total=n_chunks, desc="detect"):
            with timer.step("detect"):
                peaks = detector(
                    traces,
                    preprocessor.noise_levels_,
                    threshold=config.detect.threshold_mad,
                    polarity=config.detect.polarity,
                    dead_time_samples=dead_time,
                    neighbours=neighbours,
                    **detector_options,
                )
                local = peaks["sample_index"]
                core = (local >= span.left) & (local < span.left + span.end - span.start)
                core &= (local >= before) & (local < len(traces) - after)
            yield span, traces, peaks[core]

    return preprocessor, chunks()


def detect_recording(
    recording: Recording, config: SortConfig | None = None, timer: StageTimer | None = None
) -> np.ndarray:
    """Preprocess and detect only: the peaks (PEAK_DTYPE) of the whole recording."""
    config = validate(config or SortConfig())
    _, chunks = detected_chunks(recording, config, timer or StageTimer())
    all_peaks = []
    for span, _, peaks in chunks:
        peaks["sample_index"] += span.read_start
        all_peaks.append(peaks)
    return np.concatenate(all_peaks) if all_peaks else np.zeros(0, PEAK_DTYPE)
