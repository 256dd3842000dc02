"""Training data and training for the CNN detector (``neurosort train-detector``).

Labelled candidate windows come from MEArec *training* recordings (the first part of each;
the rest is the fixed validation set), from recordings made with SpikeInterface's
ground-truth generator, and from recordings built here by injecting the training units'
mean waveforms into noise. Augmentation: added noise (several SNRs), amplitude scaling,
sub-sample and integer time jitter, overlapping spike pairs, both polarities and several
sampling rates (windows are resampled to the model's rate exactly as at detection time).
A candidate is a spike when it is matched one-to-one to a ground-truth peak within 0.5 ms.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
from scipy.signal import resample_poly

from neurosort.checks import (
    AT_LEAST_0,
    AT_LEAST_1,
    FRACTION,
    POSITIVE,
    SEED,
    check_settings,
    usable_threads,
)
from neurosort.config import DetectConfig, PreprocessConfig
from neurosort.detect_cnn import (
    PROBABILITY_GRID,
    SpikeClassifier,
    WindowSpec,
    cut_windows,
    find_candidates,
    new_classifier,
)
from neurosort.errors import InputError
from neurosort.evaluate import match_spike_times
from neurosort.log import get_logger
from neurosort.preprocess import Preprocessor, bandpass
from neurosort.types import Recording
from neurosort.waveforms import ms_to_samples

logger = get_logger(__name__)

MATCH_WINDOW_MS = 0.5
TEMPLATE_RATE_HZ = 24000.0
MEAREC_ARRAYS = ("traces", "gain_uv", "sampling_frequency", "spike_times", "unit_mean_waveform_uv")


@dataclass(frozen=True)
class TrainingSettings:
    seed: int = 0
    epochs: int = 8
    train_dir: str | None = None
    validation_fraction: float = 0.2
    added_noise_gains: tuple[float, ...] = (0.0, 1.0)
    injected_rates_hz: tuple[float, ...] = (20000.0, 24000.0, 32000.0)
    injected_duration_s: float = 30.0
    generator_rates_hz: tuple[float, ...] = (25000.0, 30000.0)
    generator_noise_uv: tuple[float, ...] = (5.0, 15.0)
    generator_duration_s: float = 30.0
    max_windows_per_source: int = 6000
    batch_size: int = 256
    threads: int = 2

    def __post_init__(self) -> None:
        check_settings(self, TRAINING_RULES, TRAINING_OPTIONS)


TRAINING_RULES = {
    "seed": (int, SEED),
    "epochs": (int, AT_LEAST_1),
    "validation_fraction": (float, FRACTION),
    "added_noise_gains": (float, AT_LEAST_0),
    "injected_rates_hz": (float, POSITIVE),
    "injected_duration_s": (float, POSITIVE),
    "generator_rates_hz": (float, POSITIVE),
    "generator_noise_uv": (float, POSITIVE),
    "generator_duration_s": (float, POSITIVE),
    "max_windows_per_source": (int, AT_LEAST_1),
    "batch_size": (int, AT_LEAST_1),
    "threads": (int, AT_LEAST_1),
}
TRAINING_OPTIONS = {"seed": "--seed", "epochs": "--epochs", "threads": "--threads"}


@dataclass
class LabelledWindows:
    windows: np.ndarray
    labels: np.ndarray
    sources: list[str] = field(default_factory=list)

    @staticmethod
    def concatenate(parts: list[LabelledWindows]) -> LabelledWindows:
        return LabelledWindows(
            np.concatenate([part.windows for part in parts]).astype(np.float32),
            np.concatenate([part.labels for part in parts]).astype(np.float32),
            [source for part in parts for source in part.sources],
        )


def default_train_dir() -> Path:
    root = os.environ.get("NEUROSORT_DATA")
    if root:
        return Path(root) / "mearec" / "train"
    return Path(__file__).resolve().parents[3] / "shared" / "data" / "mearec" / "train"


def training_files(train_dir: str | Path) -> list[Path]:
    """MEArec training recordings; test or Quiroga files are refused."""
    folder = Path(train_dir)
    files = sorted(folder.glob("*.npz"))
    if not files:
        raise InputError(f"{folder}: no training recordings (*.npz)")
    for path in files:
        if "test" in path.name.lower() or "quiroga" in str(path).lower():
            raise InputError(f"{path}: test recordings must not be used for training")
    return files


def mearec_training_files(train_dir: str | Path) -> list[Path]:
    """The training recordings, each checked to hold the MEArec arrays that training reads."""
    files = training_files(train_dir)
    for path in files:
        try:
            with np.load(path) as data:
                missing = sorted(set(MEAREC_ARRAYS) - set(data.files))
        except (OSError, ValueError, zipfile.BadZipFile) as error:
            raise InputError(f"{path}: not a readable .npz file ({error})") from error
        if missing:
            raise InputError(f"{path}: not a MEArec training recording (no {', '.join(missing)})")
    return files


def filtered_traces(traces: np.ndarray, fs: float) -> tuple[np.ndarray, np.ndarray]:
    """Traces through the default preprocessing, and their noise levels, as at sort time."""
    preprocessor = Preprocessor(PreprocessConfig()).fit(Recording(traces, fs))
    return preprocessor.apply(traces), preprocessor.noise_levels_


def candidate_labels(candidates: np.ndarray, truth: np.ndarray, fs: float) -> np.ndarray:
    window = ms_to_samples(MATCH_WINDOW_MS, fs)
    _, matched = match_spike_times(truth, candidates, window)
    labels = np.zeros(len(candidates), dtype=np.float32)
    labels[matched] = 1.0
    return labels


def candidates_of(filtered: np.ndarray, noise: np.ndarray, fs: float, spec: WindowSpec):
    dead_time = max(1, ms_to_samples(DetectConfig().dead_time_ms, fs))
    return find_candidates(
        filtered,
        noise,
        spec,
        polarity="both",
        dead_time_samples=dead_time,
        neighbours=np.ones((filtered.shape[1],) * 2, dtype=bool),
    )


def labelled_windows(
    traces: np.ndarray,
    fs: float,
    truth: np.ndarray,
    spec: WindowSpec,
    rng: np.random.Generator | None,
    name: str,
    keep: tuple[int, int] | None = None,
) -> LabelledWindows:
    """Candidate windows of one recording; with ``rng``, each shifted by -1, 0 or +1 sample."""
    filtered, noise = filtered_traces(traces, fs)
    peaks = candidates_of(filtered, noise, fs, spec)
    labels = candidate_labels(peaks["sample_index"], truth, fs)
    if keep is not None:
        inside = (peaks["sample_index"] >= keep[0]) & (peaks["sample_index"] < keep[1])
        peaks, labels = peaks[inside], labels[inside]
    samples = peaks["sample_index"].copy()
    if rng is not None:
        samples = np.clip(samples + rng.integers(-1, 2, len(samples)), 0, len(filtered) - 1)
    windows = cut_windows(filtered, noise, samples, peaks["channel_index"], fs, spec)
    return LabelledWindows(windows, labels, [name] * len(labels))


def subsample(part: LabelledWindows, limit: int, rng: np.random.Generator) -> LabelledWindows:
    if len(part.labels) <= limit:
        return part
    index = np.sort(rng.choice(len(part.labels), limit, replace=False))
    return LabelledWindows(part.windows[index], part.labels[index], [part.sources[0]] * limit)


def with_added_noise(traces: np.ndarray, fs: float, gain: float, rng) -> np.ndarray:
    """Traces plus band-limited Gaussian noise of ``gain`` x their own noise sigma."""
    if gain == 0:
        return traces
    _, noise = filtered_traces(traces, fs)
    extra = bandpass(rng.standard_normal(traces.shape).astype(np.float32), fs, 300.0, 6000.0, 3)
    extra *= gain * noise / np.maximum(np.std(extra, axis=0), 1e-12)
    return traces + extra


def mearec_sets(
    settings: TrainingSettings, spec: WindowSpec, rng: np.random.Generator
) -> tuple[list[LabelledWindows], list[LabelledWindows], list[np.ndarray]]:
    """(training parts, validation parts, unit mean waveforms) from the MEArec train folder."""
    train, validation, waveforms = [], [], []
    for path in mearec_training_files(settings.train_dir or default_train_dir()):
        with np.load(path) as data:
            traces = data["traces"].astype(np.float32) * float(data["gain_uv"])
            fs = float(data["sampling_frequency"])
            truth = data["spike_times"].astype(np.int64)
            waveforms.extend(data["unit_mean_waveform_uv"][:, :, 0])
        split = int(len(traces) * (1 - settings.validation_fraction))
        validation.append(
            labelled_windows(traces, fs, truth, spec, None, path.stem, (split, len(traces)))
        )
        for gain in settings.added_noise_gains:
            noisy = with_added_noise(traces, fs, gain, rng)
            name = f"{path.stem}+noise{gain:g}"
            part = labelled_windows(noisy, fs, truth, spec, rng, name, (0, split))
            train.append(subsample(part, settings.max_windows_per_source, rng))
        logger.info("%s: %d validation windows", path.name, len(validation[-1].labels))
    return train, validation, waveforms


def injected_recording(
    waveforms: list[np.ndarray],
    fs: float,
    duration_s: float,
    rng: np.random.Generator,
    snr_range: tuple[float, float] = (2.5, 25.0),
    n_background_units: tuple[int, int] = (10, 30),
) -> tuple[np.ndarray, np.ndarray]:
    """Noise plus units (scaled, either polarity, jittered, some overlapping) at ``fs``.

    Templates come at 24 kHz with the peak in the middle; ground truth is each peak sample.
    Labelled units have a peak SNR drawn log-uniformly from ``snr_range``; small unlabelled
    units (SNR 0.5-2.5) make a background like MEArec's far neurons.
    """
    n_samples = int(duration_s * fs)
    trace = bandpass(rng.standard_normal(n_samples).astype(np.float32), fs, 300.0, 6000.0, 3)
    sigma = float(np.median(np.abs(trace)) / 0.6745)
    truth = []
    n_units = int(rng.integers(4, 9))
    background = int(rng.integers(*n_background_units))
    for unit in range(n_units + background):
        labelled = unit < n_units
        snr = np.exp(rng.uniform(*np.log(snr_range))) if labelled else rng.uniform(0.5, 2.5)
        waveform = waveforms[int(rng.integers(len(waveforms)))]
        waveform = waveform * snr * sigma / np.abs(waveform).max() * rng.choice([-1.0, 1.0])
        rate = rng.uniform(3.0, 20.0)
        times = np.cumsum(rng.exponential(1 / rate, int(rate * duration_s * 1.5)) + 2e-3)
        times = times[times < duration_s - 0.01]
        if labelled:
            pairs = times[rng.random(len(times)) < 0.15] + rng.uniform(2e-4, 1e-3)
            times = np.sort(np.concatenate([times, pairs[pairs < duration_s - 0.01]]))
        peaks = _add_spikes(trace, waveform, times, fs, rng)
        if labelled:
            truth.append(peaks)
    truth_times = np.sort(np.concatenate(truth)) if truth else np.zeros(0, np.int64)
    return trace[:, None], truth_times


def _add_spikes(trace, waveform, times_s, fs, rng) -> np.ndarray:
    """Add ``waveform`` (24 kHz, peak at its middle) at each time; return the peak samples."""
    up, down = _template_ratio(fs)
    resampled = resample_poly(waveform, up, down) if up != down else waveform
    centre = int(np.argmax(np.abs(resampled)))
    grid = np.arange(len(resampled), dtype=np.float64)
    peaks = []
    for time_s in times_s:
        position = time_s * fs
        start = int(np.floor(position)) - centre
        shift = position - np.floor(position)
        if start < 0 or start + len(resampled) >= len(trace):
            continue
        jittered = np.interp(grid - shift, grid, resampled)
        trace[start : start + len(resampled)] += jittered.astype(np.float32)
        peaks.append(start + centre + int(round(shift)))
    return np.asarray(peaks, dtype=np.int64)


def _template_ratio(fs: float) -> tuple[int, int]:
    """(up, down) taking the 24 kHz templates to ``fs``."""
    ratio = Fraction(fs / TEMPLATE_RATE_HZ).limit_denominator(64)
    return ratio.numerator, ratio.denominator


def injected_sets(
    waveforms: list[np.ndarray], settings: TrainingSettings, spec: WindowSpec, rng
) -> list[LabelledWindows]:
    parts = []
    for fs in settings.injected_rates_hz:
        traces, truth = injected_recording(waveforms, fs, settings.injected_duration_s, rng)
        part = labelled_windows(traces, fs, truth, spec, rng, f"injected_{fs:g}Hz")
        parts.append(subsample(part, settings.max_windows_per_source, rng))
    return parts


def peak_aligned_truth(traces: np.ndarray, times: np.ndarray, units: np.ndarray, fs: float):
    """Ground-truth times moved, per unit, to the largest |mean waveform| sample (+-1 ms)."""
    half = int(round(1e-3 * fs))
    filtered, _ = filtered_traces(traces, fs)
    aligned = times.copy()
    for unit in np.unique(units):
        mine = (units == unit) & (times >= half) & (times < len(filtered) - half)
        if not mine.any():
            continue
        snippets = filtered[times[mine, None] + np.arange(-half, half + 1), 0]
        offset = int(np.argmax(np.abs(snippets.mean(axis=0)))) - half
        aligned[units == unit] += offset
    return aligned


def generator_sets(settings: TrainingSettings, spec: WindowSpec, rng) -> list[LabelledWindows]:
    """Recordings from SpikeInterface's ground-truth generator at several rates and noises."""
    import spikeinterface.core as si

    parts = []
    for fs in settings.generator_rates_hz:
        for noise_uv in settings.generator_noise_uv:
            recording, sorting = si.generate_ground_truth_recording(
                durations=[settings.generator_duration_s],
                sampling_frequency=fs,
                num_channels=1,
                num_units=int(rng.integers(3, 9)),
                noise_kwargs={"noise_levels": noise_uv, "strategy": "on_the_fly"},
                generate_unit_locations_kwargs={"minimum_distance": 5, "maximum_z": 60.0},
                seed=int(rng.integers(2**31)),
            )
            traces = recording.get_traces().astype(np.float32)
            spikes = sorting.to_spike_vector()
            truth = peak_aligned_truth(
                traces, spikes["sample_index"].astype(np.int64), spikes["unit_index"], fs
            )
            name = f"generator_{fs:g}Hz_{noise_uv:g}uV"
            part = labelled_windows(traces, fs, np.sort(truth), spec, rng, name)
            parts.append(subsample(part, settings.max_windows_per_source, rng))
    return parts


def flip_polarity(part: LabelledWindows, rng: np.random.Generator) -> LabelledWindows:
    """Negate a random half of the windows (spikes of both polarities)."""
    signs = np.where(rng.random(len(part.labels)) < 0.5, -1.0, 1.0).astype(np.float32)
    return LabelledWindows(part.windows * signs[:, None], part.labels, part.sources)


def build_training_data(
    settings: TrainingSettings, spec: WindowSpec
) -> tuple[LabelledWindows, list[LabelledWindows]]:
    """(augmented training windows, per-recording validation windows), all seeded."""
    rng = np.random.default_rng(settings.seed)
    train, validation, waveforms = mearec_sets(settings, spec, rng)
    train += injected_sets(waveforms, settings, spec, rng)
    train += generator_sets(settings, spec, rng)
    return flip_polarity(LabelledWindows.concatenate(train), rng), validation


def classification_scores(probabilities, labels, probability: float) -> dict[str, float]:
    predicted = probabilities >= probability
    positive = labels > 0.5
    true_positive = float(np.sum(predicted & positive))
    precision = true_positive / max(float(predicted.sum()), 1.0)
    recall = true_positive / max(float(positive.sum()), 1.0)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


def validation_report(
    classifier: SpikeClassifier, validation: list[LabelledWindows]
) -> dict[str, Any]:
    """Window-level scores on the validation set at the recall-leaning probability.

    The probability is the grid value with the best F2 (recall weighted twice precision):
    a missed spike is lost, a noise window can still be discarded by clustering.
    """
    pooled = LabelledWindows.concatenate(validation)
    probabilities = classifier.probabilities(pooled.windows)
    curve = [
        {"probability": p, **classification_scores(probabilities, pooled.labels, p)}
        for p in PROBABILITY_GRID
    ]
    best = max(curve, key=lambda point: _f_beta(point["precision"], point["recall"], 2.0))
    per_recording = {}
    for part in validation:
        scores = classification_scores(
            classifier.probabilities(part.windows), part.labels, best["probability"]
        )
        per_recording[part.sources[0]] = round(scores["f1"], 6)
    return {
        "probability": best["probability"],
        "probability_rule": "best F2 over the probability grid",
        "n_windows": int(len(pooled.labels)),
        "n_spike_windows": int(pooled.labels.sum()),
        **{key: round(best[key], 6) for key in ("precision", "recall", "f1")},
        "f1_per_recording": per_recording,
        "pr_curve": [{k: round(v, 4) for k, v in point.items()} for point in curve],
    }


def _f_beta(precision: float, recall: float, beta: float) -> float:
    denominator = beta**2 * precision + recall
    return (1 + beta**2) * precision * recall / denominator if denominator else 0.0


def fit_classifier(
    train: LabelledWindows,
    validation: LabelledWindows,
    settings: TrainingSettings,
    spec: WindowSpec,
):
    """A new classifier trained on ``train``, early-stopped on ``validation``; and its history."""
    import torch

    from neurosort.nn import TrainConfig, seed_everything, train_model

    torch.set_num_threads(settings.threads)
    seed_everything(settings.seed)
    classifier = new_classifier(spec)
    history = train_model(
        classifier.network,
        _tensors(train, spec),
        _tensors(validation, spec),
        torch.nn.BCEWithLogitsLoss(),
        TrainConfig(
            max_epochs=settings.epochs,
            batch_size=settings.batch_size,
            patience_epochs=max(3, settings.epochs // 3),
            seed=settings.seed,
            device="cpu",
        ),
    )
    return classifier, history


def train_detector(
    out: str | Path,
    settings: TrainingSettings,
    spec: WindowSpec | None = None,
    command: str = "",
) -> dict[str, Any]:
    """Build the data, train, write weights + JSON card + learning-curve PNG; return the card."""
    settings = replace(settings, threads=usable_threads(settings.threads))
    spec = spec or WindowSpec()
    train, validation = build_training_data(settings, spec)
    pooled = LabelledWindows.concatenate(validation)
    classifier, history = fit_classifier(train, pooled, settings, spec)
    card = {
        "command": command,
        "settings": asdict(settings),
        "window": asdict(spec),
        "coefficient_lengths": spec.coefficient_lengths(),
        "data": _data_summary(train, validation),
        "training": history.to_dict(),
        "validation": validation_report(classifier, validation),
    }
    out = Path(out)
    classifier.save(out, {"card": json.dumps(card)})
    out.with_suffix(".json").write_text(json.dumps(card, indent=2) + "\n")
    save_learning_curves(history, out.with_name(out.stem + "_learning_curves.png"))
    return card


def _tensors(part: LabelledWindows, spec: WindowSpec):
    import torch

    from neurosort.detect_cnn import model_inputs

    return torch.from_numpy(model_inputs(part.windows, spec)), torch.from_numpy(part.labels)


def _data_summary(train: LabelledWindows, validation: list[LabelledWindows]) -> dict[str, Any]:
    sources, counts = np.unique(train.sources, return_counts=True)
    return {
        "train_windows": int(len(train.labels)),
        "train_spike_windows": int(train.labels.sum()),
        "train_sources": {str(s): int(c) for s, c in zip(sources, counts, strict=True)},
        "validation_recordings": [part.sources[0] for part in validation],
        "validation": "last 20% of the samples of each MEArec training recording, not augmented",
    }


def save_learning_curves(history, path: Path) -> Path:
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    figure = Figure(figsize=(5, 3.2), layout="constrained")
    axes = figure.add_subplot()
    epochs = np.arange(1, len(history.train_loss) + 1)
    axes.plot(epochs, history.train_loss, label="train")
    axes.plot(epochs, history.val_loss, label="validation")
    axes.axvline(history.best_epoch + 1, color="grey", linestyle=":", label="kept")
    axes.set(xlabel="epoch", ylabel="binary cross-entropy", title="CNN spike detector")
    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.legend()
    figure.savefig(path, dpi=100)
    return path
