import json
import logging
from functools import partial

import numpy as np
import pytest
import torch
from sklearn.linear_model import LogisticRegression

from neurosort.errors import InputError
from neurosort.log import configure
from neurosort.states.catalog import fold_classifier
from neurosort.states.data import load_folder
from neurosort.states.evaluate import (
    classification_metrics,
    cross_validate,
    recording_folds,
    recording_probabilities,
)
from neurosort.states.windows import WindowConfig


def test_recording_folds_are_disjoint_and_cover_everything():
    labels = np.repeat([0, 1, 2], [10, 10, 30])
    folds = recording_folds(labels, 5, seed=3)
    tested = np.concatenate([test for _, test in folds])
    assert sorted(tested.tolist()) == list(range(50))
    for train, test in folds:
        assert not set(train) & set(test)
        assert np.bincount(labels[test]).tolist() == [2, 2, 6]


class RecordingSpy(LogisticRegression):
    """Logistic regression on window power that remembers which recordings it trained on."""

    def fit(self, X, y, groups=None):
        self.train_groups_ = set(groups.tolist())
        self.n_windows_ = len(X)
        return super().fit(np.log(X.var(axis=2) + 1e-9), y)

    def predict_proba(self, X):
        return super().predict_proba(np.log(X.var(axis=2) + 1e-9))


def test_cross_validation_never_tests_on_training_recordings(synthetic_folder):
    recordings = load_folder(synthetic_folder, 100.0)
    spies = []

    def make(fold):
        spies.append(RecordingSpy())
        return spies[-1]

    window = WindowConfig(length_samples=100, hop_samples=50, scaling="global")
    report = cross_validate(recordings, make, window, "spy", n_folds=4, seed=0)
    tested = []
    for spy, fold in zip(spies, report.folds, strict=True):
        trained_on = {recordings.recording_ids[i] for i in spy.train_groups_}
        assert not trained_on & set(fold.test_recordings)
        tested += fold.test_recordings
    assert sorted(tested) == sorted(recordings.recording_ids)
    summary = report.to_json()
    assert set(summary) == {"mean", "folds"}
    assert set(summary["mean"]) == {"window", "recording"}
    assert set(summary["folds"][0]) == {"test_recordings", "window", "recording"}
    assert set(summary["mean"]["window"]) == {
        "accuracy", "balanced_accuracy", "per_class_accuracy", "per_class_f1"}
    assert set(summary["mean"]["recording"]["per_class_f1"]) == {"fast", "slow"}
    json.dumps(summary)


def test_denser_training_windows_come_from_training_recordings_only(synthetic_folder):
    recordings = load_folder(synthetic_folder, 100.0)  # recordings of 800 samples
    spies = []

    def make(fold):
        spies.append(RecordingSpy())
        return spies[-1]

    window = WindowConfig(length_samples=100, hop_samples=100, train_windows_per_hop=4,
                          scaling="global")
    report = cross_validate(recordings, make, window, "spy", n_folds=4, seed=0)
    for spy, fold in zip(spies, report.folds, strict=True):
        assert not {recordings.recording_ids[i] for i in spy.train_groups_} & set(
            fold.test_recordings)
        assert spy.n_windows_ == 29 * len(spy.train_groups_)  # starts 0, 25, ..., 700
        n_tested = np.sum(fold.window_details["confusion"])
        assert n_tested == 8 * len(fold.test_recordings)  # starts 0, 100, ..., 700


def test_folds_in_worker_processes_equal_serial_folds_with_the_same_threads(synthetic_folder):
    threads = torch.get_num_threads()
    recordings = load_folder(synthetic_folder, 100.0)
    window = WindowConfig(100, 50)
    factory = partial(fold_classifier, "cnn", window, 100.0, 0, {"max_epochs": 2})

    def folds(n_threads, n_jobs):
        torch.set_num_threads(n_threads)
        report = cross_validate(recordings, factory, window, "cnn", n_folds=3, n_jobs=n_jobs)
        return report.to_json()["folds"]

    parallel = folds(2, 2)  # folds 0 and 1 on one thread each, then fold 2 on both
    one_thread, two_threads = folds(1, 1), folds(2, 1)
    torch.set_num_threads(threads)
    assert parallel[:2] == one_thread[:2]
    assert parallel[2] == two_threads[2]


def test_worker_processes_log_like_the_console(synthetic_folder, capfd):
    recordings = load_folder(synthetic_folder, 100.0)
    window = WindowConfig(100, 50)
    factory = partial(fold_classifier, "cnn", window, 100.0, 0, {"max_epochs": 1})
    logger = logging.getLogger("neurosort")
    level, handlers = logger.level, list(logger.handlers)
    logger.handlers.clear()
    try:
        configure(verbose=True, progress=False)
        cross_validate(recordings, factory, window, "cnn", n_folds=2, n_jobs=2)
    finally:
        logger.handlers[:] = handlers
        logger.setLevel(level)
    logged = capfd.readouterr().err
    assert "fold 0: fitting" in logged and "fold 1: fitting" in logged


def test_metrics_on_a_known_confusion():
    y_true = np.array([0, 0, 0, 0, 1, 1])
    y_pred = np.array([0, 0, 0, 1, 1, 1])
    metrics = classification_metrics(y_true, y_pred, ("a", "b"))
    assert metrics["accuracy"] == pytest.approx(5 / 6)
    assert metrics["per_class_accuracy"] == {"a": 0.75, "b": 1.0}
    assert metrics["balanced_accuracy"] == pytest.approx(0.875)
    assert metrics["per_class_f1"]["b"] == pytest.approx(0.8)


def test_recording_probabilities_average_windows():
    probabilities = np.array([[0.9, 0.1], [0.3, 0.7], [0.2, 0.8], [0.6, 0.4]])
    recordings, mean = recording_probabilities(probabilities, np.array([4, 4, 7, 7]))
    assert recordings.tolist() == [4, 7]
    assert np.allclose(mean, [[0.6, 0.4], [0.4, 0.6]])


def test_log_mean_lets_one_confident_window_outweigh_several_lukewarm_ones():
    probabilities = np.array([[0.3, 0.7], [0.3, 0.7], [0.3, 0.7], [0.999, 0.001]])
    owners = np.zeros(4, dtype=int)
    _, mean = recording_probabilities(probabilities, owners)
    _, log_mean = recording_probabilities(probabilities, owners, "log_mean")
    assert mean.argmax() == 1 and log_mean.argmax() == 0
    assert log_mean.sum() == pytest.approx(1.0)
    with pytest.raises(InputError):
        recording_probabilities(probabilities, owners, "median")


def test_per_recording_accuracy_counts_each_recordings_windows():
    from neurosort.states.evaluate import per_recording_accuracy

    correct = np.array([True, False, False, True, True])
    accuracy = per_recording_accuracy(correct, owners=np.array([3, 1, 3, 1, 1]))
    np.testing.assert_allclose(accuracy, [2 / 3, 1 / 2])
