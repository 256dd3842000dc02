"""Cross-validation split by recording (and the leaky chunk-level split), with metrics."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import numpy as np
from sklearn.metrics import confusion_matrix, f1_score, precision_score, recall_score
from sklearn.model_selection import StratifiedKFold

from neurosort.errors import InputError
from neurosort.log import configure, get_logger, progress
from neurosort.states.data import Recordings
from neurosort.states.windows import WindowConfig, cut_windows

logger = get_logger(__name__)

SPLITS = ("recording", "chunk")
METRIC_KEYS = ("accuracy", "balanced_accuracy", "per_class_accuracy", "per_class_f1")


def recording_folds(
    labels: np.ndarray, n_folds: int, seed: int
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stratified folds over whole recordings: (train recordings, test recordings) per fold."""
    splitter = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    folds = list(splitter.split(np.zeros(len(labels)), labels))
    for train, test in folds:
        assert not np.intersect1d(train, test).size, "a recording is in train and test"
    return folds


def chunk_folds(window_labels: np.ndarray, n_folds: int, seed: int):
    """LEAKY: stratified folds over windows, so one recording's windows land on both sides."""
    splitter = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    return list(splitter.split(np.zeros(len(window_labels)), window_labels))


def classification_metrics(
    y_true: np.ndarray, y_pred: np.ndarray, class_names: tuple[str, ...]
) -> dict:
    """Accuracy, balanced accuracy, per-class accuracy (recall) and per-class F1."""
    labels = np.arange(len(class_names))
    recall = recall_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    f1 = f1_score(y_true, y_pred, labels=labels, average=None, zero_division=0)
    present = np.isin(labels, y_true)
    return {
        "accuracy": float(np.mean(y_true == y_pred)),
        "balanced_accuracy": float(recall[present].mean()),
        "per_class_accuracy": {n: float(v) for n, v in zip(class_names, recall, strict=True)},
        "per_class_f1": {n: float(v) for n, v in zip(class_names, f1, strict=True)},
    }


def detailed_metrics(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> dict:
    labels = np.arange(n_classes)
    return {
        "precision": precision_score(y_true, y_pred, labels=labels, average=None,
                                     zero_division=0).tolist(),
        "recall": recall_score(y_true, y_pred, labels=labels, average=None,
                               zero_division=0).tolist(),
        "confusion": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
    }


def mean_metrics(metrics: list[dict], reduce=np.mean) -> dict:
    """Reduce a list of metric dicts key by key (mean by default, or e.g. np.std)."""
    result = {}
    for key in METRIC_KEYS:
        if isinstance(metrics[0][key], dict):
            result[key] = {c: float(reduce([m[key][c] for m in metrics])) for c in metrics[0][key]}
        else:
            result[key] = float(reduce([m[key] for m in metrics]))
    return result


AGGREGATIONS = ("mean", "log_mean")


def recording_probabilities(
    probabilities: np.ndarray, owners: np.ndarray, aggregation: str = "mean"
) -> tuple[np.ndarray, np.ndarray]:
    """Window probabilities combined per recording: (recording indices, probabilities).

    ``mean`` averages them; ``log_mean`` takes their normalised geometric mean, which treats
    the windows as independent evidence (confident windows weigh more).
    """
    if aggregation not in AGGREGATIONS:
        raise InputError(f"aggregation must be one of {AGGREGATIONS}, not {aggregation!r}")
    recordings, inverse = np.unique(owners, return_inverse=True)
    values = probabilities
    if aggregation == "log_mean":
        values = np.log(np.clip(probabilities, 1e-6, 1.0))
    sums = np.zeros((len(recordings), probabilities.shape[1]))
    np.add.at(sums, inverse, values)
    means = sums / np.bincount(inverse)[:, None]
    if aggregation == "log_mean":
        means = np.exp(means - means.max(axis=1, keepdims=True))
        means /= means.sum(axis=1, keepdims=True)
    return recordings, means


@dataclass
class FoldResult:
    test_recordings: list[str]
    window: dict
    recording: dict
    window_details: dict
    recording_details: dict
    fit_seconds: float
    predict_seconds_per_window: float
    history: dict | None = None
    recording_outcomes: list[dict] = field(default_factory=list)


@dataclass
class CVReport:
    task: str
    model: str
    split: str
    class_names: tuple[str, ...]
    window: dict
    folds: list[FoldResult] = field(default_factory=list)
    aggregation: str = "mean"

    def mean(self) -> dict:
        return {level: mean_metrics([getattr(f, level) for f in self.folds])
                for level in ("window", "recording")}

    def std(self) -> dict:
        return {level: mean_metrics([getattr(f, level) for f in self.folds], np.std)
                for level in ("window", "recording")}

    def to_json(self) -> dict:
        """The documented schema: mean and per-fold window / recording metrics."""
        return {
            "mean": self.mean(),
            "folds": [
                {"test_recordings": f.test_recordings, "window": f.window,
                 "recording": f.recording}
                for f in self.folds
            ],
        }

    def details(self) -> dict:
        """Everything else: precision, recall, confusion matrices, timings, learning curves,
        and each test recording's class, prediction, probabilities and window accuracy."""
        return {
            "task": self.task, "model": self.model, "split": self.split,
            "class_names": list(self.class_names), "window_config": self.window,
            "recording_aggregation": self.aggregation,
            "std": self.std(),
            "folds": [
                {"window": f.window_details, "recording": f.recording_details,
                 "fit_seconds": f.fit_seconds,
                 "predict_seconds_per_window": f.predict_seconds_per_window,
                 "history": f.history, "recordings": f.recording_outcomes}
                for f in self.folds
            ],
        }


def score_fold(
    classifier, windows: np.ndarray, owners: np.ndarray, recordings: Recordings,
    test: np.ndarray, fit_seconds: float, aggregation: str = "mean",
) -> FoldResult:
    """Window- and recording-level metrics of a fitted classifier on the test windows."""
    start = time.perf_counter()
    probabilities = classifier.predict_proba(windows[test])
    per_window_seconds = (time.perf_counter() - start) / max(len(test), 1)
    y_window = recordings.labels[owners[test]]
    predicted = classifier.classes_[probabilities.argmax(axis=1)]
    record_index, record_probabilities = recording_probabilities(
        probabilities, owners[test], aggregation
    )
    y_record = recordings.labels[record_index]
    predicted_record = classifier.classes_[record_probabilities.argmax(axis=1)]
    names, n_classes = recordings.class_names, len(recordings.class_names)
    history = getattr(classifier, "history_", None)
    return FoldResult(
        test_recordings=[recordings.recording_ids[i] for i in record_index],
        window=classification_metrics(y_window, predicted, names),
        recording=classification_metrics(y_record, predicted_record, names),
        window_details=detailed_metrics(y_window, predicted, n_classes),
        recording_details=detailed_metrics(y_record, predicted_record, n_classes),
        fit_seconds=fit_seconds,
        predict_seconds_per_window=per_window_seconds,
        history=history.to_dict() if history is not None else None,
        recording_outcomes=recording_outcomes(
            recordings, record_index, predicted_record, record_probabilities,
            classifier.classes_, per_recording_accuracy(y_window == predicted, owners[test]),
        ),
    )


def per_recording_accuracy(window_correct: np.ndarray, owners: np.ndarray) -> np.ndarray:
    """Fraction of each recording's windows classified right, recordings in sorted order."""
    _, inverse = np.unique(owners, return_inverse=True)
    return np.bincount(inverse, weights=window_correct) / np.bincount(inverse)


def recording_outcomes(
    recordings: Recordings, record_index: np.ndarray, predicted: np.ndarray,
    probabilities: np.ndarray, classes: np.ndarray, window_accuracy: np.ndarray,
) -> list[dict]:
    """Per test recording: its class, the predicted class, the aggregated probabilities and
    the fraction of its windows classified right (which recordings a model gets wrong)."""
    names = recordings.class_names
    return [
        {
            "recording": recordings.recording_ids[index],
            "label": names[recordings.labels[index]],
            "predicted": names[label],
            "probabilities": {names[c]: round(float(p), 4)
                              for c, p in zip(classes, row, strict=True)},
            "window_accuracy": float(accuracy),
        }
        for index, label, row, accuracy in zip(
            record_index, predicted, probabilities, window_accuracy, strict=True)
    ]


def cross_validate(
    recordings: Recordings,
    make_classifier,
    window: WindowConfig,
    model_name: str,
    n_folds: int = 5,
    seed: int = 0,
    split: str = "recording",
    aggregation: str = "mean",
    n_jobs: int = 1,
    fit_labels: np.ndarray | None = None,
) -> CVReport:
    """k-fold CV; ``make_classifier(fold_index)`` returns a fresh unfitted classifier.

    The classifier is fitted on ``fit_labels`` (one per recording; default the labels, e.g.
    the subclasses for a classifier that sums subclass probabilities); folds are stratified
    and scored on the labels.

    ``split="recording"`` keeps each recording's windows on one side (asserted per fold) and
    trains on ``window.train_windows_per_hop`` windows per hop; ``split="chunk"`` is the leaky
    literature protocol, kept to show the size of the leak (its windows never overlap).
    With ``n_jobs > 1`` folds run in that many processes (``make_classifier`` must pickle),
    each fold's result equal to a serial run with the threads its process had.
    """
    windows, owners = cut_windows(recordings.signals, window, recordings.recording_ids)
    report = CVReport(recordings.task, model_name, split, recordings.class_names,
                      window.to_dict(), aggregation=aggregation)
    if split == "recording":
        train_windows, train_owners = cut_windows(
            recordings.signals, window.for_training(), recordings.recording_ids
        )
        folds = [
            (np.flatnonzero(np.isin(train_owners, train)), np.flatnonzero(np.isin(owners, test)))
            for train, test in recording_folds(recordings.labels, n_folds, seed)
        ]
        for train, test in folds:
            assert not set(train_owners[train]) & set(owners[test]), "recording in train and test"
    else:
        train_windows, train_owners = windows, owners
        folds = chunk_folds(recordings.labels[owners], n_folds, seed)
    fit_labels = recordings.labels if fit_labels is None else fit_labels
    tasks = [
        (make_classifier, fold_index, train_windows[train],
         fit_labels[train_owners[train]], train_owners[train], test)
        for fold_index, (train, test) in enumerate(folds)
    ]
    shared = (windows, owners, recordings, aggregation)
    for fold_index, result in enumerate(progress(_run_folds(tasks, shared, n_jobs), len(folds),
                                                 "folds")):
        logger.info("fold %d: window accuracy %.3f, recording accuracy %.3f, fit %.1f s",
                    fold_index, result.window["accuracy"], result.recording["accuracy"],
                    result.fit_seconds)
        report.folds.append(result)
    return report


def _run_folds(tasks: list[tuple], shared: tuple, n_jobs: int):
    """Fold results in fold order, computed here or in ``n_jobs`` worker processes.

    Each worker gets an equal share of the torch threads; the folds of a last, partial round
    share all of them (5 folds on 2 threads: four with one thread, the last with two).
    """
    if n_jobs <= 1:
        yield from (_fit_fold(task, 0, shared) for task in tasks)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    import torch

    total = torch.get_num_threads()
    threads = [max(1, total // n_jobs)] * len(tasks)
    tail = len(tasks) % n_jobs
    if tail:
        threads[-tail:] = [max(1, total // tail)] * tail
    with ProcessPoolExecutor(
        n_jobs, mp_context=multiprocessing.get_context("spawn"),
        initializer=_init_worker, initargs=(shared, _console_log_level()),
    ) as pool:
        yield from pool.map(_fit_fold, tasks, threads)


_WORKER_SHARED: tuple | None = None


def _console_log_level() -> int | None:
    """The level of the console logging ``configure`` set up here (None: not set up)."""
    logger = logging.getLogger("neurosort")
    return logger.level if logger.handlers else None


def _init_worker(shared: tuple, log_level: int | None = None) -> None:
    """Keep ``shared``; log to the console like the parent (spawned workers start bare)."""
    global _WORKER_SHARED
    _WORKER_SHARED = shared
    if log_level is not None:
        configure(verbose=log_level <= logging.DEBUG, progress=False)


def _fit_fold(task: tuple, threads: int, shared: tuple | None = None) -> FoldResult:
    """Fit and score one fold; ``threads`` > 0 sets torch's threads, ``shared`` defaults to
    what a worker process received at start."""
    if threads:
        import torch

        torch.set_num_threads(threads)
    make_classifier, fold_index, X, y, groups, test = task
    windows, owners, recordings, aggregation = shared or _WORKER_SHARED
    classifier = make_classifier(fold_index)
    logger.debug("fold %d: fitting %d windows", fold_index, len(X))
    start = time.perf_counter()
    classifier.fit(X, y, groups)
    return score_fold(classifier, windows, owners, recordings, test,
                      time.perf_counter() - start, aggregation)
