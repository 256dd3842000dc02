"""neurosort bench: study parsing, jobs, executors, resume, error rows, study report."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from neurosort import bench
from neurosort.errors import InputError
from neurosort.io import save_npz_recording

pd = pytest.importorskip("pandas")

ISSUE_STUDY = """\
[[recordings]]
path = "../shared/data/mearec/test/mono_test_dev_00_u03_n1.npz"
[[sorters]]
name = "neurosort"
[[sorters]]
name = "mountainsort5"
"""

TINY_STUDY = """\
name = "tiny"
snr_threshold = 3.0
[[recordings]]
path = "recordings/*.npz"
[[sorters]]
name = "neurosort"
[[sorters]]
name = "neurosort"
label = "neurosort-t6"
set = ["detect.threshold_mad=6", "cluster.method=hdbscan"]
"""

TIMING_COLUMNS = [
    "sort_wall_s",
    "sort_cpu_s",
    "job_wall_s",
    "cpu_s",
    "peak_memory_mib",
    "realtime_factor",
    "median_sort_wall_s",
    "median_realtime_factor",
    "median_peak_memory_mib",
    "total_cpu_s",
]


def make_recording(path: Path, seed: int, duration_s: float = 4.0) -> Path:
    import spikeinterface.core as si

    recording, sorting = si.generate_ground_truth_recording(
        durations=[duration_s],
        sampling_frequency=24000.0,
        num_channels=1,
        num_units=3,
        seed=seed,
        noise_kwargs={"noise_levels": 4.0, "strategy": "on_the_fly"},
    )
    spikes = sorting.to_spike_vector()
    return save_npz_recording(
        path, recording.get_traces(), 24000.0, spikes["sample_index"], spikes["unit_index"]
    )


@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tiny_study")
    (folder / "recordings").mkdir()
    for seed in (1, 2):
        make_recording(folder / "recordings" / f"gen{seed}.npz", seed)
    study = folder / "study.toml"
    study.write_text(TINY_STUDY)
    return study


@pytest.fixture(scope="module")
def serial_results(tiny_study, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("serial") / "results"
    return bench.run_study(bench.load_study(tiny_study), out, executor="serial")


def metrics(out_dir: Path, table: str) -> pd.DataFrame:
    frame = bench.read_table(out_dir, table)
    return frame.drop(columns=[c for c in TIMING_COLUMNS if c in frame.columns])


def test_smallest_issue_study_parses(tmp_path):
    data = tmp_path / "shared" / "data" / "mearec" / "test"
    data.mkdir(parents=True)
    make_recording(data / "mono_test_dev_00_u03_n1.npz", seed=0, duration_s=1.0)
    (tmp_path / "repo").mkdir()
    (tmp_path / "repo" / "study.toml").write_text(ISSUE_STUDY)
    study = bench.load_study(tmp_path / "repo" / "study.toml")
    [recording] = study.recordings
    assert recording.name == "mono_test_dev_00_u03_n1"
    assert Path(recording.ground_truth) == (data / "mono_test_dev_00_u03_n1.npz").resolve()
    assert [s.name for s in study.sorters] == ["neurosort", "mountainsort5"]
    assert study.sorters[1].params == {"scheme": "2", "detect_sign": 0}
    assert "threshold_mad" in study.sorters[0].config_toml
    assert study.match_window_samples == 30


def test_shared_study_parses_with_data_root(data_dir):
    study = bench.load_study(Path(__file__).parents[1] / "studies" / "shared.toml")
    names = [r.name for r in study.recordings]
    assert len(names) == 26 and "locust_trial_01" in names
    cbp = study.recordings[names.index("C_Easy1_noise015_5sec")]
    assert cbp.load_options == {"sampling_frequency_hz": 24000}
    assert study.recordings[names.index("locust_trial_01")].ground_truth is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[sorters]]\nname='neurosort'\n", "at least one [[recordings]]"),
        ("bogus = 1\n" + TINY_STUDY, "unknown study key(s) bogus"),
        (TINY_STUDY + "[[sorters]]\nname='magic'\n", "unknown sorter 'magic'"),
        (TINY_STUDY.replace("detect.threshold_mad=6", "detect.nope=6"), "nope"),
        (TINY_STUDY + "[[sorters]]\nname='neurosort'\n", "occur twice"),
        (TINY_STUDY.replace("recordings/*.npz", "missing/*.npz"), "no recording matches"),
        ("[[recordings]\n", "not valid TOML"),
        (
            TINY_STUDY.replace("detect.threshold_mad=6", "detect.threshold_mad=-1"),
            "sorter neurosort-t6: config key detect.threshold_mad: must be > 0, got -1.0",
        ),
        (
            TINY_STUDY.replace("cluster.method=hdbscan", "detect.polarity=up"),
            "config key detect.polarity: 'up' not one of both, negative, positive",
        ),
        (
            TINY_STUDY.replace("cluster.method=hdbscan", "cluster.method=kmeans"),
            "config key cluster.method: 'kmeans' not one of gmm_bic, hdbscan, isosplit",
        ),
        (
            TINY_STUDY.replace("cluster.method=hdbscan", "features.weights=missing.pt"),
            "config key features.weights: file missing.pt not found",
        ),
        (TINY_STUDY + "[[sorters]]\nname='neurosort'\nlabel='../x'\n", "must be a folder name"),
        (
            TINY_STUDY + "[[recordings]]\npath='recordings/gen1.npz'\nname='a/b'\n",
            "recording name 'a/b' must be a folder name",
        ),
        (
            TINY_STUDY.replace('"recordings/*.npz"', '"recordings/*.npz"\nground_truth = "no.npz"'),
            "no.npz of gen1.npz not found",
        ),
        (
            TINY_STUDY + "[[recordings]]\npath='recordings/gen2.npz'\nname='gen1__x'\n"
            "[[sorters]]\nname='neurosort'\nlabel='x__neurosort'\n",
            "job names gen1__x__neurosort occur twice",
        ),
        ("timeout_s = nan\n" + TINY_STUDY, "timeout_s must be a number, got nan"),
        ("match_window_samples = inf\n" + TINY_STUDY, "must be a finite number, got inf"),
        (TINY_STUDY + "[[sorters]]\nname='mountainsort5'\nparams=5\n", "must be a table"),
        (
            TINY_STUDY + "[[sorters]]\nname='spykingcircus2'\nparams={bogus=1}\n",
            "unknown spykingcircus2 param(s) bogus (allowed: apply_motion_correction,",
        ),
    ],
)
def test_bad_study_files_raise_input_error(tiny_study, tmp_path, text, message):
    path = tmp_path / "study.toml"
    shutil.copytree(tiny_study.parent / "recordings", tmp_path / "recordings")
    path.write_text(text)
    with pytest.raises(
        InputError,
        match=message.replace("[", r"\[")
        .replace("(", r"\(")
        .replace(")", r"\)")
        .replace("*", r"\*"),
    ):
        bench.load_study(path)


def test_a_study_saved_with_a_byte_order_mark_loads(tiny_study, tmp_path):
    (tmp_path / "study.toml").write_bytes(b"\xef\xbb\xbf" + TINY_STUDY.encode())
    (tmp_path / "recordings").symlink_to(tiny_study.parent / "recordings")
    assert bench.load_study(tmp_path / "study.toml").name == "tiny"


def test_data_root_is_overridden_by_environment(tiny_study, tmp_path, monkeypatch):
    study = tmp_path / "study.toml"
    study.write_text('data_root = "nowhere"\n' + TINY_STUDY)
    monkeypatch.setenv("NEUROSORT_DATA", str(tiny_study.parent))
    assert len(bench.load_study(study).recordings) == 2


def test_serial_study_writes_every_table(serial_results):
    summary = bench.read_table(serial_results, "summary")
    assert len(summary) == 4 and set(summary["status"]) == {"ok"}
    assert summary["mean_accuracy"].min() > 0.3
    units = bench.read_table(serial_results, "units")
    assert len(units) == 2 * 2 * 3
    assert units["snr"].notna().all()
    sorters = bench.read_table(serial_results, "sorters")
    assert list(sorters["sorter"]) == ["neurosort", "neurosort-t6"]
    for table in bench.TABLES:
        assert (serial_results / f"{table}.parquet").is_file()
    parquet = pd.read_parquet(serial_results / "summary.parquet")
    assert list(parquet["recording"]) == list(summary["recording"])
    assert not list(serial_results.rglob("*.tmp"))
    pivot = bench.format_pivot_table(serial_results, "mean_accuracy").splitlines()
    assert pivot[0] == "| recording | neurosort | neurosort-t6 |" and len(pivot) == 2 + 2


def test_dask_local_cluster_gives_identical_metrics(tiny_study, serial_results, tmp_path):
    pytest.importorskip("dask.distributed")
    out = bench.run_study(
        bench.load_study(tiny_study), tmp_path / "dask", executor="dask", workers=2
    )
    for table in ("units", "summary", "sorters", "accuracy_vs_snr"):
        pd.testing.assert_frame_equal(metrics(out, table), metrics(serial_results, table))


def test_resume_after_kill_loses_and_duplicates_nothing(tiny_study, serial_results, tmp_path):
    out = tmp_path / "killed"
    shutil.copytree(serial_results, out)
    jobs = sorted((out / "jobs").iterdir())
    in_flight, failed = jobs[0], jobs[1]
    (in_flight / "row.json").unlink()
    (in_flight / ".row.json.123.tmp").write_text("{half a row")
    row = json.loads((failed / "row.json").read_text())
    (failed / "row.json").write_text(json.dumps({**row, "status": "failed", "units": []}))
    untouched = {job.name: (job / "row.json").stat().st_mtime_ns for job in jobs[2:]}
    time.sleep(0.01)

    bench.run_study(bench.load_study(tiny_study), out, resume=True, executor="process", workers=2)

    for job in jobs[2:]:
        assert (job / "row.json").stat().st_mtime_ns == untouched[job.name]
    for job in (in_flight, failed):
        assert json.loads((job / "row.json").read_text())["status"] == "ok"
    summary = bench.read_table(out, "summary")
    assert not summary.duplicated(["recording", "sorter"]).any()
    pd.testing.assert_frame_equal(metrics(out, "summary"), metrics(serial_results, "summary"))
    pd.testing.assert_frame_equal(metrics(out, "units"), metrics(serial_results, "units"))


def test_resume_reruns_a_job_whose_config_changed(tiny_study, serial_results, tmp_path):
    out = tmp_path / "changed"
    shutil.copytree(serial_results, out)
    study = bench.load_study(tiny_study)
    changed = bench.Study(**{**study.__dict__, "match_window_samples": 10})
    jobs = bench.make_jobs(changed, out)
    assert all(bench.finished_row(job) is None for job in jobs)
    unchanged = bench.make_jobs(study, out)
    assert all(bench.finished_row(job) is not None for job in unchanged)


def test_failing_and_timed_out_jobs_become_error_rows(tiny_study, tmp_path):
    folder = tmp_path / "study"
    (folder / "recordings").mkdir(parents=True)
    shutil.copy(tiny_study.parent / "recordings" / "gen1.npz", folder / "recordings")
    (folder / "recordings" / "broken.npz").write_bytes(b"PK\x03\x04 not really a zip file")
    (folder / "study.toml").write_text(
        TINY_STUDY.split("[[sorters]]")[0] + "[[sorters]]\nname = 'neurosort'\n"
    )
    study = bench.load_study(folder / "study.toml")
    out = bench.run_study(study, tmp_path / "out")
    summary = bench.read_table(out, "summary").set_index("recording")
    assert summary.loc["broken", "status"] == "failed"
    assert "broken.npz" in summary.loc["broken", "error"]
    assert set(summary.drop(index="broken")["status"]) == {"ok"}
    assert bench.read_table(out, "sorters").loc[0, "n_failed"] == 1

    [job] = [
        j
        for j in bench.make_jobs(study, tmp_path / "slow", timeout_s=0.05)
        if j.recording.name == "gen1"
    ]
    row = bench.run_job(job)
    assert row["status"] == "failed"
    assert "timed out after 0.05 s" in row["error"]
    assert bench.read_row(Path(job.job_dir))["status"] == "failed"


def test_ground_truth_of_another_recording_fails_the_job_before_sorting(tiny_study, tmp_path):
    (tmp_path / "recordings").mkdir()
    shutil.copy(tiny_study.parent / "recordings" / "gen1.npz", tmp_path / "recordings")
    save_npz_recording(tmp_path / "other.npz", np.zeros((10, 1)), 30000.0, [1, 2], [0, 0])
    (tmp_path / "study.toml").write_text(
        TINY_STUDY.replace('"recordings/*.npz"', '"recordings/*.npz"\nground_truth = "other.npz"')
    )
    [job, _] = bench.make_jobs(bench.load_study(tmp_path / "study.toml"), tmp_path / "out")
    row = bench.run_job(job)
    assert row["status"] == "failed"
    assert "other.npz: sampled at 30000 Hz but the recording at 24000 Hz" in row["error"]
    assert not (Path(job.job_dir) / "sorter_output").exists()


def test_an_infinite_timeout_means_no_limit(tiny_study, tmp_path):
    (tmp_path / "study.toml").write_text("timeout_s = inf\n" + TINY_STUDY)
    (tmp_path / "recordings").symlink_to(tiny_study.parent / "recordings")
    assert bench.load_study(tmp_path / "study.toml").timeout_s == float("inf")


def test_kilosort4_is_skipped_with_a_reason(tiny_study, tmp_path):
    (tmp_path / "recordings").symlink_to(tiny_study.parent / "recordings")
    (tmp_path / "study.toml").write_text(
        TINY_STUDY.split("[[sorters]]")[0] + "[[sorters]]\nname = 'kilosort4'\n"
    )
    out = bench.run_study(bench.load_study(tmp_path / "study.toml"), tmp_path / "out")
    summary = bench.read_table(out, "summary")
    assert set(summary["status"]) == {"skipped"}
    assert summary["error"].str.startswith("kilosort4 skipped").all()


def test_a_study_filled_in_over_runs_keeps_every_current_row(tiny_study, serial_results, tmp_path):
    out = tmp_path / "partial"
    shutil.copytree(serial_results, out)
    shutil.rmtree(out / "jobs" / "gen2__neurosort-t6")
    study = bench.load_study(tiny_study)
    bench.run_study(study, out, resume=True, sorters=["neurosort"], recordings=["gen*"])
    assert len(bench.read_table(out, "summary")) == 3
    bench.run_study(study, out, resume=True, sorters=["neurosort-t6"], recordings=["gen2"])
    pd.testing.assert_frame_equal(metrics(out, "summary"), metrics(serial_results, "summary"))
    with pytest.raises(InputError, match="no sorter labelled magic"):
        bench.run_study(study, out, sorters=["magic"])
    with pytest.raises(InputError, match="no recording matches 'nope'"):
        bench.run_study(study, out, recordings=["nope"])


def test_cli_rejects_scheduler_without_dask(tiny_study, tmp_path):
    from neurosort import bench_cli

    parser = argparse.ArgumentParser()
    bench_cli.add_parser(parser.add_subparsers())
    args = parser.parse_args(
        ["bench", str(tiny_study), "--out", str(tmp_path), "--scheduler", "tcp://localhost:1"]
    )
    with pytest.raises(InputError, match="--scheduler needs --executor dask"):
        args.func(args)
    args = parser.parse_args(["report", str(tmp_path)])
    with pytest.raises(InputError, match="not a `neurosort bench` results folder"):
        args.func(args)


def test_cli_refuses_a_bad_study_before_running_a_job(tiny_study, tmp_path, capsys):
    from neurosort.cli import main

    study = tmp_path / "study.toml"
    (tmp_path / "recordings").symlink_to(tiny_study.parent / "recordings")
    study.write_text(TINY_STUDY.replace("detect.threshold_mad=6", "detect.threshold_mad=0"))
    assert main(["bench", str(study), "--out", str(tmp_path / "out")]) == 1
    assert "detect.threshold_mad: must be > 0, got 0.0" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
    study.write_text(TINY_STUDY)
    assert main(["bench", str(study), "--out", str(tmp_path / "out"), "--timeout-s", "nan"]) == 1
    assert "--timeout-s must be > 0 (inf: no limit), got nan" in capsys.readouterr().err
    assert main(["bench", str(study), "--out", str(tmp_path / "out"), "--sorters", "magic"]) == 1
    assert not (tmp_path / "out").exists()


def test_report_is_self_contained(serial_results, tmp_path):
    from neurosort.bench_report import write_study_report

    out = tmp_path / "results"
    shutil.copytree(serial_results, out)
    page = write_study_report(out).read_text()
    assert page.count("data:image/png;base64,") == 3
    assert "http://" not in page and "https://" not in page
    assert "neurosort-t6" in page and "<details>" in page


def test_report_renders_in_headless_chromium(serial_results, tmp_path):
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    if browser is None:
        pytest.skip("chromium is not on PATH (CI installs Debian's chromium package)")
    from neurosort.bench_report import write_study_report

    out = tmp_path / "results"
    shutil.copytree(serial_results, out)
    page = write_study_report(out)
    probe = page.with_name("probe.html")
    probe.write_text(
        page.read_text().replace(
            "</body>",
            """<script>
window.addEventListener('load', () => {
  const images = [...document.images];
  document.body.dataset.imagesOk = images.filter(i => i.complete && i.naturalWidth > 0).length;
  document.body.dataset.tableRows = document.querySelectorAll('table tbody tr').length;
});
</script></body>""",
        )
    )
    dom = subprocess.run(
        [
            browser,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=10000",
            "--dump-dom",
            probe.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert 'data-images-ok="3"' in dom
    rows = int(dom.split('data-table-rows="')[1].split('"')[0])
    assert rows >= 2 + 4


@pytest.mark.slow
def test_killed_cli_study_resumes_to_the_same_tables(tiny_study, serial_results, tmp_path):
    out = tmp_path / "results"
    command = [
        sys.executable,
        "-m",
        "neurosort.cli",
        "bench",
        str(tiny_study),
        "--out",
        str(out),
        "--no-report",
    ]
    process = subprocess.Popen(command, start_new_session=True)
    deadline = time.monotonic() + 300
    while not list(out.glob("jobs/*/row.json")) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.kill()
    process.wait()
    assert not (out / "summary.csv").exists()
    subprocess.run([*command, "--resume", "--executor", "dask", "--workers", "2"], check=True)
    pd.testing.assert_frame_equal(metrics(out, "summary"), metrics(serial_results, "summary"))
    assert np.array_equal(
        metrics(out, "units").to_numpy(), metrics(serial_results, "units").to_numpy()
    )


def test_one_line_error_keeps_the_innermost_exception_of_a_wrapped_trace():
    wrapped = RuntimeError(
        "Spike sorting error trace:\nTraceback (most recent call last):\n"
        "  File 'x.py', line 1\nValueError: no templates\n\nSorting failed."
    )
    assert bench.one_line_error(wrapped) == "RuntimeError: ValueError: no templates"
    assert bench.one_line_error(InputError("a.npz: truncated\nmore")) == (
        "InputError: a.npz: truncated"
    )
