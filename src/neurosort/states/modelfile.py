"""Model files: weights, scaler, class names, window settings and a training card in one file."""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurosort.errors import InputError
from neurosort.log import get_logger
from neurosort.states.classifier import NetworkClassifier, SpectralForest
from neurosort.states.windows import WindowConfig

logger = get_logger(__name__)

FORMAT = "neurosort-states-model"
FORMAT_VERSION = 1
AMPLITUDE_TOLERANCE = 10.0


def channel_stds(signals) -> np.ndarray:
    """(n_signals, n_channels): the standard deviation of each channel of each signal."""
    return np.stack([np.asarray(signal, dtype=np.float64).std(axis=1) for signal in signals])


def amplitude_range(signals) -> dict:
    """Per channel, the smallest and largest standard deviation over the recordings: the card's
    note of the units the model was trained in."""
    stds = channel_stds(signals)
    return {"low": stds.min(axis=0).tolist(), "high": stds.max(axis=0).tolist()}


@dataclass(frozen=True)
class TrainedModel:
    classifier: NetworkClassifier | SpectralForest
    model: str
    task: str
    class_names: tuple[str, ...]
    window: WindowConfig
    sampling_frequency_hz: float
    card: dict

    @property
    def n_signal_channels(self) -> int:
        """Channels of the raw signal (the level channels are added by the scaling)."""
        n_inputs = self.classifier.n_channels_
        return n_inputs // 2 if self.window.scaling == "recording_level" else n_inputs

    def predict_proba(self, windows: np.ndarray) -> np.ndarray:
        """Probabilities over ``class_names`` for already scaled windows."""
        return self.classifier.predict_proba(windows)

    @property
    def reads_absolute_amplitude(self) -> bool:
        """Whether predictions depend on the signal's scale (and so on its units)."""
        return self.window.scaling != "recording"

    def check_amplitude(self, signals, where: str, names: tuple[str, ...] | None = None) -> None:
        """Warn when a scale-dependent model meets signals with a channel whose standard
        deviation lies more than 10x outside the training recordings' range: other units,
        most likely."""
        if not self.reads_absolute_amplitude:
            return
        trained = self.card.get("channel_std_range")
        if trained is None:
            logger.info("%s: the model card has no training amplitude range (a model file "
                        "from an earlier version); the units are not checked", where)
            return
        low, high = np.asarray(trained["low"]), np.asarray(trained["high"])
        stds = channel_stds(signals)
        if stds.shape[1] != len(low):
            return  # a channel mismatch, reported where the windows are cut
        outside = ((stds < low / AMPLITUDE_TOLERANCE) | (stds > high * AMPLITUDE_TOLERANCE)).any(1)
        if outside.any():
            named = f" ({', '.join(np.asarray(names)[outside][:5])})" if names else ""
            logger.warning(
                "%s: %d of %d signals%s have a channel whose standard deviation lies more than "
                "%gx outside the training recordings' (%s); this %s model reads absolute "
                "amplitude (scaling %s), so check that the units match",
                where, outside.sum(), len(stds), named, AMPLITUDE_TOLERANCE,
                ", ".join(f"{a:.3g} to {b:.3g}" for a, b in zip(low, high, strict=True)),
                self.model, self.window.scaling,
            )

    def check_task(self, task: str, class_names: tuple[str, ...], where: str) -> None:
        if task != self.task or tuple(class_names) != self.class_names:
            raise InputError(
                f"{where}: model was trained for task {self.task!r} with classes "
                f"{list(self.class_names)}, but the data are task {task!r} with classes "
                f"{list(class_names)}"
            )


def _network_payload(classifier: NetworkClassifier) -> dict:
    return {
        "kind": "network",
        "parameters": classifier.get_params(),
        "n_channels": int(classifier.n_channels_),
        "n_samples": int(classifier.n_samples_),
        "classes": classifier.classes_.tolist(),
        "labels": classifier.labels_.tolist(),
        "scale_mean": classifier.scale_mean_.tolist(),
        "scale_std": classifier.scale_std_.tolist(),
        "state_dict": classifier.network_.state_dict(),
        "history": classifier.history_.to_dict(),
    }


def _forest_payload(classifier: SpectralForest) -> dict:
    return {
        "kind": "forest",
        "parameters": classifier.get_params(),
        "n_channels": int(classifier.n_channels_),
        "n_samples": int(classifier.n_samples_),
        "classes": classifier.classes_.tolist(),
        "pickled_forest": pickle.dumps(classifier.forest_),
    }


def save_model(path: str | Path, trained: TrainedModel) -> Path:
    from neurosort.nn import save_checkpoint

    classifier = trained.classifier
    payload = (
        _forest_payload(classifier) if isinstance(classifier, SpectralForest)
        else _network_payload(classifier)
    )
    payload.update({
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model": trained.model,
        "task": trained.task,
        "class_names": list(trained.class_names),
        "window": trained.window.to_dict(),
        "sampling_frequency_hz": trained.sampling_frequency_hz,
        "card": trained.card,
    })
    return save_checkpoint(path, payload)


def _restore_network(payload: dict) -> NetworkClassifier:
    from neurosort.states.models import build_network

    classifier = NetworkClassifier(**payload["parameters"])
    classifier.classes_ = np.asarray(payload["classes"])
    classifier.labels_ = np.asarray(payload.get("labels", payload["classes"]))
    classifier.n_channels_ = payload["n_channels"]
    classifier.n_samples_ = payload["n_samples"]
    classifier.scale_mean_ = np.asarray(payload["scale_mean"], dtype=np.float32)
    classifier.scale_std_ = np.asarray(payload["scale_std"], dtype=np.float32)
    classifier.network_ = build_network(
        classifier.network, classifier.n_channels_, len(classifier.labels_),
        classifier.network_options,
    )
    classifier.network_.load_state_dict(payload["state_dict"])
    classifier.network_.eval()
    return classifier


def _restore_forest(payload: dict) -> SpectralForest:
    # The forest is pickled: load spectral_rf model files only from sources you trust.
    classifier = SpectralForest(**payload["parameters"])
    classifier.forest_ = pickle.loads(payload["pickled_forest"])
    classifier.classes_ = classifier.forest_.classes_
    classifier.n_channels_ = payload["n_channels"]
    classifier.n_samples_ = payload["n_samples"]
    return classifier


def load_model(path: str | Path) -> TrainedModel:
    from neurosort.nn import load_checkpoint

    payload = load_checkpoint(path)
    if payload.get("format") != FORMAT:
        raise InputError(f"{path}: not a neurosort states model file")
    if payload.get("format_version") != FORMAT_VERSION:
        raise InputError(f"{path}: model file version {payload.get('format_version')} "
                         f"is not supported (expected {FORMAT_VERSION})")
    restore = _restore_forest if payload["kind"] == "forest" else _restore_network
    try:
        classifier = restore(payload)
    except (KeyError, RuntimeError, TypeError) as error:
        raise InputError(f"{path}: damaged model file ({error})") from error
    return TrainedModel(
        classifier=classifier,
        model=payload["model"],
        task=payload["task"],
        class_names=tuple(payload["class_names"]),
        window=WindowConfig(**payload["window"]),
        sampling_frequency_hz=float(payload["sampling_frequency_hz"]),
        card=payload["card"],
    )
