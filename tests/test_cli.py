"""The command line: commands end to end, and every bad input exits 1 with one line."""

import json

import numpy as np
import pytest
import scipy.io

from neurosort.cli import main
from neurosort.io import save_npz_recording


@pytest.fixture(scope="module")
def small_recording(demo_npz):
    return demo_npz(duration_s=8.0, seed=1)


def run_cli(capsys, *args):
    code = main(["--no-progress", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_sort_then_evaluate(small_recording, tmp_path, capsys):
    out = tmp_path / "out"
    code, stdout, _ = run_cli(capsys, "sort", small_recording, "--out", out, "--no-report")
    assert code == 0 and "units" in stdout
    code, stdout, _ = run_cli(capsys, "evaluate", out, "--ground-truth", small_recording)
    assert code == 0 and "mean_accuracy" in stdout
    summary = json.loads((out / "evaluation.json").read_text())["summary"]
    assert summary["mean_accuracy"] > 0.6
    assert (out / "evaluation.csv").is_file()


def test_detect_writes_peaks_and_scores(small_recording, tmp_path, capsys):
    out = tmp_path / "peaks"
    code, stdout, _ = run_cli(
        capsys, "detect", small_recording, "--out", out, "--ground-truth", small_recording
    )
    assert code == 0
    assert json.loads(stdout.splitlines()[-1])["recall"] > 0.8
    with np.load(out / "peaks.npz") as peaks:
        assert peaks["sample_index"].dtype == np.int64 and len(peaks["sample_index"]) > 10
        n_peaks = len(peaks["sample_index"])
    run = json.loads((out / "run.json").read_text())
    assert run["n_peaks"] == n_peaks
    assert {"filter", "detect"} <= set(run["stage_timings_s"])


def test_detect_does_not_import_the_sorting_stages(small_recording, tmp_path):
    import subprocess
    import sys

    code = (
        "import sys; from neurosort.cli import main; "
        f"main(['--no-progress', 'detect', {str(small_recording)!r}, '--out', {str(tmp_path)!r}]); "
        "print('sklearn' in sys.modules, 'torch' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.stdout.split()[-2:] == ["False", "False"], result.stderr


def test_config_dump_and_validate(tmp_path, capsys):
    code, stdout, _ = run_cli(capsys, "config", "dump-defaults")
    path = tmp_path / "sort.toml"
    path.write_text(stdout)
    assert code == 0 and run_cli(capsys, "config", "validate", path)[0] == 0


def test_set_override_reaches_the_run(small_recording, tmp_path, capsys):
    out = tmp_path / "out"
    code, _, _ = run_cli(
        capsys,
        "sort",
        small_recording,
        "--out",
        out,
        "--no-report",
        "--set",
        "detect.threshold_mad=6",
    )
    assert code == 0 and "threshold_mad = 6.0" in (out / "config.toml").read_text()


def _write_bad_inputs(folder):
    fs = 24000.0
    good = np.random.default_rng(0).normal(0, 1, (24000, 1)).astype(np.float32)
    nan = good.copy()
    nan[100, 0] = np.nan
    inf = good.copy()
    inf[5, 0] = np.inf
    save_npz_recording(folder / "nan.npz", nan, fs)
    save_npz_recording(folder / "inf.npz", inf, fs)
    save_npz_recording(folder / "constant.npz", np.full((24000, 1), 3.0, np.float32), fs)
    np.savez(folder / "empty.npz", traces=np.zeros((0, 1), np.float32), sampling_frequency=fs)
    np.savez(folder / "no_rate.npz", traces=good)
    np.savez(folder / "negative_rate.npz", traces=good, sampling_frequency=-5.0)
    save_npz_recording(folder / "short.npz", good[:20], fs)
    save_npz_recording(folder / "good.npz", good, fs)
    scipy.io.savemat(folder / "good.mat", {"data": good.T, "sr": fs})
    (folder / "truncated.mat").write_bytes((folder / "good.mat").read_bytes()[:300])
    (folder / "corrupt.npz").write_bytes(b"PK\x03\x04 this is not a zip archive")
    (folder / "unknown.xyz").write_bytes(b"\x00" * 64)
    (folder / "bad.toml").write_text("[detect]\nthreshhold_mad = 4\n")
    save_npz_recording(folder / "tiny.npz", good[:200], fs)
    save_npz_recording(folder / "low_rate.npz", good, 500.0)


BAD_INPUTS = [
    ("missing.npz", [], "missing.npz"),
    ("unknown.xyz", [], "unknown.xyz"),
    ("good.npz", ["--format", "nosuchformat"], "nosuchformat"),
    ("truncated.mat", [], "truncated.mat"),
    ("corrupt.npz", [], "corrupt.npz"),
    ("nan.npz", [], "nan.npz"),
    ("inf.npz", [], "inf.npz"),
    ("empty.npz", [], "empty.npz"),
    ("constant.npz", [], "constant.npz"),
    ("no_rate.npz", [], "no_rate.npz"),
    ("negative_rate.npz", [], "negative_rate.npz"),
    ("good.npz", ["--sampling-frequency", "0"], "good.npz"),
    ("good.npz", ["--config", "{folder}/bad.toml"], "threshold_mad"),
    ("good.npz", ["--set", "detect.nosuchkey=1"], "threshold_mad"),
    ("short.npz", [], "short.npz"),
    ("tiny.npz", [], "tiny.npz: 200 samples is too short"),
    ("low_rate.npz", [], "low_rate.npz: sampled at 500 Hz"),
    ("good.npz", ["--gain-uv", "nan"], "gain must be finite"),
    ("good.npz", ["--set", "preprocess.chunk_duration_s=1e-9"], "chunk_duration_s"),
    ("good.npz", ["--set", "detect.dead_time_ms=1e12"], "dead_time_ms"),
]


@pytest.mark.parametrize("name, extra, must_mention", BAD_INPUTS)
def test_bad_input_exits_1_with_one_line(tmp_path, capsys, name, extra, must_mention):
    _write_bad_inputs(tmp_path)
    out = tmp_path / "out"
    extra = [arg.format(folder=tmp_path) for arg in extra]
    code, _, stderr = run_cli(capsys, "sort", tmp_path / name, "--out", out, *extra)
    assert code == 1
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("neurosort: error:") and must_mention in lines[0]
    assert not (out / "spikes.npz").exists()


@pytest.fixture(scope="module")
def sorted_folder(small_recording, tmp_path_factory):
    out = tmp_path_factory.mktemp("sorted") / "out"
    args = ["--no-progress", "sort", str(small_recording), "--out", str(out), "--no-report"]
    assert main(args) == 0
    return out


def _write_truth(path, times, sampling_frequency_hz=24000.0):
    times = np.asarray(times, dtype=np.int64)
    np.savez(
        path,
        spike_times=times,
        spike_units=np.zeros(times.size, np.int32),
        sampling_frequency=sampling_frequency_hz,
    )
    return path


MISMATCHED_TRUTHS = [
    ([100, 5000, 10**9], 24000.0, "1 of 3 spikes lie outside the recording"),
    ([100, 5000], 30000.0, "sampled at 30000 Hz"),
    ([], 24000.0, "no ground-truth spikes"),
]


@pytest.mark.parametrize("times, rate, message", MISMATCHED_TRUTHS)
def test_ground_truth_of_another_recording_is_refused(
    small_recording, sorted_folder, tmp_path, capsys, times, rate, message
):
    truth = _write_truth(tmp_path / "truth.npz", times, rate)
    code, _, stderr = run_cli(capsys, "evaluate", sorted_folder, "--ground-truth", truth)
    assert code == 1 and message in stderr and len(stderr.strip().splitlines()) == 1
    out = tmp_path / "peaks"
    code, _, stderr = run_cli(
        capsys, "detect", small_recording, "--out", out, "--ground-truth", truth
    )
    assert code == 1 and message in stderr and not out.exists()


@pytest.mark.parametrize(("rate", "n_samples", "message"), [
    (30000.0, None, "sampled at 30000 Hz but the sorting at 24000 Hz"),
    (None, 1000, "1000 samples but the sorted recording had"),
])
def test_evaluate_refuses_a_recording_that_was_not_sorted(
    small_recording, sorted_folder, tmp_path, capsys, rate, n_samples, message
):
    with np.load(small_recording) as data:
        other = save_npz_recording(tmp_path / "other.npz", data["traces"][:n_samples],
                                   rate or float(data["sampling_frequency"]))
    code, _, stderr = run_cli(capsys, "evaluate", sorted_folder, "--ground-truth",
                              small_recording, "--recording", other)
    assert code == 1 and f"other.npz: {message}" in stderr


@pytest.mark.parametrize("name", ["spikes.npz", "templates.npy"])
def test_a_damaged_output_folder_is_named(small_recording, sorted_folder, tmp_path, capsys, name):
    import shutil

    damaged = tmp_path / "damaged"
    shutil.copytree(sorted_folder, damaged)
    (damaged / name).write_bytes((damaged / name).read_bytes()[:300])
    code, _, stderr = run_cli(capsys, "evaluate", damaged, "--ground-truth", small_recording)
    assert code == 1 and f"{name}: truncated or corrupt" in stderr


def test_evaluate_refuses_a_zero_sampling_rate(small_recording, sorted_folder, capsys):
    code, _, stderr = run_cli(
        capsys, "evaluate", sorted_folder, "--ground-truth", small_recording,
        "--sampling-frequency", "0",
    )
    assert code == 1 and "sampling rate must be positive" in stderr


@pytest.mark.parametrize(
    "args",
    [
        ["detect", "rec.npz", "--out", "x", "--pr-curve"],
        ["detect", "rec.npz", "--out", "x", "--match-window-ms", "-1"],
        ["evaluate", "out", "--ground-truth", "t.npz", "--match-window", "-3"],
        ["evaluate", "out", "--ground-truth", "t.npz", "--snr-threshold", "nan"],
    ],
)
def test_usage_errors_exit_2(args):
    with pytest.raises(SystemExit) as exit_info:
        main(args)
    assert exit_info.value.code == 2


def test_evaluate_writes_an_embedding_page_when_features_exist(small_recording, tmp_path, capsys):
    out = tmp_path / "out"
    assert run_cli(capsys, "sort", small_recording, "--out", out, "--no-report")[0] == 0
    assert (out / "features.npy").is_file()
    code, stdout, _ = run_cli(capsys, "evaluate", out, "--ground-truth", small_recording)
    assert code == 0 and "mean_accuracy" in stdout
    page = (out / "evaluation.html").read_text()
    assert page.count('src="data:image/png;base64,') == 1 and "mean_accuracy" in page
    (out / "evaluation.html").unlink()
    (out / "features.npy").unlink()
    assert run_cli(capsys, "evaluate", out, "--ground-truth", small_recording)[0] == 0
    assert not (out / "evaluation.html").exists()


def test_out_never_replaces_files_neurosort_did_not_write(small_recording, tmp_path, capsys,
                                                          monkeypatch):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep")
    for command in ("sort", "detect"):
        code, _, stderr = run_cli(capsys, command, small_recording, "--out", mine)
        assert code == 1 and "neurosort did not write" in stderr
    (tmp_path / "a_file").write_text("keep")
    code, _, stderr = run_cli(capsys, "detect", small_recording, "--out", tmp_path / "a_file")
    assert code == 1 and "is not a folder" in stderr
    monkeypatch.chdir(mine)
    for out in (".", "..", ""):
        code, _, stderr = run_cli(capsys, "detect", small_recording, "--out", out)
        assert code == 1 and "working folder" in stderr
    assert (mine / "notes.txt").read_text() == (tmp_path / "a_file").read_text() == "keep"


def test_out_replaces_an_earlier_output_whole(small_recording, tmp_path, capsys):
    out = tmp_path / "peaks"
    assert run_cli(capsys, "detect", small_recording, "--out", out)[0] == 0
    (out / "stale.txt").write_text("from an earlier run")
    assert run_cli(capsys, "detect", small_recording, "--out", out)[0] == 0
    assert (out / "peaks.npz").is_file() and not (out / "stale.txt").exists()


def test_a_phy_folder_is_replaced_only_by_a_phy_export(tmp_path):
    from neurosort.errors import InputError
    from neurosort.output import check_replaceable

    (tmp_path / "phy").mkdir()
    (tmp_path / "phy" / "params.py").write_text("dat_path = 'x'")
    assert check_replaceable(tmp_path / "phy", marker="params.py") == tmp_path / "phy"
    with pytest.raises(InputError, match="no params.py"):
        check_replaceable(tmp_path, marker="params.py")
