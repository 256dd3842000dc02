import time

import numpy as np
import pytest
import torch

from neurosort.errors import InputError
from neurosort.states.classifier import NetworkClassifier, SpectralForest, class_weights
from neurosort.states.data import load_folder
from neurosort.states.models import NETWORKS, MaxPool, build_network, frames
from neurosort.states.windows import WindowConfig, cut_windows


def synthetic_windows(folder, scaling="recording"):
    recordings = load_folder(folder, 100.0)
    windows, owners = cut_windows(recordings.signals, WindowConfig(100, 50, scaling=scaling))
    return windows, recordings.labels[owners], owners


@pytest.mark.parametrize("name", sorted(NETWORKS))
@pytest.mark.parametrize("n_samples", [64, 100])
def test_every_network_maps_windows_to_class_logits(name, n_samples):
    network = build_network(name, n_channels=2, n_classes=3)
    logits = network(torch.zeros(4, 2, n_samples))
    assert logits.shape == (4, 3)


def test_frames_group_consecutive_samples_of_every_channel_into_steps():
    x = torch.arange(2 * 2 * 10, dtype=torch.float32).reshape(2, 2, 10)
    steps = frames(x, 4)  # 10 samples: two steps of 4, the last 2 samples cut
    assert steps.shape == (2, 2, 8)
    assert steps[1, 1].tolist() == [24, 25, 26, 27, 34, 35, 36, 37]
    assert torch.equal(frames(x, 1), x.transpose(1, 2))


def test_bilstm_over_frames_reads_windows_of_any_length():
    network = build_network("bilstm", n_channels=2, n_classes=3, options={"frame_samples": 4})
    assert network.first.input_size == 8
    assert network(torch.zeros(4, 2, 178)).shape == (4, 3)


def test_tiny_cnn_learns_two_synthetic_classes_in_seconds(synthetic_folder):
    torch.set_num_threads(1)
    windows, labels, owners = synthetic_windows(synthetic_folder)
    train = owners % 4 != 0  # recordings 0, 4, 8, ... are held out whole
    classifier = NetworkClassifier("cnn", max_epochs=12, patience_epochs=4, seed=0)
    start = time.process_time()  # CPU seconds, so that other jobs on the machine do not count
    classifier.fit(windows[train], labels[train], owners[train])
    assert time.process_time() - start < 20
    assert classifier.n_channels_ == 1 and classifier.n_samples_ == 100
    accuracy = np.mean(classifier.predict(windows[~train]) == labels[~train])
    assert accuracy >= 0.95


def test_training_is_reproducible_with_a_seed(synthetic_folder):
    torch.set_num_threads(1)
    windows, labels, owners = synthetic_windows(synthetic_folder)
    first, second = (
        NetworkClassifier("cnn", max_epochs=2, seed=5).fit(windows, labels, owners)
        for _ in range(2)
    )
    assert np.allclose(first.predict_proba(windows), second.predict_proba(windows))


def test_crops_train_and_average_at_inference(synthetic_folder):
    torch.set_num_threads(1)
    windows, labels, owners = synthetic_windows(synthetic_folder, scaling="global")
    classifier = NetworkClassifier("cnn", crop_samples=80, n_inference_crops=3,
                                   global_scaling=True, max_epochs=2, seed=0)
    probabilities = classifier.fit(windows, labels, owners).predict_proba(windows[:5])
    assert probabilities.shape == (5, 2)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert abs(float(classifier.scale_std_[0]) - float(windows.std())) < 1e-3 * windows.std()


def test_subclass_probabilities_sum_into_their_class(synthetic_folder):
    torch.set_num_threads(1)
    windows, labels, owners = synthetic_windows(synthetic_folder)
    subclasses = 2 * labels + owners % 2  # each class split in two arbitrary halves
    classifier = NetworkClassifier("cnn", max_epochs=3, seed=0, label_classes=[0, 0, 1, 1])
    classifier.fit(windows, subclasses, owners)
    assert classifier.labels_.tolist() == [0, 1, 2, 3] and classifier.classes_.tolist() == [0, 1]
    probabilities = classifier.predict_proba(windows)
    assert probabilities.shape == (len(windows), 2)
    assert np.allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert np.mean(classifier.predict(windows) == labels) >= 0.9


def test_spectral_forest_separates_rhythms(synthetic_folder):
    windows, labels, owners = synthetic_windows(synthetic_folder)
    train = owners % 4 != 0
    forest = SpectralForest(sampling_frequency_hz=100.0, n_trees=50)
    forest.fit(windows[train], labels[train])
    assert np.mean(forest.predict(windows[~train]) == labels[~train]) >= 0.95


def test_class_weights_balanced_sqrt_none_and_earlier_booleans():
    y_index = np.array([0] * 10 + [1] * 30)  # 40 windows, 2 classes
    balanced = class_weights(y_index, 2, "balanced")
    assert np.allclose(balanced, [2.0, 2 / 3])
    assert np.allclose(class_weights(y_index, 2, "sqrt"), np.sqrt(balanced))
    assert np.allclose(class_weights(y_index, 2, "none"), [1.0, 1.0])
    assert np.allclose(class_weights(y_index, 2, True), balanced)
    assert np.allclose(class_weights(y_index, 2, False), [1.0, 1.0])
    with pytest.raises(InputError):
        class_weights(y_index, 2, "inverse")


def test_max_pool_matches_torch_max_pool_on_odd_lengths():
    x = torch.randn(3, 4, 179)
    assert torch.equal(MaxPool(2)(x), torch.nn.MaxPool1d(2)(x))
