import json

import numpy as np
import pytest

from neurosort import curate
from neurosort.config import SortConfig, with_overrides
from neurosort.demo import demo_recording
from neurosort.evaluate import evaluate
from neurosort.output import read_result
from neurosort.pipeline import sort, sort_recording
from neurosort.types import Recording


@pytest.fixture(scope="session")
def demo():
    return demo_recording(duration_s=20.0, seed=3)


def test_demo_recordings_sort_accurately():
    # Mixture fits on 20 s recordings vary from seed to seed: the floor is on the mean.
    summaries = []
    for seed in (3, 4, 5):
        recording, truth = demo_recording(duration_s=20.0, seed=seed)
        summaries.append(evaluate(sort_recording(recording, SortConfig()), truth).summary)
    assert np.mean([s["mean_accuracy"] for s in summaries]) >= 0.75
    assert min(s["detection_recall"] for s in summaries) >= 0.85


def test_output_folder_contract(demo, tmp_path):
    recording, _ = demo
    out = tmp_path / "out"
    result = sort(recording, SortConfig(), out, report=False)
    assert {p.name for p in out.iterdir()} == {
        "spikes.npz",
        "templates.npy",
        "features.npy",
        "config.toml",
        "run.json",
    }
    with np.load(out / "spikes.npz") as spikes:
        assert spikes["sample_index"].dtype == np.int64
        assert spikes["unit_index"].dtype == np.int32
        assert float(spikes["sampling_frequency"]) == recording.sampling_frequency_hz
    templates = np.load(out / "templates.npy")
    assert templates.shape[0] == len(result.unit_ids) and templates.shape[2] == recording.n_channels
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "succeeded" and "detect" in run["stage_timings_s"]
    assert np.array_equal(read_result(out).spikes, result.spikes)
    assert not list(tmp_path.glob(".out.*")), "staging folder left behind"


def test_removed_echoes_leave_spikes_features_and_templates_aligned(demo, monkeypatch):
    recording, _ = demo
    full = sort_recording(recording, with_overrides(SortConfig(), ["cluster.echo_min_fraction=0"]))
    every_third = lambda labels, *_, **__: np.arange(len(labels)) % 3 == 0  # noqa: E731
    monkeypatch.setattr(curate, "echo_spikes", every_third)
    cut = sort_recording(recording, SortConfig())
    keep = np.arange(len(full.spikes)) % 3 != 0
    assert np.array_equal(cut.spikes["sample_index"], full.spikes["sample_index"][keep])
    assert np.array_equal(cut.features, full.features[keep])
    assert len(cut.templates) == cut.spikes["unit_index"].max() + 1 == len(cut.unit_ids)


def test_same_seed_gives_byte_identical_spikes(demo, tmp_path):
    recording, _ = demo
    config = with_overrides(SortConfig(), ["seed=5"])
    sort(recording, config, tmp_path / "a", report=False)
    sort(recording, config, tmp_path / "b", report=False)
    assert (tmp_path / "a/spikes.npz").read_bytes() == (tmp_path / "b/spikes.npz").read_bytes()


@pytest.mark.parametrize("method", ["hdbscan", "isosplit"])
def test_other_clusterers_run_end_to_end(demo, method):
    recording, truth = demo
    result = sort_recording(recording, with_overrides(SortConfig(), [f"cluster.method={method}"]))
    assert evaluate(result, truth).summary["mean_accuracy"] >= 0.5


def test_zero_spikes_gives_empty_sorting_and_warning(caplog, tmp_path):
    rng = np.random.default_rng(0)
    recording = Recording(rng.normal(0, 1, (48000, 1)).astype(np.float32), 24000.0)
    config = with_overrides(SortConfig(), ["detect.threshold_mad=50"])
    result = sort(recording, config, tmp_path / "out", report=False)
    assert len(result.spikes) == 0 and len(result.unit_ids) == 0
    assert "nothing to cluster" in caplog.text
    assert (tmp_path / "out" / "spikes.npz").is_file()


def test_long_recording_is_processed_in_chunks(demo):
    recording, truth = demo
    small_chunks = with_overrides(SortConfig(), ["preprocess.chunk_duration_s=1.5"])
    peaks_chunked = sort_recording(recording, small_chunks).spikes["sample_index"]
    peaks_whole = sort_recording(recording, SortConfig()).spikes["sample_index"]
    assert len(np.setxor1d(peaks_chunked, peaks_whole)) <= 2


def test_demo_writes_report_and_scores(tmp_path):
    from neurosort.demo import run_demo

    table = run_demo(tmp_path / "demo", duration_s=20.0, seed=0)
    summary = json.loads((tmp_path / "demo" / "evaluation.json").read_text())["summary"]
    assert "mean_accuracy" in table
    assert summary["mean_accuracy"] >= 0.7
    assert (tmp_path / "demo" / "report.html").stat().st_size > 10_000


def test_probe_spikes_are_clustered_per_channel_neighbourhood():
    from neurosort.demo import demo_recording
    from neurosort.waveforms import channel_neighbourhoods

    recording, truth = demo_recording(duration_s=15.0, seed=2, n_units=8, n_channels=16)
    config = with_overrides(SortConfig(), ["waveforms.neighbourhood_radius_um=30"])
    result = sort_recording(recording, config)
    neighbourhoods = channel_neighbourhoods(recording.channel_locations_um, 30.0)
    assert neighbourhoods.shape[1] < 16
    assert result.templates.shape == (len(result.unit_ids), result.templates.shape[1], 16)
    spikes = result.spikes
    for unit in result.unit_ids:
        in_unit = spikes["unit_index"] == unit
        assert in_unit.sum() >= config.cluster.min_cluster_size
        home = np.bincount(spikes["channel_index"][in_unit]).argmax()
        template_peak = np.abs(result.templates[unit]).max(axis=0).argmax()
        assert template_peak in neighbourhoods[home]
    accuracy = evaluate(result, truth).summary["mean_accuracy"]
    assert accuracy >= 0.55
    # One neuron peaking on two neighbouring channels comes out as two units without the merge.
    apart = sort_recording(
        recording, with_overrides(config, ["cluster.merge_across_channels=false"])
    )
    assert len(apart.unit_ids) > len(result.unit_ids)
    assert evaluate(apart, truth).summary["mean_accuracy"] < accuracy - 0.03
    unrescued = sort_recording(
        recording, with_overrides(config, ["cluster.rescue_unassigned_quantile=0"])
    )
    n_unassigned = (unrescued.spikes["unit_index"] < 0).sum()
    assert (spikes["unit_index"] < 0).sum() < n_unassigned
    assert evaluate(unrescued, truth).summary["mean_accuracy"] <= accuracy
