"""Fit time on 10,000 spikes and embedding time for 100,000 spikes of every feature method.

    python scripts/encoder_speed.py [RECORDING]   # default: mearec/train/mono_train_06_u12_n2

Spikes are detected and cut as the pipeline does; the 100,000 are the recording's spikes
repeated. Torch and BLAS run on one thread (as in the pipeline).
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from neurosort.config import SortConfig
from neurosort.features import make_features
from neurosort.io import load_recording
from neurosort.log import StageTimer
from neurosort.pipeline import detect_and_extract

DATA = Path(os.environ.get("NEUROSORT_DATA", Path(__file__).resolve().parents[2] / "shared/data"))
METHODS = ["pca", "wavelet", "s4", "contrastive_cnn", "ae_ensemble", "ae_semisup", "ae_atom"]
MODES = {"s4": ["pretrained", "self"], "contrastive_cnn": ["pretrained", "self"]}


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else DATA / "mearec/train/mono_train_06_u12_n2.npz"
    recording = load_recording(path)
    _, snippets, _, _ = detect_and_extract(recording, SortConfig(), StageTimer())
    rng = np.random.default_rng(0)
    fit_set = snippets[rng.choice(len(snippets), 10000, replace=len(snippets) < 10000)]
    many = np.resize(snippets, (100000, *snippets.shape[1:]))
    fs = recording.sampling_frequency_hz
    print(f"{Path(path).name}: {len(snippets)} spikes detected")
    print("| method | training | fit 10,000 spikes (s) | embed 100,000 spikes (s) |")
    print("|---|---|---|---|")
    for method in METHODS:
        for training in MODES.get(method, ["-"]):
            options = {"training": training} if training != "-" else {}
            extractor = make_features(method, 10, 4, 0, 1, sampling_frequency_hz=fs, **options)
            with threadpool_limits(1):
                start = time.perf_counter()
                extractor.fit(fit_set)
                fitted = time.perf_counter()
                extractor.transform(many)
                done = time.perf_counter()
            print(f"| {method} | {training} | {fitted - start:.1f} | {done - fitted:.1f} |")


if __name__ == "__main__":
    main()
