import json
import logging
import shutil

import numpy as np
import pytest
from states_helpers import run_cli, synthetic_signal

from neurosort.errors import InputError

TRAIN_OPTIONS = ("--fs-hz", "100", "--window-samples", "100", "--hop-samples", "50",
                 "--max-epochs", "8", "--patience", "3", "--threads", "1")


def trained_file(model, folder, tmp_path_factory):
    path = tmp_path_factory.mktemp(f"states_{model}") / f"{model}.pt"
    assert run_cli("train", "--data", str(folder), "--task", "rhythm",
                   "--model", model, "--out", str(path), *TRAIN_OPTIONS) == 0
    return path


@pytest.fixture(scope="module")
def model_file(synthetic_folder, tmp_path_factory):
    return trained_file("cnn", synthetic_folder, tmp_path_factory)


@pytest.fixture(scope="module")
def forest_file(synthetic_folder, tmp_path_factory):
    return trained_file("spectral_rf", synthetic_folder, tmp_path_factory)


@pytest.fixture(scope="module")
def long_signal(tmp_path_factory):
    rng = np.random.default_rng(7)
    signal = np.concatenate([synthetic_signal("slow", 1000, rng),
                             synthetic_signal("fast", 1000, rng)])
    path = tmp_path_factory.mktemp("states_signal") / "long.npy"
    np.save(path, signal)
    return path


def test_cv_writes_the_documented_json(synthetic_folder, tmp_path, capsys):
    summary = tmp_path / "cv.json"
    assert run_cli("cv", "--data", str(synthetic_folder), "--task", "rhythm",
                   "--model", "cnn", "--folds", "3", "--json", str(summary),
                   "--out", str(tmp_path / "figures"), *TRAIN_OPTIONS, "--max-epochs", "2",
                   "--aggregation", "log_mean", "--jobs", "2") == 0
    result = json.loads(summary.read_text())
    tested = [r for fold in result["folds"] for r in fold["test_recordings"]]
    assert len(result["folds"]) == 3 and len(tested) == len(set(tested)) == 24
    fold_accuracy = [fold["recording"]["accuracy"] for fold in result["folds"]]
    assert result["mean"]["recording"]["accuracy"] == pytest.approx(np.mean(fold_accuracy))
    assert (tmp_path / "figures" / "learning_curves.png").stat().st_size > 0
    assert (tmp_path / "figures" / "confusion_window.png").stat().st_size > 0
    details = json.loads((tmp_path / "figures" / "details.json").read_text())
    assert details["recording_aggregation"] == "log_mean"
    outcomes = [row for fold in details["folds"] for row in fold["recordings"]]
    assert sorted(row["recording"] for row in outcomes) == sorted(tested)
    for row in outcomes:
        assert row["label"] in ("slow", "fast") and row["predicted"] in ("slow", "fast")
        assert sum(row["probabilities"].values()) == pytest.approx(1, abs=1e-3)
        assert row["predicted"] == max(row["probabilities"], key=row["probabilities"].get)
        assert 0 <= row["window_accuracy"] <= 1
    right = sum(np.trace(fold["recording"]["confusion"]) for fold in details["folds"])
    assert right == sum(row["label"] == row["predicted"] for row in outcomes)
    assert "split recording" in capsys.readouterr().out


def test_training_options_reach_the_model_card(synthetic_folder, tmp_path):
    from neurosort.states.modelfile import load_model

    path = tmp_path / "unweighted.pt"
    assert run_cli("train", "--data", str(synthetic_folder), "--task", "rhythm", "--model", "cnn",
                   "--out", str(path), *TRAIN_OPTIONS, "--max-epochs", "2",
                   "--class-weighting", "none", "--validation-fraction", "0.25",
                   "--weight-decay", "0.01") == 0
    card = load_model(path).card
    assert card["parameters"]["class_weighting"] == "none"
    assert card["parameters"]["weight_decay"] == 0.01
    assert card["parameters"]["validation_fraction"] == 0.25
    assert card["early_stopping"].startswith("validation loss on 25%")
    assert len(card["history"]["val_loss"]) == len(card["history"]["train_loss"]) <= 2


def test_evaluate_a_saved_model(model_file, synthetic_folder, tmp_path):
    summary = tmp_path / "eval.json"
    assert run_cli("evaluate", str(model_file), "--data", str(synthetic_folder),
                   "--fs-hz", "100", "--json", str(summary)) == 0
    assert json.loads(summary.read_text())["mean"]["window"]["accuracy"] >= 0.95


def test_model_file_from_another_task_is_an_input_error(model_file, synthetic_folder):
    with pytest.raises(InputError, match="trained for task 'rhythm'"):
        run_cli("evaluate", str(model_file), "--data", str(synthetic_folder),
                "--fs-hz", "100", "--task", "sleep")


def test_predict_streams_states_and_recommendations(model_file, long_signal, tmp_path, capsys):
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"confidence_threshold": 0.7, "states": {
        "fast": {"frequency_hz": 130, "amplitude_ma": 2, "pulse_width_us": 60, "duration_min": 1},
        "slow": {"frequency_hz": 0, "amplitude_ma": 0, "pulse_width_us": 0, "duration_min": 0},
    }}))
    rows_file = tmp_path / "rows.jsonl"
    assert run_cli("predict", str(model_file), str(long_signal), "--policy", str(policy),
                   "--out", str(rows_file)) == 0
    rows = [json.loads(line) for line in rows_file.read_text().splitlines()]
    assert len(rows) == 39 and rows[0]["start_s"] == 0 and rows[1]["start_s"] == 0.5
    assert [r["state"] for r in rows[2:15]] == ["slow"] * 13
    assert [r["state"] for r in rows[-13:]] == ["fast"] * 13
    assert rows[-1]["stimulation"]["frequency_hz"] == 130
    assert all(r["latency_ms"] > 0 for r in rows)
    assert capsys.readouterr().out.splitlines()[0].startswith("start_s,end_s,p_fast,p_slow")


def test_scale_dependent_model_warns_of_other_units(forest_file, long_signal, tmp_path,
                                                   caplog):
    from neurosort.states.modelfile import load_model

    assert len(load_model(forest_file).card["channel_std_range"]["low"]) == 1
    volts = tmp_path / "volts.npy"
    np.save(volts, np.load(long_signal) * 1e-6)
    assert run_cli("predict", str(forest_file), str(long_signal)) == 0
    assert "units match" not in caplog.text
    assert run_cli("predict", str(forest_file), str(volts)) == 0
    assert "volts.npy: 1 of 1 signals have a channel" in caplog.text


def test_evaluate_names_the_recordings_in_other_units(forest_file, synthetic_folder, tmp_path,
                                                      caplog):
    shutil.copytree(synthetic_folder, tmp_path / "data")
    np.save(tmp_path / "data" / "fast03.npy", np.load(synthetic_folder / "fast03.npy") * 1e3)
    assert run_cli("evaluate", str(forest_file), "--data", str(tmp_path / "data"),
                   "--fs-hz", "100") == 0
    assert "1 of 24 signals (fast03) have a channel" in caplog.text


def test_model_file_without_an_amplitude_range_is_not_checked(forest_file, caplog):
    from neurosort.states.modelfile import load_model

    trained = load_model(forest_file)
    del trained.card["channel_std_range"]
    with caplog.at_level(logging.INFO, logger="neurosort"):
        trained.check_amplitude([np.ones((1, 500))], "old.pt")
    assert "old.pt: the model card has no training amplitude range" in caplog.text


def test_scale_free_model_does_not_mind_the_units(model_file, long_signal, tmp_path, caplog):
    volts = tmp_path / "volts.npy"
    np.save(volts, np.load(long_signal) * 1e-6)
    assert run_cli("predict", str(model_file), str(volts)) == 0
    assert "units match" not in caplog.text


def test_predict_says_unknown_below_the_threshold(model_file, long_signal, tmp_path):
    rows_file = tmp_path / "rows.jsonl"
    run_cli("predict", str(model_file), str(long_signal), "--threshold", "0.99",
            "--out", str(rows_file))
    rows = [json.loads(line) for line in rows_file.read_text().splitlines()]
    unsure = [r["state"] == "unknown" for r in rows]
    assert unsure == [r["confidence"] < 0.99 for r in rows]
    assert any(unsure) and not all(unsure)
    assert all(r["stimulation"] is None for r in rows)


def test_history_shorter_than_a_window_is_an_input_error(model_file, long_signal):
    with pytest.raises(InputError, match=r"--history-s must be 0 \(all the signal so far\) or "
                                         r"at least one window \(1 s\), got 0.5"):
        run_cli("predict", str(model_file), str(long_signal), "--history-s", "0.5")


def test_bad_policy_file_is_an_input_error(model_file, long_signal, tmp_path):
    policy = tmp_path / "policy.toml"
    policy.write_text("[states.fast]\nfrequency_hz = 130\n")
    with pytest.raises(InputError, match="policy.toml: states must be exactly"):
        run_cli("predict", str(model_file), str(long_signal), "--policy", str(policy))


def test_signal_shorter_than_one_window_is_an_input_error(model_file, tmp_path):
    np.save(tmp_path / "short.npy", np.zeros(60))
    with pytest.raises(InputError, match="short.npy: signal of 60 samples is shorter"):
        run_cli("predict", str(model_file), str(tmp_path / "short.npy"))


def test_nan_signal_is_an_input_error(model_file, tmp_path):
    signal = np.ones(500)
    signal[3] = np.inf
    np.save(tmp_path / "nan.npy", signal)
    with pytest.raises(InputError, match="nan.npy: 1 NaN or infinite samples"):
        run_cli("predict", str(model_file), str(tmp_path / "nan.npy"))


def test_foreign_file_is_not_a_model(tmp_path, long_signal):
    fake = tmp_path / "fake.pt"
    fake.write_bytes(b"not a model")
    with pytest.raises(InputError, match="fake.pt: not a readable model file"):
        run_cli("predict", str(fake), str(long_signal))


def test_error_messages_are_one_line(model_file, tmp_path):
    np.save(tmp_path / "short.npy", np.zeros(60))
    with pytest.raises(InputError) as caught:
        run_cli("predict", str(model_file), str(tmp_path / "short.npy"))
    assert "\n" not in str(caught.value)


def test_subclasses_need_data_that_have_them(synthetic_folder):
    with pytest.raises(InputError, match="no subclasses to train on"):
        run_cli("cv", "--data", str(synthetic_folder), "--task", "rhythm", "--model", "cnn",
                *TRAIN_OPTIONS, "--subclasses")
    with pytest.raises(InputError, match="--subclasses: needs a network model"):
        run_cli("cv", "--data", str(synthetic_folder), "--task", "rhythm",
                "--model", "spectral_rf", "--fs-hz", "100", "--subclasses")


def test_bonn_model_trained_on_sets_predicts_the_task_classes(data_dir, tmp_path):
    from neurosort.states.modelfile import load_model

    path = tmp_path / "three_sets.pt"
    assert run_cli("train", "--data", str(data_dir / "bonn_eeg"), "--task", "three",
                   "--model", "cnn", "--subclasses", "--max-epochs", "1", "--threads", "1",
                   "--out", str(path)) == 0
    trained = load_model(path)
    assert trained.card["subclasses"] == {"Z": "normal", "O": "normal", "N": "normal",
                                          "F": "F", "S": "seizure"}
    assert trained.classifier.labels_.tolist() == [0, 1, 2, 3, 4]
    windows = np.zeros((3, 1, 178), np.float32)
    assert trained.predict_proba(windows).shape == (3, 3)


def test_flat_windows_recommend_nothing(model_file, long_signal, tmp_path):
    signal = np.load(long_signal)
    signal[1200:1500] = 7.0
    np.save(tmp_path / "lost_contact.npy", signal)
    rows_file = tmp_path / "rows.jsonl"
    policy = tmp_path / "policy.json"
    policy.write_text(json.dumps({"confidence_threshold": 0.5, "states": {
        "fast": {"frequency_hz": 130, "amplitude_ma": 2, "pulse_width_us": 60, "duration_min": 1},
        "slow": {"frequency_hz": 0, "amplitude_ma": 0, "pulse_width_us": 0, "duration_min": 0},
    }}))
    assert run_cli("predict", str(model_file), str(tmp_path / "lost_contact.npy"),
                   "--policy", str(policy), "--out", str(rows_file)) == 0
    rows = [json.loads(line) for line in rows_file.read_text().splitlines()]
    flat = [r for r in rows if r["start_s"] >= 12 and r["end_s"] <= 15]
    assert flat and all(r["state"] == "unknown" and r["stimulation"] is None for r in flat)
    assert rows[-1]["state"] == "fast"


def test_constant_signal_is_an_input_error(model_file, tmp_path):
    np.save(tmp_path / "flat.npy", np.zeros(4000))
    with pytest.raises(InputError, match="flat.npy: constant signal"):
        run_cli("predict", str(model_file), str(tmp_path / "flat.npy"))
