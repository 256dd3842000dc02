import re

import numpy as np
import pytest

from neurosort import report
from neurosort.config import SortConfig
from neurosort.io import load_recording
from neurosort.output import read_result, write_result
from neurosort.pipeline import sort_recording
from neurosort.types import SPIKE_DTYPE, GroundTruth, SortResult


@pytest.fixture(scope="module")
def sorted_recording():
    import spikeinterface.core as si

    si_recording, _ = si.generate_ground_truth_recording(
        durations=[10.0], sampling_frequency=24000.0, num_channels=1, num_units=3, seed=7
    )
    recording = load_recording(si_recording.get_traces(), sampling_frequency_hz=24000.0)
    config = SortConfig()
    result = sort_recording(recording, config)
    assert len(result.unit_ids) >= 2
    return recording, config, result


@pytest.fixture(scope="module")
def spike_sample(sorted_recording):
    recording, config, result = sorted_recording
    units = report.units_to_show(result)
    return units, report.extract_spike_sample(result, recording, config, units)


def fake_result(n_units: int, n_spikes: int, fs: float = 24000.0, n_channels: int = 1):
    rng = np.random.default_rng(0)
    spikes = np.zeros(n_spikes, SPIKE_DTYPE)
    spikes["sample_index"] = np.sort(rng.integers(0, int(10 * fs), n_spikes))
    spikes["unit_index"] = rng.integers(0, n_units, n_spikes) if n_units else -1
    spikes["amplitude"] = rng.normal(-80.0, 5.0, n_spikes)
    templates = rng.normal(size=(n_units, 39, n_channels)).astype(np.float32)
    return SortResult(spikes, templates, fs, n_channels)


def test_report_is_one_self_contained_html_file(sorted_recording, tmp_path):
    recording, config, result = sorted_recording
    write_result(tmp_path, result, config)
    path = report.write_folder_report(tmp_path, recording)
    assert path == tmp_path / "report.html"
    text = path.read_text()
    sources = re.findall(r'src="([^"]*)"', text)
    assert len(sources) == 5
    assert 'alt="Embedding (t-SNE)"' in text
    assert all(source.startswith("data:image/png;base64,") for source in sources)
    assert "http://" not in text and "https://" not in text and "<link" not in text
    n_units = len(result.unit_ids)
    table = re.search(r'<table class="units">(.*?)</table>', text, re.S).group(1)
    assert table.count("<tr>") == n_units + 1
    assert f"<dd>{n_units}</dd>" in text and f"<dd>{len(result.spikes)} (" in text


def test_report_for_zero_spikes_and_for_unassigned_spikes(sorted_recording, tmp_path):
    recording, config, _ = sorted_recording
    empty = fake_result(0, 0)
    text = report.write_sort_report(empty, recording, config, tmp_path / "a.html").read_text()
    assert "No spikes were detected" in text and "<img" not in text
    noise_only = fake_result(0, 40)
    text = report.write_sort_report(noise_only, recording, config, tmp_path / "b.html").read_text()
    assert "40 spikes were detected but none was assigned" in text and "<img" not in text


def test_figures_have_one_panel_per_unit(sorted_recording, spike_sample):
    recording, _, result = sorted_recording
    units, sample = spike_sample
    templates = report.unit_templates(result, sample, units)
    fs = recording.sampling_frequency_hz
    assert len(report.plot_waveforms(sample, templates, units, fs).axes) == len(units)
    assert len(report.plot_isi(result, units).axes) == len(units)
    assert len(report.plot_amplitudes(result, units).axes) == len(units)
    points, labels, name = report.feature_points(result, sample)
    assert name == "feature" and points.shape[1] == 3
    assert len(report.plot_features(points, labels, units).axes) == 3


def test_feature_scatter_falls_back_to_snippet_pca(sorted_recording, spike_sample):
    _, _, result = sorted_recording
    units, sample = spike_sample
    without_features = SortResult(
        result.spikes, result.templates, result.sampling_frequency_hz, result.n_channels
    )
    points, labels, name = report.feature_points(without_features, sample)
    assert name == "snippet PC" and points.shape == (len(sample.snippets), 3)
    assert np.array_equal(labels, sample.unit_index)
    assert len(report.plot_features(points[:, :2], labels, units).axes) == 1


def test_resampled_snippets_match_the_sorters_templates(sorted_recording, spike_sample):
    _, _, result = sorted_recording
    units, sample = spike_sample
    assert sample.snippets.shape[1:] == result.templates.shape[1:]
    for unit in units:
        own = sample.snippets[sample.unit_index == unit]
        assert 0 < len(own) <= report.SPIKES_PER_UNIT
        median = np.median(own, axis=0).ravel()
        correlation = np.corrcoef(median, result.templates[unit].ravel())[0, 1]
        assert correlation > 0.9, (unit, correlation)


def test_many_units_are_capped_to_those_with_most_spikes():
    result = fake_result(30, 6000)
    result.spikes["unit_index"][:600] = 29
    shown = report.units_to_show(result)
    assert len(shown) == report.MAX_UNIT_PANELS and 29 in shown
    rows = report.draw_spike_sample(result, shown, n_samples=240000, margin=200)
    assert len(rows) <= report.MAX_SNIPPETS
    assert set(result.spikes["unit_index"][rows]) == set(shown)


def test_isi_violation_percent():
    times_s = np.array([0.0, 0.001, 0.1, 0.2, 0.2012])
    assert report.isi_violation_percent(times_s) == pytest.approx(50.0)
    assert report.isi_violation_percent(np.array([1.0])) == 0.0


def test_unit_colours_are_stable_and_distinct():
    colours = [report.unit_colour(unit) for unit in range(20)]
    assert len(set(colours)) == 20
    assert report.unit_colour(3) == colours[3]


def test_features_round_trip_through_the_output_folder(sorted_recording, tmp_path):
    _, config, result = sorted_recording
    (tmp_path / "with").mkdir()
    (tmp_path / "without").mkdir()
    write_result(tmp_path / "with", result, config)
    assert np.array_equal(read_result(tmp_path / "with").features, result.features)
    without = SortResult(
        result.spikes, result.templates, result.sampling_frequency_hz, result.n_channels
    )
    write_result(tmp_path / "without", without, config)
    assert not (tmp_path / "without" / "features.npy").exists()
    assert read_result(tmp_path / "without").features is None


def blobs(n_per_cluster: int, n_dims: int, n_clusters: int = 3):
    rng = np.random.default_rng(1)
    centres = rng.normal(0.0, 20.0, (n_clusters, n_dims))
    labels = np.repeat(np.arange(n_clusters), n_per_cluster)
    return centres[labels] + rng.normal(size=(len(labels), n_dims)), labels


def test_tsne_keeps_separated_clusters_apart():
    points, labels = blobs(100, 8)
    xy, name = report.embed_2d(points, seed=0)
    assert name == "t-SNE" and xy.shape == (300, 2)
    centroids = np.array([xy[labels == k].mean(axis=0) for k in range(3)])
    nearest = np.argmin(((xy[:, None] - centroids[None]) ** 2).sum(axis=2), axis=1)
    assert np.mean(nearest == labels) > 0.95
    assert np.array_equal(report.embed_2d(points, seed=0)[0], xy)


def test_embedding_plot_panels_and_low_dimensional_features():
    points, labels = blobs(50, 6)
    truth = labels.copy()
    truth[::7] = -1
    fig = report.plot_embedding(points, labels, truth)
    assert [ax.get_title() for ax in fig.axes] == [
        "coloured by predicted unit",
        "coloured by ground-truth unit",
    ]
    flat = report.plot_embedding(points[:, :2], labels)
    assert len(flat.axes) == 1 and flat.axes[0].get_xlabel() == "feature 1"
    with pytest.raises(ValueError):
        report.plot_embedding(points, labels[:-1])


def test_embedding_subsample_is_seeded_and_capped():
    rows = report.embedding_rows(10 * report.MAX_EMBEDDING_POINTS, seed=3)
    assert len(rows) == report.MAX_EMBEDDING_POINTS and np.all(np.diff(rows) > 0)
    assert np.array_equal(rows, report.embedding_rows(10 * report.MAX_EMBEDDING_POINTS, seed=3))
    assert np.array_equal(report.embedding_rows(5), np.arange(5))


def test_ground_truth_label_of_each_sorted_spike():
    truth = GroundTruth(np.array([102, 305, 5000]), np.array([5, 7, 5]), 24000.0)
    labels = report.ground_truth_labels(np.array([100, 200, 300, 1000]), truth, 5)
    assert labels.tolist() == [5, -1, 7, -1]
