"""Bad options and output paths of ``neurosort states``: one-line errors before any training."""

import pytest
from states_helpers import build_parser, run_cli

from neurosort.checks import POSITIVE, PROBABILITY, Interval
from neurosort.errors import InputError

PREDICT = ("predict", "model.pt", "signal.npy")
TRAIN = ("train", "--data", "data", "--out", "model.pt")
CV = ("cv", "--data", "data")
EVALUATE = ("evaluate", "model.pt", "--data", "data")
SMALL_CV = ("--task", "rhythm", "--fs-hz", "100", "--window-samples", "100",
            "--hop-samples", "50", "--threads", "1")


@pytest.mark.parametrize(("arguments", "message"), [
    ((*PREDICT, "--threshold", "1.5"), "--threshold: must be a number in [0, 1], got 1.5"),
    ((*PREDICT, "--threshold", "-0.1"), "--threshold: must be a number in [0, 1], got -0.1"),
    ((*PREDICT, "--threshold", "nan"), "--threshold: must be a number in [0, 1], got nan"),
    ((*PREDICT, "--smooth-windows", "-2"), "--smooth-windows: must be an integer >= 0, got -2"),
    ((*PREDICT, "--history-s", "-1"), "--history-s: must be a finite number >= 0, got -1"),
    ((*PREDICT, "--history-s", "nan"), "--history-s: must be a finite number >= 0, got nan"),
    ((*PREDICT, "--hop-samples", "0"), "--hop-samples: must be an integer >= 1, got 0"),
    ((*PREDICT, "--fs-hz", "nan"), "--fs-hz: must be a finite number > 0, got nan"),
    ((*PREDICT, "--fs-hz", "inf"), "--fs-hz: must be a finite number > 0, got inf"),
    ((*PREDICT, "--fs-hz", "0"), "--fs-hz: must be a finite number > 0, got 0"),
    ((*PREDICT, "--fs-hz", "-100"), "--fs-hz: must be a finite number > 0, got -100"),
    ((*PREDICT, "--threads", "-1"), "--threads: must be an integer >= 0, got -1"),
    ((*TRAIN, "--max-epochs", "0"), "--max-epochs: must be an integer >= 1, got 0"),
    ((*TRAIN, "--patience", "0"), "--patience: must be an integer >= 1, got 0"),
    ((*TRAIN, "--validation-fraction", "1"), "--validation-fraction: must be a number in "
                                             "[0, 0.5], got 1"),
    ((*TRAIN, "--validation-fraction", "-0.2"), "--validation-fraction: must be a number in "
                                                "[0, 0.5], got -0.2"),
    ((*TRAIN, "--validation-fraction", "0.7"), "--validation-fraction: must be a number in "
                                               "[0, 0.5], got 0.7"),
    ((*TRAIN, "--window-samples", "1"), "--window-samples: must be an integer >= 2, got 1"),
    ((*TRAIN, "--hop-samples", "0"), "--hop-samples: must be an integer >= 1, got 0"),
    ((*TRAIN, "--train-windows-per-hop", "0"), "--train-windows-per-hop: must be an integer "
                                               ">= 1, got 0"),
    ((*TRAIN, "--crop-samples", "-1"), "--crop-samples: must be an integer >= 0, got -1"),
    ((*TRAIN, "--inference-crops", "0"), "--inference-crops: must be an integer >= 1, got 0"),
    ((*TRAIN, "--batch-size", "0"), "--batch-size: must be an integer >= 1, got 0"),
    ((*TRAIN, "--learning-rate", "0"), "--learning-rate: must be a finite number > 0, got 0"),
    ((*TRAIN, "--learning-rate", "nan"), "--learning-rate: must be a finite number > 0, "
                                         "got nan"),
    ((*TRAIN, "--weight-decay", "-0.01"), "--weight-decay: must be a finite number >= 0, "
                                          "got -0.01"),
    ((*TRAIN, "--seed", "-1"), "--seed: must be an integer in [0, 2147483647], got -1"),
    ((*TRAIN, "--fs-hz", "inf"), "--fs-hz: must be a finite number > 0, got inf"),
    ((*TRAIN, "--threads", "-3"), "--threads: must be an integer >= 0, got -3"),
    ((*CV, "--folds", "1"), "--folds: must be an integer >= 2, got 1"),
    ((*CV, "--jobs", "-1"), "--jobs: must be an integer >= 0, got -1"),
    ((*CV, "--max-epochs", "two"), "--max-epochs: must be an integer >= 1, got two"),
    ((*EVALUATE, "--fs-hz", "nan"), "--fs-hz: must be a finite number > 0, got nan"),
    ((*EVALUATE, "--threads", "-2"), "--threads: must be an integer >= 0, got -2"),
])
def test_out_of_range_options_are_usage_errors(capsys, arguments, message):
    with pytest.raises(SystemExit) as caught:
        build_parser().parse_args(["states", *arguments])
    assert caught.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1].endswith(f"argument {message}")


def test_intervals_say_what_is_allowed():
    assert str(PROBABILITY) == "in [0, 1]" and str(POSITIVE) == "> 0"
    assert str(Interval(0, 0.5, open_high=True)) == "in [0, 0.5)"
    assert 0.5 not in Interval(0, 0.5, open_high=True) and float("nan") not in PROBABILITY


@pytest.mark.parametrize(("arguments", "message"), [
    (("cv", "--data", "{missing}", "--json", "{folder}"), "--json {folder}: is a folder"),
    (("cv", "--data", "{missing}", "--out", "{file}"), "--out {file}: exists and is not a folder"),
    (("cv", "--data", "{missing}", "--out", "{file}/figures"),
     "--out {file}/figures: {file} is not a folder"),
    (("evaluate", "{missing}", "--data", "{missing}", "--json", "{folder}"),
     "--json {folder}: is a folder"),
    (("evaluate", "{missing}", "--data", "{missing}", "--json", "{file}/cv.json"),
     "--json {file}/cv.json: {file} is not a folder"),
    (("evaluate", "{missing}", "--data", "{missing}", "--out", "{file}"),
     "--out {file}: exists and is not a folder"),
    (("train", "--data", "{missing}", "--out", "{folder}"), "--out {folder}: is a folder"),
    (("train", "--data", "{missing}", "--out", "{file}/model.pt"),
     "--out {file}/model.pt: {file} is not a folder"),
    (("predict", "{missing}", "{missing}", "--out", "{folder}"), "--out {folder}: is a folder"),
])
def test_unwritable_outputs_are_refused_first(tmp_path, arguments, message):
    """The output is checked before the data or model is read (both are missing here)."""
    paths = {"missing": tmp_path / "missing", "folder": tmp_path, "file": tmp_path / "a_file"}
    paths["file"].write_text("")
    with pytest.raises(InputError) as caught:
        run_cli(*(argument.format(**paths) for argument in arguments))
    assert str(caught.value).startswith(message.format(**paths))


def test_folds_beyond_the_rarest_class_are_an_input_error(synthetic_folder):
    with pytest.raises(InputError, match=r"--folds must be in \[2, 12\] \(class 'fast' has 12 "
                                         r"recordings\), got 13"):
        run_cli("cv", "--data", str(synthetic_folder), *SMALL_CV, "--model", "spectral_rf",
                "--folds", "13")


def test_crop_longer_than_the_window_is_an_input_error(synthetic_folder, tmp_path):
    with pytest.raises(InputError, match=r"--crop-samples must be in \[0, 100\] \(0 or a crop of "
                       r"the 100-sample window; lstm's default crop\), got 120"):
        run_cli("train", "--data", str(synthetic_folder), *SMALL_CV, "--model", "lstm",
                "--out", str(tmp_path / "lstm.pt"))
    with pytest.raises(InputError, match=r"sample window\), got 101"):
        run_cli("train", "--data", str(synthetic_folder), *SMALL_CV, "--crop-samples", "101",
                "--out", str(tmp_path / "cnn.pt"))


@pytest.mark.parametrize(("arguments", "message"), [
    (("train", "--out", "{out}"), r"must be 0 or in \[0.0417, 0.5\] with 24 recordings to "
                                  r"train on, got 0.01$"),
    (("cv", "--folds", "3"), r"must be 0 or in \[0.0625, 0.5\] with 16 recordings to train "
                             r"on, got 0.01$"),
])
def test_validation_fraction_below_one_recording_is_an_input_error(
    synthetic_folder, tmp_path, arguments, message
):
    arguments = [a.format(out=tmp_path / "model.pt") for a in arguments]
    with pytest.raises(InputError, match=f"--validation-fraction {message}"):
        run_cli(*arguments, "--data", str(synthetic_folder), *SMALL_CV, "--model", "cnn",
                "--validation-fraction", "0.01")
