"""Pretraining the contrastive encoders on labelled training spikes (mearec/train only).

Spikes are detected and cut exactly as at sort time; each detection matched to a
ground-truth spike (within 0.5 ms) is labelled with its (recording, unit), the others stay
unlabelled (-1: background neurons, noise). The encoder learns InfoNCE on two augmented
views plus ``supcon_weight`` x SupCon over the labels. Two training recordings are held out;
on them the card compares GMM-BIC clustering of the embedding with that of PCA (ARI).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurosort.checks import AT_LEAST_0, AT_LEAST_1, POSITIVE, SEED, check_settings
from neurosort.config import SortConfig
from neurosort.detect_cnn_train import training_files
from neurosort.encoders.augment import Augmentation
from neurosort.encoders.data import ModelWindow, noise_sigma, to_inputs
from neurosort.errors import InputError
from neurosort.evaluate import match_spike_times
from neurosort.io import load_ground_truth, load_recording
from neurosort.log import StageTimer, get_logger, progress
from neurosort.waveforms import ms_to_samples, snippet_offsets

logger = get_logger(__name__)

MATCH_WINDOW_MS = 0.5
VALIDATION_RECORDINGS = ("mono_train_05_u08_n3", "mono_train_06_u12_n2")
STRONG_AUGMENTATION = Augmentation(noise_sigma=1.0, overlap_probability=0.3)


@dataclass(frozen=True)
class PretrainSettings:
    architecture: str = "s4"
    n_components: int = 10
    n_steps: int = 2000
    batch_size: int = 256
    learning_rate: float = 3e-3
    temperature: float = 0.2
    supcon_weight: float = 1.0
    seed: int = 0
    device: str = "auto"

    def __post_init__(self) -> None:
        check_settings(self, PRETRAIN_RULES, PRETRAIN_OPTIONS)


PRETRAIN_RULES = {
    "n_components": (int, AT_LEAST_1),
    "n_steps": (int, AT_LEAST_1),
    "batch_size": (int, AT_LEAST_1),
    "learning_rate": (float, POSITIVE),
    "temperature": (float, POSITIVE),
    "supcon_weight": (float, AT_LEAST_0),
    "seed": (int, SEED),
}
PRETRAIN_OPTIONS = {"n_steps": "--steps", "seed": "--seed"}


@dataclass
class LabelledSnippets:
    inputs: np.ndarray  # (n, 1, samples) in noise units
    labels: np.ndarray  # -1 = unlabelled
    window: ModelWindow


def labelled_snippets(path: Path, label_offset: int) -> LabelledSnippets:
    """Detections of one training recording, in noise units, labelled by matched unit."""
    from neurosort.pipeline import detect_and_extract

    recording = load_recording(path)
    truth = load_ground_truth(path)
    peaks, snippets, _, _ = detect_and_extract(recording, SortConfig(), StageTimer())
    if snippets.shape[2] != 1:
        raise ValueError(f"{path}: pretraining expects single-channel recordings")
    tolerance = ms_to_samples(MATCH_WINDOW_MS, recording.sampling_frequency_hz)
    gt_index, detected_index = match_spike_times(
        truth.sample_index, peaks["sample_index"], tolerance
    )
    labels = np.full(len(peaks), -1, dtype=np.int64)
    labels[detected_index] = label_offset + truth.unit_index[gt_index]
    fs = recording.sampling_frequency_hz
    before, after = snippet_offsets(
        fs, SortConfig().waveforms.before_ms, SortConfig().waveforms.after_ms
    )
    window = ModelWindow(fs, before, before + after + 1)
    return LabelledSnippets(to_inputs(snippets, noise_sigma(snippets)), labels, window)


def pretrain(
    out: str | Path, settings: PretrainSettings, train_dir: str | Path, command: str
) -> dict[str, Any]:
    """Train, validate and write ``out`` (weights), ``out``.json (card) and a loss plot."""
    from neurosort.encoders import contrastive_fit
    from neurosort.encoders.base import labels_tensor
    from neurosort.encoders.networks import build_encoder
    from neurosort.nn import resolve_device, seed_everything

    files = training_files(train_dir)
    train = [p for p in files if p.stem not in VALIDATION_RECORDINGS]
    held_out = [p for p in files if p.stem in VALIDATION_RECORDINGS]
    parts = [labelled_snippets(p, 1000 * i) for i, p in enumerate(progress(train, desc="load"))]
    windows = {part.window for part in parts}
    if len(windows) != 1:
        raise InputError(f"{train_dir}: training recordings differ in sampling rate")
    inputs = np.concatenate([part.inputs for part in parts])
    labels = np.concatenate([part.labels for part in parts])
    logger.info("%d training spikes, %d labelled", len(labels), int((labels >= 0).sum()))
    device = resolve_device(settings.device)
    generator = seed_everything(settings.seed)
    encoder = build_encoder(
        settings.architecture,
        in_channels=1,
        n_samples=inputs.shape[2],
        n_components=settings.n_components,
    ).to(device)
    start = time.perf_counter()
    losses = contrastive_fit.train_contrastive(
        encoder,
        inputs,
        labels_tensor(labels, len(labels)),
        settings,
        settings.learning_rate,
        generator,
        device,
        STRONG_AUGMENTATION,
    )
    seconds = time.perf_counter() - start
    encoder.cpu()
    card = {
        "command": command,
        "settings": asdict(settings),
        "augmentation": asdict(STRONG_AUGMENTATION),
        "train_recordings": [p.name for p in train],
        "n_train_spikes": int(len(labels)),
        "n_labelled_spikes": int((labels >= 0).sum()),
        "n_units": int(len(np.unique(labels[labels >= 0]))),
        "train_seconds": round(seconds, 1),
        "final_loss": float(np.mean(losses[-50:])),
        "validation": validate(encoder, held_out, settings.seed),
    }
    path = contrastive_fit.save_encoder(
        Path(out), encoder, settings.architecture, windows.pop(), **card
    )
    path.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    save_loss_curve(losses, path.with_name(path.stem + "_loss.png"), settings.architecture)
    return card


def validate(encoder, held_out: list[Path], seed: int) -> dict[str, Any]:
    """ARI of GMM-BIC on each held-out recording's labelled spikes: encoder vs PCA."""
    from sklearn.decomposition import PCA
    from sklearn.metrics import adjusted_rand_score

    from neurosort.cluster import GMMBIC
    from neurosort.encoders.base import embed

    scores: dict[str, Any] = {}
    for path in held_out:
        part = labelled_snippets(path, 0)
        known = part.labels >= 0
        spaces = {
            "encoder": embed(encoder, part.inputs, encoder_device(encoder)),
            "pca": PCA(10, random_state=seed).fit_transform(part.inputs[:, 0, :]),
        }
        scores[path.stem] = {
            name: round(
                adjusted_rand_score(
                    part.labels[known], GMMBIC(seed=seed).fit_predict(points)[known]
                ),
                4,
            )
            for name, points in spaces.items()
        }
    return scores


def encoder_device(encoder):
    return next(encoder.parameters()).device


def save_loss_curve(losses: list[float], path: Path, architecture: str) -> Path:
    from matplotlib.figure import Figure

    figure = Figure(figsize=(5, 3.2), layout="constrained")
    axes = figure.add_subplot()
    steps = np.arange(1, len(losses) + 1)
    window = max(1, len(losses) // 50)
    smooth = np.convolve(losses, np.ones(window) / window, mode="valid")
    axes.plot(steps, losses, color="0.8", lw=0.5, label="step")
    axes.plot(steps[window - 1 :], smooth, label=f"mean of {window}")
    axes.set(xlabel="step", ylabel="InfoNCE + SupCon", title=f"{architecture} encoder pretraining")
    axes.legend()
    figure.savefig(path, dpi=100)
    return path
