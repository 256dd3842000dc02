import json
import re
import subprocess
import sys

import numpy as np
import pytest

from neurosort import detect_cnn
from neurosort.checks import cpu_count
from neurosort.config import SortConfig, replace
from neurosort.detect_cnn import (
    DEFAULT_WEIGHTS,
    WindowSpec,
    default_classifier,
    load_classifier,
    new_classifier,
)
from neurosort.detect_cnn import (
    detect_cnn as detect_with_cnn,
)
from neurosort.detect_cnn_train import (
    LabelledWindows,
    TrainingSettings,
    classification_scores,
    fit_classifier,
    injected_recording,
    labelled_windows,
)
from neurosort.detection import detect_recording
from neurosort.errors import InputError
from neurosort.evaluate import detection_scores
from neurosort.pipeline import sort_recording
from neurosort.types import Recording

CARD = DEFAULT_WEIGHTS.with_suffix(".json")
SPIKE_SHAPE = -np.diff(np.exp(-0.5 * ((np.arange(49) - 24) / 4.0) ** 2), prepend=0) * 8


def _synthetic(fs=24000.0, duration_s=6.0, seed=0, **options):
    rng = np.random.default_rng(seed)
    shape = [SPIKE_SHAPE / np.abs(SPIKE_SHAPE).max()]
    return injected_recording(shape, fs, duration_s, rng, **options)


def _detect(traces, classifier=None, fs=24000.0):
    n_channels = traces.shape[1]
    noise = np.median(np.abs(traces), axis=0) / 0.6745
    return detect_with_cnn(
        traces,
        noise,
        threshold=4.5,
        polarity="both",
        dead_time_samples=14,
        neighbours=np.ones((n_channels, n_channels), bool),
        sampling_frequency_hz=fs,
        classifier=classifier,
    )


def test_import_does_not_import_torch():
    code = "import sys, neurosort.detect_cnn; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)


def test_every_kept_wavelet_level_has_coefficients():
    spec = WindowSpec()
    assert spec.coefficient_lengths() == [8, 8, 16]
    assert spec.input_size == spec.n_samples + 32


def test_shipped_weights_reproduce_card_validation_f1(data_dir):
    card = json.loads(CARD.read_text())
    spec = default_classifier().spec
    assert spec == WindowSpec(**card["window"])
    fraction = card["settings"]["validation_fraction"]
    for name in sorted(card["validation"]["f1_per_recording"])[:1]:
        with np.load(data_dir / "mearec" / "train" / f"{name}.npz") as data:
            traces = data["traces"].astype(np.float32) * float(data["gain_uv"])
            fs = float(data["sampling_frequency"])
            truth = data["spike_times"]
        split = int(len(traces) * (1 - fraction))
        part = labelled_windows(traces, fs, truth, spec, None, name, (split, len(traces)))
        probabilities = default_classifier().probabilities(part.windows)
        validation = card["validation"]
        scores = classification_scores(probabilities, part.labels, validation["probability"])
        assert scores["f1"] == pytest.approx(validation["f1_per_recording"][name], abs=1e-4)


def _balanced(part, rng):
    spikes, noise = np.flatnonzero(part.labels > 0.5), np.flatnonzero(part.labels < 0.5)
    n = min(len(spikes), len(noise))
    keep = np.sort(np.concatenate([rng.choice(spikes, n, False), rng.choice(noise, n, False)]))
    return LabelledWindows(part.windows[keep], part.labels[keep], part.sources[:1] * len(keep))


def test_tiny_training_run_separates_spikes_from_noise():
    spec = WindowSpec()
    rng = np.random.default_rng(1)
    parts = []
    for seed in (0, 1):
        traces, truth = _synthetic(
            duration_s=5.0, seed=seed, snr_range=(4, 12), n_background_units=(0, 1)
        )
        part = labelled_windows(traces, 24000.0, truth, spec, rng, f"synthetic_{seed}")
        parts.append(_balanced(part, rng))
    train, validation = parts
    settings = TrainingSettings(seed=0, epochs=5, threads=1, batch_size=32)
    classifier, history = fit_classifier(train, validation, settings, spec)
    scores = classification_scores(
        classifier.probabilities(validation.windows), validation.labels, 0.5
    )
    chance_f1 = 2 * 0.5 / (1 + 0.5)
    assert history.val_loss[history.best_epoch] < 0.5
    assert scores["f1"] > chance_f1 + 0.15


def test_detector_is_deterministic_and_finds_spikes():
    traces, truth = _synthetic(seed=3)
    first = _detect(traces)
    second = _detect(traces.copy())
    np.testing.assert_array_equal(first, second)
    scores = detection_scores(first["sample_index"], truth, 12)
    assert scores["f1"] > 0.8


def test_resampled_recording_is_detected_at_its_own_rate():
    traces, truth = _synthetic(fs=32000.0, seed=4)
    peaks = _detect(traces, fs=32000.0)
    assert detection_scores(peaks["sample_index"], truth, 16)["f1"] > 0.8


def _assert_one_line_error(path, match):
    with pytest.raises(InputError, match=match) as error:
        load_classifier(path)
    message = str(error.value)
    assert str(path) in message
    assert "\n" not in message


def test_missing_weights_file(tmp_path):
    _assert_one_line_error(tmp_path / "absent.pt", "not found")


def test_corrupt_weights_file(tmp_path):
    path = tmp_path / "corrupt.pt"
    path.write_bytes(b"\x00not a torch file" * 10)
    _assert_one_line_error(path, "not a readable model file")


def test_foreign_checkpoint(tmp_path):
    from neurosort.nn import save_checkpoint

    path = save_checkpoint(tmp_path / "foreign.pt", {"weights": [1, 2, 3]})
    _assert_one_line_error(path, "not a neurosort CNN detector file")


def test_weights_with_wrong_shapes(tmp_path):
    classifier = new_classifier(WindowSpec())
    payload = classifier.payload()
    payload["architecture"] = {"channels": 4, "hidden": 32}
    from neurosort.nn import save_checkpoint

    path = save_checkpoint(tmp_path / "shapes.pt", payload)
    _assert_one_line_error(path, "incompatible CNN detector weights")


def test_sort_with_cnn_runs_end_to_end():
    traces, truth = _synthetic(duration_s=8.0, seed=5)
    recording = Recording(np.repeat(traces, 2, axis=1) * [1.0, 0.5], 24000.0)
    config = SortConfig(detect=replace(SortConfig().detect, method="cnn"))
    result = sort_recording(recording, config)
    assert len(result.unit_ids) >= 1
    assert detection_scores(result.spikes["sample_index"], truth, 12)["recall"] > 0.8


def test_sort_never_falls_back_when_weights_are_missing(tmp_path, monkeypatch):
    monkeypatch.setattr(detect_cnn, "DEFAULT_WEIGHTS", tmp_path / "missing.pt")
    default_classifier.cache_clear()
    traces, _ = _synthetic(duration_s=2.0, seed=6)
    config = SortConfig(detect=replace(SortConfig().detect, method="cnn"))
    try:
        with pytest.raises(InputError, match="missing.pt"):
            detect_recording(Recording(traces, 24000.0), config)
    finally:
        default_classifier.cache_clear()


def test_cli_detect_prints_precision_recall_curve(tmp_path, capsys):
    from neurosort.cli import main
    from neurosort.io import save_npz_recording

    traces, truth = _synthetic(duration_s=3.0, seed=7)
    path = save_npz_recording(tmp_path / "rec.npz", traces, 24000.0, truth, np.zeros_like(truth))
    argv = ["--no-progress", "detect", str(path), "--out", str(tmp_path / "out")]
    argv += ["--ground-truth", str(path), "--pr-curve", "--set", "detect.method=cnn"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    curve = [json.loads(line) for line in lines if line.startswith('{"cnn_probability"')]
    assert len(curve) == len(detect_cnn.PROBABILITY_GRID)
    recalls = [point["recall"] for point in curve]
    assert recalls == sorted(recalls, reverse=True)


def test_train_detector_refuses_test_recordings(tmp_path):
    from neurosort.detect_cnn_train import training_files

    (tmp_path / "mono_test_dev_00.npz").write_bytes(b"")
    with pytest.raises(InputError, match="must not be used for training"):
        training_files(tmp_path)


def test_training_is_reproducible():
    spec = WindowSpec()
    traces, truth = _synthetic(duration_s=3.0, seed=8, n_background_units=(0, 1))
    part = labelled_windows(traces, 24000.0, truth, spec, np.random.default_rng(0), "synthetic")
    settings = TrainingSettings(seed=3, epochs=1, threads=1, batch_size=64)
    first, _ = fit_classifier(part, part, settings, spec)
    second, _ = fit_classifier(part, part, settings, spec)
    for name, value in first.network.state_dict().items():
        assert np.array_equal(value.numpy(), second.network.state_dict()[name].numpy()), name


@pytest.mark.slow
def test_shipped_detector_weights_are_what_their_card_command_trains(retrained_from_card):
    import torch

    retrained, shipped = retrained_from_card(DEFAULT_WEIGHTS)
    assert all(torch.equal(retrained[name], shipped[name]) for name in shipped)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--epochs", "0"], "--epochs must be an integer >= 1, got 0"),
        (["--epochs", "-3"], "--epochs must be an integer >= 1, got -3"),
        (["--seed", "-1"], "--seed must be an integer in [0, 2147483647], got -1"),
        (["--threads", "0"], "--threads must be an integer >= 1, got 0"),
    ],
)
def test_train_detector_refuses_bad_numbers_before_writing(tmp_path, capsys, options, message):
    from neurosort.cli import main

    out = tmp_path / "out" / "detector.pt"
    command = ["--no-progress", "train-detector", "--out", str(out), "--train-dir", str(tmp_path)]
    assert main(command + options) == 1
    assert message in capsys.readouterr().err
    assert not out.parent.exists()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"validation_fraction": 1.0}, "validation_fraction must be a number in (0, 1)"),
        ({"batch_size": 0}, "batch_size must be an integer >= 1, got 0"),
        ({"max_windows_per_source": 0}, "max_windows_per_source must be an integer >= 1"),
        ({"injected_rates_hz": (20000.0, -1.0)}, "injected_rates_hz must be a finite number > 0"),
        ({"generator_duration_s": float("nan")}, "generator_duration_s must be a finite number"),
        ({"added_noise_gains": (-1.0,)}, "added_noise_gains must be a finite number >= 0"),
        ({"epochs": 2.5}, "--epochs must be an integer >= 1, got 2.5"),
    ],
)
def test_training_settings_out_of_range_name_the_setting(setting, message):
    with pytest.raises(InputError, match=re.escape(message)):
        TrainingSettings(**setting)


def test_too_many_threads_are_capped_with_a_warning_before_training(monkeypatch, caplog, tmp_path):
    from neurosort import detect_cnn_train

    seen = {}

    def stop(settings, spec):
        seen["threads"] = settings.threads
        raise InputError("stopped before building the data")

    monkeypatch.setattr(detect_cnn_train, "build_training_data", stop)
    with pytest.raises(InputError, match="stopped"):
        detect_cnn_train.train_detector(tmp_path / "w.pt", TrainingSettings(threads=100000))
    assert seen["threads"] == cpu_count()
    assert f"--threads 100000: only {seen['threads']} CPUs here" in caplog.text


def test_training_files_without_mearec_arrays_are_refused(tmp_path):
    from neurosort.detect_cnn_train import mearec_training_files

    np.savez(tmp_path / "mono_train_00.npz", traces=np.zeros((10, 1)), sampling_frequency=1.0)
    with pytest.raises(InputError, match="not a MEArec training recording .no gain_uv, spike_t"):
        mearec_training_files(tmp_path)
    (tmp_path / "mono_train_00.npz").write_bytes(b"PK\x03\x04 not really a zip file")
    with pytest.raises(InputError, match="mono_train_00.npz: not a readable .npz file"):
        mearec_training_files(tmp_path)


def test_train_detector_refuses_a_folder_as_out_before_training(tmp_path, capsys):
    from neurosort.cli import main

    command = ["--no-progress", "train-detector", "--out", str(tmp_path), "--train-dir", "missing"]
    assert main(command) == 1
    assert "--out " + str(tmp_path) + ": is a folder; name a file" in capsys.readouterr().err
