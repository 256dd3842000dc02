"""Labelled recordings for state classification: Bonn EEG, a folder of arrays, MNE files."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neurosort.checks import read_text
from neurosort.errors import InputError

BONN_FILE = "bonn_ZONFS_500x4097_int16.npz"
BONN_SETS = ("Z", "O", "N", "F", "S")
TASKS: dict[str, dict[str, str]] = {
    "binary": {"Z": "non-seizure", "O": "non-seizure", "N": "non-seizure", "F": "non-seizure",
               "S": "seizure"},
    "three": {"Z": "normal", "O": "normal", "N": "normal", "F": "F", "S": "seizure"},
    "five": {name: name for name in BONN_SETS},
}
TASK_CLASSES: dict[str, tuple[str, ...]] = {
    "binary": ("seizure", "non-seizure"),
    "three": ("seizure", "F", "normal"),
    "five": BONN_SETS,
}
ARRAY_SUFFIXES = (".npy", ".csv", ".txt")


@dataclass(frozen=True)
class Recordings:
    """Whole labelled recordings; each signal is (n_channels, n_samples) float32.

    ``subclasses`` (optional) is a finer label of each recording, indexing ``subclass_names``,
    that never straddles two classes (Bonn: the set, Z/O/N/F/S, whatever the task).
    """

    signals: tuple[np.ndarray, ...]
    labels: np.ndarray
    class_names: tuple[str, ...]
    recording_ids: tuple[str, ...]
    sampling_frequency_hz: float
    task: str
    source: str
    subclasses: np.ndarray | None = None
    subclass_names: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.signals)

    def subset(self, indices: np.ndarray) -> Recordings:
        return Recordings(
            signals=tuple(self.signals[i] for i in indices),
            labels=self.labels[indices],
            class_names=self.class_names,
            recording_ids=tuple(self.recording_ids[i] for i in indices),
            sampling_frequency_hz=self.sampling_frequency_hz,
            task=self.task,
            source=self.source,
            subclasses=None if self.subclasses is None else self.subclasses[indices],
            subclass_names=self.subclass_names,
        )

    def class_of_subclass(self) -> list[int]:
        """The class index of each subclass; InputError when there are none to use."""
        if self.subclasses is None:
            raise InputError(f"{self.source}: the recordings have no subclasses to train on")
        classes = []
        for index, name in enumerate(self.subclass_names):
            owners = np.unique(self.labels[self.subclasses == index])
            if len(owners) != 1:
                raise InputError(
                    f"{self.source}: subclass {name} has recordings of no class or of several"
                )
            classes.append(int(owners[0]))
        return classes


def check_signal(signal: np.ndarray, where: str) -> np.ndarray:
    """Return a finite float32 (n_channels, n_samples) array or raise InputError."""
    signal = np.asarray(signal, dtype=np.float32)
    if signal.ndim == 1:
        signal = signal[None, :]
    if signal.ndim != 2 or signal.size == 0:
        raise InputError(f"{where}: expected a 1-D or 2-D numeric signal, got shape {signal.shape}")
    if not np.isfinite(signal).all():
        bad = int((~np.isfinite(signal)).sum())
        raise InputError(f"{where}: {bad} NaN or infinite samples")
    return np.ascontiguousarray(signal)


def load_bonn(folder: str | Path, task: str = "binary") -> Recordings:
    """The Bonn Z/O/N/F/S set: 500 single-channel recordings of 4097 samples at 173.61 Hz."""
    if task not in TASKS:
        raise InputError(f"{task}: unknown task for Bonn data (choose from {sorted(TASKS)})")
    path = Path(folder)
    path = path / BONN_FILE if path.is_dir() else path
    if not path.is_file():
        raise InputError(f"{path}: Bonn npz file not found")
    with np.load(path) as bonn:
        samples, sets = bonn["X"], bonn["set"].astype(str)
        recording_ids = tuple(bonn["recording"].astype(str))
        sampling_frequency_hz = float(bonn["fs_hz"])
    class_names = TASK_CLASSES[task]
    labels = np.array([class_names.index(TASKS[task][s]) for s in sets], dtype=np.int64)
    signals = tuple(
        check_signal(row, f"{path}:{rid}") for row, rid in zip(samples, recording_ids, strict=True)
    )
    subclasses = np.array([BONN_SETS.index(s) for s in sets], dtype=np.int64)
    return Recordings(signals, labels, class_names, recording_ids, sampling_frequency_hz, task,
                      str(path), subclasses, BONN_SETS)


def read_signal_file(path: str | Path) -> np.ndarray:
    """A .npy array, or a .csv/.txt table of numbers (one column per channel)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: file not found")
    try:
        if path.suffix.lower() == ".npy":
            array = np.load(path, allow_pickle=False)
        else:
            delimiter = "," if path.suffix.lower() == ".csv" else None
            array = np.loadtxt(path, delimiter=delimiter, dtype=np.float64, ndmin=1)
    except ValueError as error:
        raise InputError(f"{path}: not a numeric array ({error})") from error
    array = np.asarray(array, dtype=np.float64)
    # Files store (n_samples, n_channels); signals travel as (n_channels, n_samples).
    return check_signal(array.T if array.ndim == 2 else array, str(path))


def read_labels(path: Path) -> dict[str, str]:
    """``recording,label`` rows (a header line naming those columns is allowed), each recording
    once; UTF-8, with or without a byte-order mark."""
    if not path.is_file():
        raise InputError(f"{path}: labels file not found")
    labels: dict[str, str] = {}
    lines: dict[str, int] = {}
    rows = csv.reader(io.StringIO(read_text(path, "labels file")))
    for line_number, row in enumerate(rows, start=1):
        if not row or (line_number == 1 and row[:2] == ["recording", "label"]):
            continue
        if len(row) != 2 or not row[0].strip() or not row[1].strip():
            raise InputError(f"{path}: line {line_number}: expected 'recording,label'")
        recording = row[0].strip()
        if recording in lines:
            raise InputError(f"{path}: line {line_number}: recording {recording!r} is already "
                             f"labelled on line {lines[recording]}; list each recording once")
        labels[recording], lines[recording] = row[1].strip(), line_number
    if not labels:
        raise InputError(f"{path}: no labels")
    return labels


def load_folder(
    folder: str | Path,
    sampling_frequency_hz: float,
    labels_file: str | Path | None = None,
    task: str = "custom",
) -> Recordings:
    """A folder of per-recording arrays (.npy/.csv/.txt) and a ``labels.csv`` naming each stem."""
    folder = Path(folder)
    labels_path = Path(labels_file) if labels_file else folder / "labels.csv"
    labels = read_labels(labels_path)
    files = {
        p.stem: p for p in sorted(folder.iterdir())
        if p.suffix.lower() in ARRAY_SUFFIXES
        and p.resolve() != labels_path.resolve()
        and p.name != "labels.csv"
    }
    missing = sorted(set(labels) - set(files))
    unlabelled = sorted(set(files) - set(labels))
    if missing or unlabelled:
        raise InputError(
            f"{labels_path}: labels do not match the recordings in {folder} "
            f"(no file for {missing[:3]}, no label for {unlabelled[:3]})"
        )
    if not 0 < sampling_frequency_hz < np.inf:
        raise InputError(f"{folder}: a positive sampling frequency is required (--fs-hz)")
    ids = tuple(sorted(files))
    signals = tuple(read_signal_file(files[rid]) for rid in ids)
    _check_same_channels(signals, str(folder))
    class_names = _class_names(labels.values(), str(labels_path))
    label_array = np.array([class_names.index(labels[rid]) for rid in ids], dtype=np.int64)
    return Recordings(signals, label_array, class_names, ids, float(sampling_frequency_hz), task,
                      str(folder))


def load_annotated(path: str | Path, task: str = "custom") -> Recordings:
    """An EDF/BDF/FIF (any MNE-readable) file: each annotation becomes a labelled segment."""
    raw = read_mne_raw(path)
    data = raw.get_data().astype(np.float32)
    fs = float(raw.info["sfreq"])
    signals, names, ids = [], [], []
    for number, annotation in enumerate(raw.annotations):
        start = int(round((annotation["onset"] - raw.first_time) * fs))
        stop = start + int(round(annotation["duration"] * fs))
        if stop <= start:
            continue
        signals.append(check_signal(data[:, max(start, 0):stop], f"{path}: annotation {number}"))
        names.append(str(annotation["description"]))
        ids.append(f"{Path(path).stem}:{number}")
    if not signals:
        raise InputError(f"{path}: no annotations with a duration to use as labelled segments")
    class_names = _class_names(names, str(path))
    labels = np.array([class_names.index(n) for n in names], dtype=np.int64)
    return Recordings(tuple(signals), labels, class_names, tuple(ids), fs, task, str(path))


def read_mne_raw(path: str | Path):
    try:
        import mne
    except ImportError as error:
        raise InputError(
            f"{path}: reading this format needs MNE (pip install 'neurosort[eeg]')"
        ) from error
    try:
        return mne.io.read_raw(path, preload=True, verbose="error")
    except (ValueError, OSError, RuntimeError) as error:
        raise InputError(f"{path}: MNE could not read it ({error})") from error


def read_stream_signal(path: str | Path) -> tuple[np.ndarray, float | None]:
    """A long signal for streaming prediction, and its sampling rate when the file knows it."""
    path = Path(path)
    if path.suffix.lower() in ARRAY_SUFFIXES:
        return read_signal_file(path), None
    if not path.exists():
        raise InputError(f"{path}: file not found")
    raw = read_mne_raw(path)
    return check_signal(raw.get_data(), str(path)), float(raw.info["sfreq"])


def load_recordings(
    source: str | Path,
    task: str = "binary",
    sampling_frequency_hz: float = 0.0,
    labels_file: str | Path | None = None,
) -> Recordings:
    """Bonn folder or npz, a folder of arrays with labels, or an annotated MNE-readable file."""
    path = Path(source)
    if path.is_dir() and not (path / BONN_FILE).is_file():
        return load_folder(path, sampling_frequency_hz, labels_file, task)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    if labels_file:
        raise InputError(f"{path}: --labels is for a folder of arrays; these data carry their "
                         "own labels")
    is_bonn = path.is_dir() or path.name == BONN_FILE
    recordings = load_bonn(path, task) if is_bonn else load_annotated(path, task)
    check_given_rate(path, recordings.sampling_frequency_hz, sampling_frequency_hz)
    return recordings


def check_given_rate(path: Path, file_rate_hz: float | None, given_hz: float | None) -> None:
    if file_rate_hz and given_hz and abs(given_hz - file_rate_hz) > 1e-3:
        raise InputError(f"{path}: the file is sampled at {file_rate_hz:g} Hz but --fs-hz says "
                         f"{given_hz:g} Hz; leave --fs-hz out for this file")


def _check_same_channels(signals: tuple[np.ndarray, ...], where: str) -> None:
    counts = sorted({s.shape[0] for s in signals})
    if len(counts) > 1:
        raise InputError(f"{where}: recordings differ in channel count ({counts})")


def _class_names(labels, where: str) -> tuple[str, ...]:
    """The sorted distinct labels; InputError when there is only one (nothing to tell apart)."""
    names = tuple(sorted(set(labels)))
    if len(names) < 2:
        raise InputError(f"{where}: one class only ({names[0]!r}); training and evaluating "
                         "need at least two")
    return names
