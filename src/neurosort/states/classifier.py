"""Sklearn-style window classifiers: torch networks that infer shapes at fit, and spectral_rf."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold

from neurosort.errors import InputError
from neurosort.log import get_logger
from neurosort.states.windows import crop_starts

logger = get_logger(__name__)


def as_windows(X: np.ndarray) -> np.ndarray:
    """(n, time) or (n, channels, time) as float32 (n, channels, time)."""
    X = np.asarray(X, dtype=np.float32)
    return X[:, None, :] if X.ndim == 2 else X


CLASS_WEIGHTINGS = {"balanced": 1.0, "sqrt": 0.5, "none": 0.0}  # powers of balanced weights


def class_weights(y_index: np.ndarray, n_classes: int, weighting: str | bool) -> np.ndarray:
    """Loss weight per class: balanced (n / (k * count)), its square root, or none.

    ``True`` / ``False`` (model files of earlier versions) mean balanced / none.
    """
    weighting = {True: "balanced", False: "none"}.get(weighting, weighting)
    if weighting not in CLASS_WEIGHTINGS:
        raise InputError(f"class weighting must be one of {', '.join(CLASS_WEIGHTINGS)}, "
                         f"not {weighting!r}")
    counts = np.bincount(y_index, minlength=n_classes).astype(np.float64)
    balanced = len(y_index) / (n_classes * np.maximum(counts, 1.0))
    return balanced ** CLASS_WEIGHTINGS[weighting]


def validation_parts(fraction: float) -> int:
    """The early-stopping split holds out one of this many parts: never more than half."""
    return max(2, round(1 / fraction))


def validation_split(
    y_index: np.ndarray, groups: np.ndarray | None, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Stratified split that keeps every group (recording) on one side."""
    n_splits = validation_parts(fraction)
    if groups is None:
        splitter = StratifiedKFold(n_splits, shuffle=True, random_state=seed)
        return next(splitter.split(y_index, y_index))
    splitter = StratifiedGroupKFold(n_splits, shuffle=True, random_state=seed)
    train, val = next(splitter.split(y_index, y_index, groups))
    assert not set(groups[train]) & set(groups[val]), "validation split shares a recording"
    return train, val


class NetworkClassifier(ClassifierMixin, BaseEstimator):
    """A torch network trained with class weighting, early stopping and random crops.

    ``fit(X, y, groups)`` infers channels, window length and classes; ``groups`` (recording of
    each window) keeps the early-stopping validation split free of shared recordings. With
    ``validation_fraction=0`` every epoch trains on all windows, the learning rate decaying on
    a cosine, and the last weights are kept. With ``label_classes`` the labels given to ``fit``
    are subclasses 0..n-1, ``label_classes[i]`` the class of subclass i: the network learns the
    subclasses (class weighting balances them) and a class's probability is the sum of its
    subclasses'.
    """

    def __init__(
        self,
        network: str = "cnn",
        network_options: dict | None = None,
        crop_samples: int = 0,
        n_inference_crops: int = 1,
        global_scaling: bool = False,
        class_weighting: str = "balanced",
        max_epochs: int = 60,
        batch_size: int = 128,
        learning_rate: float = 2e-3,
        weight_decay: float = 1e-4,
        patience_epochs: int = 10,
        validation_fraction: float = 0.2,
        label_classes: list[int] | None = None,
        seed: int = 0,
        device: str = "auto",
    ) -> None:
        self.network = network
        self.network_options = network_options
        self.crop_samples = crop_samples
        self.n_inference_crops = n_inference_crops
        self.global_scaling = global_scaling
        self.class_weighting = class_weighting
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.weight_decay = weight_decay
        self.patience_epochs = patience_epochs
        self.validation_fraction = validation_fraction
        self.label_classes = label_classes
        self.seed = seed
        self.device = device

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None):
        import torch

        from neurosort.nn import TrainConfig, seed_everything, train_model
        from neurosort.states.models import build_network

        X = as_windows(X)
        self.labels_, y_index = np.unique(y, return_inverse=True)
        self.classes_ = self._classes_of(self.labels_)
        _, self.n_channels_, self.n_samples_ = X.shape
        self._fit_scale(X)
        X = self._scale(X)
        train, val = np.arange(len(y_index)), None
        if self.validation_fraction > 0:
            train, val = validation_split(y_index, groups, self.validation_fraction, self.seed)
        seed_everything(self.seed)
        self.network_ = build_network(
            self.network, self.n_channels_, len(self.labels_), self.network_options
        )
        weights = class_weights(y_index[train], len(self.labels_), self.class_weighting)
        loss = torch.nn.CrossEntropyLoss(weight=torch.as_tensor(weights, dtype=torch.float32))
        inputs, targets = torch.from_numpy(X), torch.from_numpy(y_index.astype(np.int64))
        config = TrainConfig(
            max_epochs=self.max_epochs, batch_size=self.batch_size,
            learning_rate=self.learning_rate, weight_decay=self.weight_decay,
            patience_epochs=self.patience_epochs, seed=self.seed, device=self.device,
        )
        crop = self._random_crop if 0 < self.crop_samples < self.n_samples_ else None
        validation = None if val is None else (inputs[val], targets[val])
        self.history_ = train_model(
            self.network_, (inputs[train], targets[train]), validation,
            loss, config, train_transform=crop, val_transform=crop,
        )
        self.network_.cpu().eval()
        return self

    def _classes_of(self, labels: np.ndarray) -> np.ndarray:
        if self.label_classes is None:
            return labels
        return np.unique(np.asarray(self.label_classes)[labels])

    def _label_to_class(self) -> np.ndarray:
        """(labels, classes) 0/1 matrix summing label probabilities into class ones."""
        if self.label_classes is None:
            return np.eye(len(self.labels_), dtype=np.float32)
        owners = np.asarray(self.label_classes)[self.labels_]
        return (owners[:, None] == self.classes_[None, :]).astype(np.float32)

    def _fit_scale(self, X: np.ndarray) -> None:
        if self.global_scaling:
            self.scale_mean_ = X.mean(axis=(0, 2)).astype(np.float32)
            self.scale_std_ = np.maximum(X.std(axis=(0, 2)), 1e-6).astype(np.float32)
        else:
            self.scale_mean_ = np.zeros(X.shape[1], dtype=np.float32)
            self.scale_std_ = np.ones(X.shape[1], dtype=np.float32)

    def _scale(self, X: np.ndarray) -> np.ndarray:
        return ((X - self.scale_mean_[None, :, None]) / self.scale_std_[None, :, None]).astype(
            np.float32
        )

    def _random_crop(self, batch, generator):
        import torch

        start = torch.randint(0, batch.shape[-1] - self.crop_samples + 1, (batch.shape[0],),
                              generator=generator)
        index = start[:, None] + torch.arange(self.crop_samples)[None, :]
        return torch.gather(batch, 2, index[:, None, :].expand(-1, batch.shape[1], -1))

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        """Class probabilities, averaged over evenly spaced crops when trained on crops."""
        import torch

        from neurosort.nn import predict_batches

        X = torch.from_numpy(self._scale(as_windows(X)))
        crop = self.crop_samples if 0 < self.crop_samples < self.n_samples_ else X.shape[-1]
        starts = crop_starts(X.shape[-1], crop, self.n_inference_crops)
        probabilities = [
            torch.softmax(predict_batches(self.network_, X[..., s : s + crop]), dim=1)
            for s in starts
        ]
        return torch.stack(probabilities).mean(dim=0).numpy() @ self._label_to_class()

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]


def spectral_features(X: np.ndarray, sampling_frequency_hz: float,
                      low_hz: float = 0.5, high_hz: float = 45.0) -> np.ndarray:
    """Log Welch power in [low_hz, high_hz] plus log std, log line length and log range."""
    from scipy.signal import welch

    X = as_windows(X).astype(np.float64)
    n_per_segment = min(X.shape[-1], 256)
    frequencies, power = welch(X, fs=sampling_frequency_hz, nperseg=n_per_segment, axis=-1)
    band = (frequencies >= low_hz) & (frequencies <= high_hz)
    amplitude = np.stack([
        X.std(axis=-1),
        np.abs(np.diff(X, axis=-1)).mean(axis=-1),
        np.ptp(X, axis=-1),
    ], axis=-1)
    parts = [np.log(power[..., band] + 1e-12), np.log(amplitude + 1e-12)]
    return np.concatenate(parts, axis=-1).reshape(len(X), -1)


class SpectralForest(ClassifierMixin, BaseEstimator):
    """Reference model: random forest on log Welch power and amplitude statistics."""

    def __init__(self, sampling_frequency_hz: float = 173.61, n_trees: int = 500,
                 seed: int = 0, n_jobs: int = 1) -> None:
        self.sampling_frequency_hz = sampling_frequency_hz
        self.n_trees = n_trees
        self.seed = seed
        self.n_jobs = n_jobs

    def fit(self, X: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None):
        X = as_windows(X)
        _, self.n_channels_, self.n_samples_ = X.shape
        self.forest_ = RandomForestClassifier(
            n_estimators=self.n_trees, random_state=self.seed, n_jobs=self.n_jobs
        ).fit(spectral_features(X, self.sampling_frequency_hz), y)
        self.classes_ = self.forest_.classes_
        return self

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        return self.forest_.predict_proba(spectral_features(X, self.sampling_frequency_hz))

    def predict(self, X: np.ndarray) -> np.ndarray:
        return self.classes_[self.predict_proba(X).argmax(axis=1)]
