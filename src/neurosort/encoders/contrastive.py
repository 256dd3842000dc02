"""Contrastive spike encoders as feature methods: ``s4`` (S4 state-space encoder) and
``contrastive_cnn`` (small convolutional encoder).

Both learn an embedding in which two augmented views of a spike lie close and other spikes
far (InfoNCE); labelled spikes add a supervised contrastive term (loss = InfoNCE + tau SupCon).
``training`` says where the encoder comes from:

- ``self``: trained on the snippets being sorted (self-supervised, nothing shipped is used);
- ``pretrained``: the weights shipped in the package, used as they are (zero-shot);
- ``finetune``: the shipped weights, then trained further on the snippets being sorted.

Torch is imported by ``fit`` and ``transform`` only: the registry imports this module.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA

from neurosort.config import ConfigError
from neurosort.encoders.data import (
    noise_sigma,
    peak_index,
    per_channel,
    seeded_subsample,
    to_inputs,
    to_model_window,
)
from neurosort.registry import register

WEIGHTS_DIR = Path(__file__).resolve().parent.parent / "weights"
TRAINING_MODES = ("self", "pretrained", "finetune")
MAX_SPIKES_FOR_REDUCTION = 20000


class ContrastiveFeatures(TransformerMixin, BaseEstimator):
    architecture = ""

    def __init__(
        self,
        n_components: int = 10,
        seed: int = 0,
        training: str = "pretrained",
        n_steps: int = 300,
        batch_size: int = 256,
        learning_rate: float = 3e-3,
        temperature: float = 0.2,
        supcon_weight: float = 1.0,
        device: str = "auto",
        weights: str = "",
        sampling_frequency_hz: float = 0.0,
    ) -> None:
        self.n_components = n_components
        self.seed = seed
        self.training = training
        self.n_steps = n_steps
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.temperature = temperature
        self.supcon_weight = supcon_weight
        self.device = device
        self.weights = weights
        self.sampling_frequency_hz = sampling_frequency_hz

    def weights_path(self) -> Path:
        return Path(self.weights) if self.weights else default_weights(self.architecture)

    def fit(self, snippets: np.ndarray, y: np.ndarray | None = None) -> ContrastiveFeatures:
        from neurosort.encoders import contrastive_fit

        if self.training not in TRAINING_MODES:
            raise ConfigError(
                f"features.training: {self.training!r} not one of {', '.join(TRAINING_MODES)}"
            )
        self.sigma_ = noise_sigma(snippets)
        self.input_peak_ = peak_index(to_inputs(snippets, self.sigma_))
        self.encoder_, self.window_, self.device_, self.history_ = contrastive_fit.fit(
            self, snippets, y
        )
        self.per_channel_ = self.encoder_.in_channels == 1 and snippets.shape[2] > 1
        dims = self.encoder_.shape["n_components"] * (snippets.shape[2] if self.per_channel_ else 1)
        self.reducer_ = None
        if dims > self.n_components:
            rows = seeded_subsample(len(snippets), MAX_SPIKES_FOR_REDUCTION, self.seed)
            self.reducer_ = PCA(self.n_components, random_state=self.seed).fit(
                self._embed(snippets[rows])
            )
        return self

    def _embed(self, snippets: np.ndarray) -> np.ndarray:
        from neurosort.encoders.base import embed

        inputs = to_inputs(snippets, self.sigma_)
        if self.window_ is not None:
            inputs = to_model_window(
                inputs, self.input_peak_, self.window_, self.sampling_frequency_hz
            )
        if self.per_channel_:
            return embed(self.encoder_, per_channel(inputs), self.device_).reshape(
                len(snippets), -1
            )
        return embed(self.encoder_, inputs, self.device_)

    def transform(self, snippets: np.ndarray) -> np.ndarray:
        embedded = self._embed(snippets)
        if self.reducer_ is not None:
            embedded = self.reducer_.transform(embedded)
        return embedded.astype(np.float32)


@register("features", "s4")
class S4Features(ContrastiveFeatures):
    """S4 (diagonal state-space) encoder trained contrastively."""

    architecture = "s4"


@register("features", "contrastive_cnn")
class ContrastiveCNNFeatures(ContrastiveFeatures):
    """Small 1D convolutional encoder trained contrastively."""

    architecture = "conv"


def default_weights(architecture: str) -> Path:
    return WEIGHTS_DIR / f"encoder_{architecture}.pt"
