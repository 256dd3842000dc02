import dataclasses
import shutil

import numpy as np
import pytest

from neurosort.errors import InputError
from neurosort.states.data import load_bonn, load_folder, load_recordings, read_signal_file


def test_folder_loader_reads_arrays_and_labels(synthetic_folder):
    recordings = load_folder(synthetic_folder, sampling_frequency_hz=100.0)
    assert len(recordings) == 24
    assert recordings.class_names == ("fast", "slow")
    assert recordings.signals[0].shape == (1, 800)
    assert np.bincount(recordings.labels).tolist() == [12, 12]


def test_labels_that_do_not_match_recordings_are_an_input_error(synthetic_folder, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("recording,label\nslow00,slow\nnobody,fast\n")
    with pytest.raises(InputError, match=r"labels do not match .*no file for \['nobody'\]"):
        load_folder(synthetic_folder, 100.0, labels_file=labels)


def test_nan_samples_are_an_input_error(tmp_path):
    signal = np.ones(500)
    signal[10] = np.nan
    np.save(tmp_path / "bad.npy", signal)
    with pytest.raises(InputError, match="bad.npy: 1 NaN or infinite samples"):
        read_signal_file(tmp_path / "bad.npy")


def test_csv_columns_are_channels(tmp_path):
    np.savetxt(tmp_path / "two.csv", np.arange(20.0).reshape(10, 2), delimiter=",")
    assert read_signal_file(tmp_path / "two.csv").shape == (2, 10)


@pytest.mark.parametrize("rate", [0.0, -100.0, float("nan"), float("inf")])
def test_folder_needs_a_sampling_rate(synthetic_folder, rate):
    with pytest.raises(InputError, match="a positive sampling frequency is required"):
        load_recordings(synthetic_folder, "custom", rate)


def test_recording_listed_twice_is_an_input_error(synthetic_folder, tmp_path):
    labels = tmp_path / "labels.csv"
    lines = (synthetic_folder / "labels.csv").read_text().splitlines()
    labels.write_text("\n".join([*lines, "slow03,fast"]) + "\n")
    with pytest.raises(InputError, match=r"labels.csv: line 26: recording 'slow03' is already "
                                         r"labelled on line 5; list each recording once"):
        load_folder(synthetic_folder, 100.0, labels_file=labels)


def test_one_class_is_an_input_error(synthetic_folder, tmp_path):
    for name in ("slow00", "slow01"):
        np.save(tmp_path / f"{name}.npy", np.load(synthetic_folder / f"{name}.npy"))
    (tmp_path / "labels.csv").write_text("slow00,slow\nslow01,slow\n")
    with pytest.raises(InputError, match=r"labels.csv: one class only \('slow'\); training "
                                         "and evaluating need at least two"):
        load_folder(tmp_path, 100.0)


def test_labels_with_a_byte_order_mark_are_read(synthetic_folder, tmp_path):
    folder = shutil.copytree(synthetic_folder, tmp_path / "data")
    labels = folder / "labels.csv"
    labels.write_bytes(b"\xef\xbb\xbf" + labels.read_bytes())
    recordings = load_folder(folder, 100.0)
    assert len(recordings) == 24 and recordings.class_names == ("fast", "slow")


def test_labels_that_are_not_utf8_are_an_input_error(synthetic_folder, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_bytes((synthetic_folder / "labels.csv").read_bytes() + b"sl\xf6w,slow\n")
    with pytest.raises(InputError, match=r"labels.csv: labels file is not UTF-8 text \(byte "
                                         r"0xf6 at offset \d+\); save it as UTF-8"):
        load_folder(synthetic_folder, 100.0, labels_file=labels)


@pytest.mark.parametrize(("task", "counts"), [
    ("binary", [100, 400]), ("three", [100, 100, 300]), ("five", [100] * 5),
])
def test_bonn_tasks(data_dir, task, counts):
    recordings = load_bonn(data_dir / "bonn_eeg", task)
    assert len(recordings) == 500 and recordings.signals[0].shape == (1, 4097)
    assert recordings.sampling_frequency_hz == pytest.approx(173.61)
    assert np.bincount(recordings.labels).tolist() == counts
    seizure = recordings.class_names.index("seizure" if task != "five" else "S")
    assert all(r.startswith("S") for r in np.array(recordings.recording_ids)[
        recordings.labels == seizure])


def test_bonn_subclasses_are_the_sets_inside_the_task_classes(data_dir):
    recordings = load_bonn(data_dir / "bonn_eeg", "three")
    assert recordings.subclass_names == ("Z", "O", "N", "F", "S")
    names = recordings.class_names
    assert [names[c] for c in recordings.class_of_subclass()] == [
        "normal", "normal", "normal", "F", "seizure"]
    subset = recordings.subset(np.arange(0, 500, 7))
    assert subset.subclasses.tolist() == recordings.subclasses[::7].tolist()


def test_subclasses_must_sit_inside_one_class(synthetic_folder):
    recordings = load_folder(synthetic_folder, 100.0)
    with pytest.raises(InputError, match="no subclasses"):
        recordings.class_of_subclass()
    straddling = dataclasses.replace(
        recordings, subclasses=np.zeros(len(recordings), np.int64), subclass_names=("all",)
    )
    with pytest.raises(InputError, match="subclass all"):
        straddling.class_of_subclass()


def test_labels_elsewhere_leave_the_folders_own_labels_file_alone(synthetic_folder, tmp_path):
    labels = tmp_path / "my_labels.csv"
    shutil.copy(synthetic_folder / "labels.csv", labels)
    assert len(load_recordings(synthetic_folder, "custom", 100.0, labels)) == 24


def test_bonn_takes_neither_labels_nor_another_rate(data_dir):
    with pytest.raises(InputError, match="--labels is for a folder of arrays"):
        load_recordings(data_dir / "bonn_eeg", "binary", labels_file="labels.csv")
    with pytest.raises(InputError, match="but --fs-hz says 256 Hz"):
        load_recordings(data_dir / "bonn_eeg", "binary", 256.0)
