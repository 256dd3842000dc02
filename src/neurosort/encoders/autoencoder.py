"""Autoencoder feature methods after the autoencoder-ensemble course report:

- ``ae_ensemble`` (v0): dense autoencoders of encoder depth 2, 3 and 4 trained on the MSE
  reconstruction of the flattened spike from a noisier copy (denoising); the member whose
  embedding a BIC-selected Gaussian mixture fits best (lowest BIC) gives the features;
- ``ae_semisup`` (v1): convolutional autoencoder with a classification head, trained on
  reconstruction of all spikes and cross-entropy on the labelled ones;
- ``ae_atom`` (v2): the v0 ensemble trained further with the report's "Atom loss" towards
  GMM centroids refitted on the embedding, member chosen by BIC.

Inputs are spikes in noise units (``sigma_`` from the training spikes). Every method trains a
fixed number of steps from ``seed``, so a fit is reproducible on CPU. Torch is imported by
``fit`` and ``transform`` only: the registry imports this module.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA
from threadpoolctl import threadpool_limits

from neurosort.cluster import GMMBIC
from neurosort.encoders.data import noise_sigma, to_inputs
from neurosort.registry import register

PSEUDO_LABEL_PROBABILITY = 0.95
MAX_SPIKES_FOR_PSEUDO_LABELS = 10000


class AutoencoderFeatures(TransformerMixin, BaseEstimator):
    def _fit_inputs(self, snippets: np.ndarray) -> np.ndarray:
        """Network inputs of the snippets being fitted; their noise level becomes ``sigma_``."""
        self.sigma_ = noise_sigma(snippets)
        return to_inputs(snippets, self.sigma_)

    def _embed(self, snippets: np.ndarray) -> np.ndarray:
        from neurosort.encoders.base import embed

        if len(snippets) == 0:
            return np.zeros((0, self.n_components), np.float32)
        return embed(self.encoder_, to_inputs(snippets, self.sigma_), self.device_)

    def transform(self, snippets: np.ndarray) -> np.ndarray:
        return self._embed(snippets).astype(np.float32)


@register("features", "ae_ensemble")
class AEEnsembleFeatures(AutoencoderFeatures):
    """Dense autoencoders of depths ``depths`` (reconstruction only); ``member_`` is the one
    with the lowest BIC, ``bics_`` every member's lowest BIC."""

    def __init__(
        self,
        n_components: int = 10,
        seed: int = 0,
        depths: tuple[int, ...] = (2, 3, 4),
        n_steps: int = 1200,
        batch_size: int = 256,
        learning_rate: float = 2e-3,
        max_units: int = 20,
        device: str = "auto",
    ) -> None:
        self.n_components = n_components
        self.seed = seed
        self.depths = depths
        self.n_steps = n_steps
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.max_units = max_units
        self.device = device

    def fit(self, snippets: np.ndarray, y: np.ndarray | None = None) -> AEEnsembleFeatures:
        from neurosort.encoders import autoencoder_fit

        inputs = self._fit_inputs(snippets)
        self.encoder_, self.device_, self.member_, self.bics_, self.history_ = (
            autoencoder_fit.fit_ensemble(self, inputs)
        )
        return self


@register("features", "ae_semisup")
class AESemiSupervisedFeatures(AutoencoderFeatures):
    """Convolutional autoencoder + classification head on the embedding (loss =
    reconstruction of every spike + ``label_weight`` x cross-entropy on labelled spikes).

    Labels are ``y`` (-1 = unlabelled). Without any label (the normal case when sorting) they
    are pseudo-labels: a BIC-selected GMM on PCA features of the spikes, keeping only spikes
    whose posterior probability is at least 0.95 (the rest unlabelled). ``labels_`` holds the
    labels trained on.
    """

    def __init__(
        self,
        n_components: int = 10,
        seed: int = 0,
        n_steps: int = 800,
        batch_size: int = 256,
        learning_rate: float = 2e-3,
        label_weight: float = 0.3,
        max_units: int = 20,
        device: str = "auto",
    ) -> None:
        self.n_components = n_components
        self.seed = seed
        self.n_steps = n_steps
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.label_weight = label_weight
        self.max_units = max_units
        self.device = device

    def fit(self, snippets: np.ndarray, y: np.ndarray | None = None) -> AESemiSupervisedFeatures:
        from neurosort.encoders import autoencoder_fit

        inputs = self._fit_inputs(snippets)
        given = None if y is None else np.asarray(y, dtype=np.int64)
        if given is not None and len(given) != len(inputs):
            raise ValueError(f"got {len(given)} labels for {len(inputs)} snippets")
        if given is None or not (given >= 0).any():
            with threadpool_limits(limits=1):
                self.labels_ = self.pseudo_labels(inputs)
        else:
            self.labels_ = consecutive_labels(given)
        self.encoder_, self.device_, self.history_ = autoencoder_fit.fit_semisup(
            self, inputs, self.labels_
        )
        return self

    def pseudo_labels(self, inputs: np.ndarray) -> np.ndarray:
        """GMM (BIC) labels of PCA features where the posterior is >= 0.95, else -1."""
        flat = inputs.reshape(len(inputs), -1)
        features = PCA(min(self.n_components, *flat.shape), random_state=self.seed).fit_transform(
            flat
        )
        mixture = GMMBIC(max_units=self.max_units, seed=self.seed).fit(features)
        posterior = mixture.model_.predict_proba(features / mixture.scale_)
        labels = posterior.argmax(1)
        labels[posterior.max(1) < PSEUDO_LABEL_PROBABILITY] = -1
        return labels


@register("features", "ae_atom")
class AEAtomFeatures(AutoencoderFeatures):
    """Deep clustering: dense autoencoders of depths ``depths``, ``n_steps`` of reconstruction,
    then ``n_cluster_steps`` of reconstruction + ``atom_weight`` x Atom loss towards GMM
    centroids refitted ``n_refits`` times on the embedding (k by BIC at the first refit).
    Atom distances are taken with the embedding scaled to a fixed RMS radius. ``member_`` is
    the member with the lowest BIC, ``bics_`` every member's lowest BIC."""

    def __init__(
        self,
        n_components: int = 10,
        seed: int = 0,
        depths: tuple[int, ...] = (2, 3, 4),
        n_steps: int = 600,
        n_cluster_steps: int = 600,
        n_refits: int = 4,
        atom_weight: float = 0.01,
        batch_size: int = 256,
        learning_rate: float = 2e-3,
        max_units: int = 20,
        device: str = "auto",
    ) -> None:
        self.n_components = n_components
        self.seed = seed
        self.depths = depths
        self.n_steps = n_steps
        self.n_cluster_steps = n_cluster_steps
        self.n_refits = n_refits
        self.atom_weight = atom_weight
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.max_units = max_units
        self.device = device

    def fit(self, snippets: np.ndarray, y: np.ndarray | None = None) -> AEAtomFeatures:
        from neurosort.encoders import autoencoder_fit

        inputs = self._fit_inputs(snippets)
        self.encoder_, self.device_, self.member_, self.bics_, self.history_ = (
            autoencoder_fit.fit_atom(self, inputs)
        )
        return self


def consecutive_labels(y: np.ndarray) -> np.ndarray:
    """Labels >= 0 mapped to 0..n-1 in sorted order; -1 stays -1."""
    out = np.full(len(y), -1, dtype=np.int64)
    known = y >= 0
    out[known] = np.unique(y[known], return_inverse=True)[1]
    return out
