"""Waveform features as scikit-learn transformers: PCA and wavelet coefficients."""

from __future__ import annotations

import numpy as np
from scipy import stats
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import PCA

from neurosort.config import FeaturesConfig
from neurosort.registry import register


def flatten(snippets: np.ndarray) -> np.ndarray:
    """(n, n_samples, n_channels) -> (n, n_samples * n_channels), channel-major."""
    return snippets.transpose(0, 2, 1).reshape(len(snippets), -1)


@register("features", "pca")
class PCAFeatures(TransformerMixin, BaseEstimator):
    """Principal components of the concatenated channel waveforms."""

    def __init__(self, n_components: int = 5, seed: int = 0) -> None:
        self.n_components = n_components
        self.seed = seed

    def fit(self, snippets: np.ndarray, y: np.ndarray | None = None) -> PCAFeatures:
        data = flatten(snippets)
        n_components = min(self.n_components, data.shape[1], max(1, len(data) - 1))
        self.pca_ = PCA(n_components=n_components, random_state=self.seed).fit(data)
        return self

    def transform(self, snippets: np.ndarray) -> np.ndarray:
        return self.pca_.transform(flatten(snippets)).astype(np.float32)


def haar_coefficients(snippets: np.ndarray, levels: int) -> np.ndarray:
    """Concatenated Haar DWT coefficients of each channel's waveform."""
    import pywt

    data = snippets.transpose(0, 2, 1)
    levels = max(1, min(levels, pywt.dwt_max_level(data.shape[-1], "haar")))
    coefficients = pywt.wavedec(data, "haar", level=levels, axis=-1)
    return np.concatenate(coefficients, axis=-1).reshape(len(snippets), -1)


@register("features", "wavelet")
class WaveletFeatures(TransformerMixin, BaseEstimator):
    """Haar wavelet coefficients chosen by their deviation from normality (as wave_clus).

    Each coefficient's distribution over spikes is compared with a normal of the same
    robust mean and spread (Kolmogorov-Smirnov statistic): multimodal coefficients separate
    units, unimodal ones carry noise. The ``n_components`` most non-normal are kept.
    """

    def __init__(self, n_components: int = 10, levels: int = 4) -> None:
        self.n_components = n_components
        self.levels = levels

    def fit(self, snippets: np.ndarray, y: np.ndarray | None = None) -> WaveletFeatures:
        coefficients = haar_coefficients(snippets, self.levels)
        deviation = np.array([_ks_from_normal(column) for column in coefficients.T])
        n_keep = min(self.n_components, coefficients.shape[1])
        self.selected_ = np.sort(np.argsort(-deviation, kind="stable")[:n_keep])
        self.scale_ = np.maximum(coefficients[:, self.selected_].std(axis=0), 1e-12)
        return self

    def transform(self, snippets: np.ndarray) -> np.ndarray:
        coefficients = haar_coefficients(snippets, self.levels)[:, self.selected_]
        return (coefficients / self.scale_).astype(np.float32)


def _ks_from_normal(values: np.ndarray) -> float:
    spread = stats.iqr(values) / 1.349
    if spread <= 0:
        return 0.0
    standardised = (values - np.median(values)) / spread
    return float(stats.kstest(standardised, "norm").statistic)


def make_features(
    method: str,
    n_components: int,
    wavelet_levels: int,
    seed: int,
    n_channels: int = 1,
    **options,
):
    """Instantiate the registered feature method ``method``.

    ``auto`` means wavelet coefficients on a single channel (best on mearec/train) and PCA
    across channels (best on generated tetrode recordings). ``options`` (e.g. a learned
    encoder's ``training``, ``device``) are passed to methods that take them.
    """
    from neurosort import registry

    if method == "auto":
        method = "wavelet" if n_channels == 1 else "pca"
    factory = registry.get("features", method)
    if method == "wavelet":
        return factory(n_components=n_components, levels=wavelet_levels)
    extractor = factory(n_components=n_components, seed=seed)
    accepted = extractor.get_params()
    return extractor.set_params(**{k: v for k, v in options.items() if k in accepted})


def encoder_options(config: FeaturesConfig) -> dict:
    """The learned-encoder settings of ``config`` as ``make_features`` options."""
    options = {"training": config.training, "weights": config.weights, "device": config.device}
    if config.training_steps > 0:
        options["n_steps"] = config.training_steps
    return options
