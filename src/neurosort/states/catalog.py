"""The state models by name, with the window settings each was tuned with."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from neurosort.errors import InputError
from neurosort.states.windows import WindowConfig


@dataclass(frozen=True)
class ModelSpec:
    description: str
    window: WindowConfig
    options: dict = field(default_factory=dict)


MODELS: dict[str, ModelSpec] = {
    "cnn": ModelSpec(
        "1D CNN on the waveform joined by a log-spectrum branch; trained on windows at half "
        "hops for 20 epochs, cosine schedule",
        WindowConfig(train_windows_per_hop=2),
        {"network": "cnn", "network_options": {"stem_pool": 2}, "max_epochs": 20,
         "validation_fraction": 0.0},
    ),
    "cnn_lstm": ModelSpec(
        "two convolution blocks feeding a bidirectional LSTM; trained like cnn",
        WindowConfig(train_windows_per_hop=2),
        {"network": "cnn_lstm", "max_epochs": 20, "validation_fraction": 0.0},
    ),
    "bilstm": ModelSpec(
        "BiLSTM(64) -> BiLSTM(32) -> Dense(16), dropout 0.3, over steps of 4 samples",
        WindowConfig(),
        {"network": "bilstm", "network_options": {"frame_samples": 4}},
    ),
    "lstm": ModelSpec(
        "LSTM(64) on random 120-sample crops, 5-crop averaging at inference",
        WindowConfig(crop_samples=120, n_inference_crops=5),
        {"network": "lstm"},
    ),
    "spectral_rf": ModelSpec(
        "reference: random forest (500 trees) on log Welch power and amplitude statistics",
        WindowConfig(scaling="global"),
    ),
}

# Measured in BENCHMARKS.md section 5 (split by recording): cnn beats spectral_rf, cnn_lstm and
# bilstm on every task and lstm on task three.
BEST_MODEL = {"binary": "cnn", "three": "cnn", "five": "cnn"}
# Tasks whose network models train on the recordings' subclasses by default (Bonn's task three:
# the five sets, normal = Z + O + N summed), measured in BENCHMARKS.md section 5.
SUBCLASS_TASKS = frozenset({"three"})


def best_model(task: str) -> str:
    return BEST_MODEL.get(task, "cnn")


def trains_on_subclasses(task: str, model: str) -> bool:
    return task in SUBCLASS_TASKS and model != "spectral_rf"


def window_for(model: str, **overrides) -> WindowConfig:
    """The model's window settings with any non-None ``overrides`` applied."""
    spec = model_spec(model)
    return replace(spec.window, **{k: v for k, v in overrides.items() if v is not None})


def model_spec(model: str) -> ModelSpec:
    if model not in MODELS:
        raise InputError(f"{model}: unknown model (choose from {', '.join(MODELS)})")
    return MODELS[model]


def make_classifier(
    model: str, window: WindowConfig, sampling_frequency_hz: float, seed: int = 0, **overrides
):
    """A fresh classifier for ``model``; ``overrides`` set NetworkClassifier parameters."""
    from neurosort.states.classifier import NetworkClassifier, SpectralForest

    spec = model_spec(model)
    if model == "spectral_rf":
        return SpectralForest(sampling_frequency_hz=sampling_frequency_hz, seed=seed)
    parameters = {**spec.options, **{k: v for k, v in overrides.items() if v is not None}}
    return NetworkClassifier(
        crop_samples=window.crop_samples,
        n_inference_crops=window.n_inference_crops,
        global_scaling=window.scaling == "global",
        seed=seed,
        **parameters,
    )


def fold_classifier(model: str, window: WindowConfig, sampling_frequency_hz: float, seed: int,
                    overrides: dict, fold_index: int):
    """The classifier of one cross-validation fold (seed + fold); picklable with partial."""
    return make_classifier(model, window, sampling_frequency_hz, seed=seed + fold_index,
                           **overrides)
