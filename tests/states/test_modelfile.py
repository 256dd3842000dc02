import numpy as np
import pytest

from neurosort.errors import InputError
from neurosort.states.classifier import NetworkClassifier, SpectralForest
from neurosort.states.data import load_folder
from neurosort.states.modelfile import TrainedModel, load_model, save_model
from neurosort.states.windows import WindowConfig, cut_windows


def test_spectral_forest_round_trip(synthetic_folder, tmp_path):
    recordings = load_folder(synthetic_folder, 100.0, task="rhythm")
    window = WindowConfig(100, 100, scaling="global")
    windows, owners = cut_windows(recordings.signals, window)
    forest = SpectralForest(100.0, n_trees=20).fit(windows, recordings.labels[owners])
    trained = TrainedModel(forest, "spectral_rf", "rhythm", recordings.class_names, window,
                           100.0, {"note": "test"})
    loaded = load_model(save_model(tmp_path / "forest.pt", trained))
    assert loaded.window == window and loaded.card == {"note": "test"}
    assert np.array_equal(loaded.predict_proba(windows), forest.predict_proba(windows))
    with pytest.raises(InputError, match="trained for task 'rhythm'"):
        loaded.check_task("five", recordings.class_names, "forest.pt")


def test_subclass_network_round_trip(synthetic_folder, tmp_path):
    recordings = load_folder(synthetic_folder, 100.0, task="rhythm")
    window = WindowConfig(100, 100)
    windows, owners = cut_windows(recordings.signals, window)
    labels = recordings.labels[owners]
    subclasses = np.where(labels == 0, owners % 2, 2)  # class 0 in two halves, class 1 whole
    network = NetworkClassifier("cnn", max_epochs=1, label_classes=[0, 0, 1])
    network.fit(windows, subclasses, owners)
    trained = TrainedModel(network, "cnn", "rhythm", recordings.class_names, window, 100.0, {})
    loaded = load_model(save_model(tmp_path / "subclasses.pt", trained))
    assert loaded.classifier.labels_.tolist() == [0, 1, 2]
    assert np.allclose(loaded.predict_proba(windows), network.predict_proba(windows), atol=1e-6)
    assert loaded.predict_proba(windows).shape == (len(windows), 2)


def test_checkpoint_without_the_format_marker_is_rejected(tmp_path):
    from neurosort.nn import save_checkpoint

    path = save_checkpoint(tmp_path / "other.pt", {"weights": [1, 2, 3]})
    with pytest.raises(InputError, match="other.pt: not a neurosort states model file"):
        load_model(path)


def test_annotated_edf_segments_become_recordings(tmp_path):
    mne = pytest.importorskip("mne")
    from neurosort.states.data import load_annotated

    rate = 100.0
    data = np.random.default_rng(0).standard_normal((1, 3000)) * 1e-5
    raw = mne.io.RawArray(data, mne.create_info(["EEG1"], rate, "eeg"), verbose="error")
    raw.set_annotations(mne.Annotations([0, 10, 20], [5, 5, 5], ["rest", "seizure", "rest"]))
    path = tmp_path / "annotated_raw.fif"
    raw.save(path, verbose="error")
    recordings = load_annotated(path, task="edf")
    assert recordings.class_names == ("rest", "seizure")
    assert recordings.labels.tolist() == [0, 1, 0]
    assert [s.shape for s in recordings.signals] == [(1, 500)] * 3
    from neurosort.states.data import load_recordings

    assert load_recordings(path, "edf", 100.0).class_names == ("rest", "seizure")
    with pytest.raises(InputError, match="sampled at 100 Hz but --fs-hz says 250 Hz"):
        load_recordings(path, "edf", 250.0)
    with pytest.raises(InputError, match="--labels is for a folder of arrays"):
        load_recordings(path, "edf", labels_file=tmp_path / "labels.csv")
