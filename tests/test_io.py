"""Reading recordings and ground truth in every supported format, and rejecting bad input."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import scipy.io
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neurosort.errors import InputError
from neurosort.io import (
    QUIROGA_PEAK_OFFSET_SAMPLES,
    available_formats,
    load_ground_truth,
    load_martinez_snippets,
    load_recording,
    read_mda,
    save_npz_recording,
    write_mda,
)

FS = 24000.0
FIXTURE_SETTINGS = settings(
    deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
QUIROGA_EASY1 = "quiroga2004_easy1_short/C_Easy1_noise01_short.mat"
QUIROGA_CBP = "quiroga2004_cbp_excerpt/C_Easy1_noise015_5sec.mat"


@pytest.fixture
def traces() -> np.ndarray:
    return np.random.default_rng(0).normal(size=(1000, 3)).astype(np.float32)


def write_spikeforest(folder: Path, traces: np.ndarray, firings: np.ndarray) -> Path:
    folder.mkdir()
    write_mda(folder / "raw.mda", np.ascontiguousarray(traces.T))
    write_mda(folder / "firings_true.mda", firings)
    (folder / "params.json").write_text(json.dumps({"samplerate": FS, "spike_sign": -1}))
    np.savetxt(folder / "geom.csv", [[0, 0], [0, 25], [0, 50]], delimiter=",")
    return folder


def assert_same_traces(recording, expected: np.ndarray) -> None:
    np.testing.assert_allclose(recording.get_traces(), expected, rtol=1e-6)


def test_mat_v5_reads_data_sampling_interval_and_cells(tmp_path, traces):
    path = tmp_path / "rec.mat"
    times = np.array([[100.0, 10.0, 500.0]])
    cells = np.empty((1, 1), dtype=object)
    cells[0, 0] = times
    classes = np.empty((1, 3), dtype=object)
    classes[0, 0], classes[0, 1], classes[0, 2] = np.array([[2, 1, 3]]), np.zeros((1, 3)), 0
    scipy.io.savemat(path, {"data": traces[:, :1].T, "samplingInterval": 1000.0 / FS,
                            "spike_times": cells, "spike_class": classes})
    recording = load_recording(path)
    truth = load_ground_truth(path)
    assert recording.sampling_frequency_hz == pytest.approx(FS)
    assert_same_traces(recording, traces[:, :1])
    np.testing.assert_array_equal(truth.sample_index, [10, 100, 500] + np.int64(22))
    np.testing.assert_array_equal(truth.unit_index, [1, 2, 3])
    assert truth.sample_index.dtype == np.int64 and truth.unit_index.dtype == np.int32


def test_mat_sampling_rate_from_sr_then_dt_and_explicit_argument_wins(tmp_path, traces):
    scipy.io.savemat(tmp_path / "sr.mat", {"data": traces.T, "sr": 30000.0})
    scipy.io.savemat(tmp_path / "dt.mat", {"data": traces.T, "dt": 1e-4})
    assert load_recording(tmp_path / "sr.mat").sampling_frequency_hz == 30000.0
    assert load_recording(tmp_path / "dt.mat").sampling_frequency_hz == pytest.approx(1e4)
    assert load_recording(tmp_path / "dt.mat", sampling_frequency_hz=FS).sampling_frequency_hz == FS
    assert load_recording(tmp_path / "dt.mat").n_channels == 3


def test_mat_v73_hdf5_with_cell_references(tmp_path, traces):
    path = tmp_path / "rec73.mat"
    with h5py.File(path, "w") as file:
        file["data"] = traces[:, :1]
        file["samplingInterval"] = np.array([[1000.0 / FS]])
        file["spike_times_values"] = np.array([[300.0], [40.0]])
        file["spike_class_values"] = np.array([[1], [2]], dtype=np.uint8)
        for name in ("spike_times", "spike_class"):
            refs = file.create_dataset(name, (1, 1), dtype=h5py.ref_dtype)
            refs[0, 0] = file[f"{name}_values"].ref
    recording = load_recording(path)
    truth = load_ground_truth(path, peak_offset_samples=0)
    assert recording.sampling_frequency_hz == pytest.approx(FS)
    assert_same_traces(recording, traces[:, :1])
    np.testing.assert_array_equal(truth.sample_index, [40, 300])
    np.testing.assert_array_equal(truth.unit_index, [2, 1])


def test_generic_npz_and_save_npz_recording_round_trip(tmp_path, traces):
    path = save_npz_recording(tmp_path / "rec.npz", traces, FS, [30, 10], [1, 0])
    recording = load_recording(path)
    truth = load_ground_truth(path)
    assert_same_traces(recording, traces)
    np.testing.assert_array_equal(truth.sample_index, [10, 30])
    np.testing.assert_array_equal(truth.unit_index, [0, 1])
    np.savez(tmp_path / "data.npz", data=traces.T, sample_index=[5], unit_index=[7],
             sampling_frequency=FS)
    assert_same_traces(load_recording(tmp_path / "data.npz"), traces)
    assert load_ground_truth(tmp_path / "data.npz").unit_index.tolist() == [7]


def test_npz_gain_and_locations_and_explicit_gain(tmp_path):
    counts = np.array([[0, 5], [10, -5], [3, 3]], dtype=np.int16)
    locations = np.array([[0.0, 0.0], [0.0, 30.0]], dtype=np.float32)
    np.savez(tmp_path / "m.npz", traces=counts, gain_uv=0.2, sampling_frequency=FS,
             channel_locations=locations)
    recording = load_recording(tmp_path / "m.npz")
    assert_same_traces(recording, counts * 0.2)
    np.testing.assert_array_equal(recording.channel_locations_um, locations)
    assert_same_traces(load_recording(tmp_path / "m.npz", gain_uv=2.0, offset_uv=1.0),
                       counts * 2.0 + 1.0)


def test_spikeforest_folder_is_one_based_and_column_major(tmp_path, traces):
    firings = np.array([[1, 2, 1], [11, 1, 501], [1, 2, 2]], dtype=np.float64)
    folder = write_spikeforest(tmp_path / "sf", traces, firings)
    recording = load_recording(folder)
    truth = load_ground_truth(folder)
    assert_same_traces(recording, traces)
    assert recording.sampling_frequency_hz == FS
    np.testing.assert_array_equal(recording.channel_locations_um[:, 1], [0, 25, 50])
    np.testing.assert_array_equal(truth.sample_index, [0, 10, 500])
    np.testing.assert_array_equal(truth.unit_index, [2, 1, 2])
    assert_same_traces(load_recording(folder / "raw.mda"), traces)


def test_mda_matches_spikeinterface_reader(tmp_path, traces):
    import spikeinterface.extractors as se

    folder = write_spikeforest(tmp_path / "sf", traces, np.zeros((3, 0)))
    reference = se.read_mda_recording(folder)
    np.testing.assert_allclose(reference.get_traces(), traces)
    assert read_mda(folder / "firings_true.mda").shape == (3, 0)


def test_raw_binary_with_sidecar_is_memory_mapped(tmp_path):
    counts = np.arange(40, dtype=np.int16).reshape(10, 4)
    counts.tofile(tmp_path / "trial.raw")
    info = {"sample_rate": 15000.0, "shape": [-1, 4], "dtype": "int16"}
    (tmp_path / "info.json").write_text(json.dumps(info))
    recording = load_recording(tmp_path / "trial.raw", gain_uv=0.5)
    assert recording.sampling_frequency_hz == 15000.0
    assert isinstance(recording._source, np.memmap)
    assert_same_traces(recording, counts * 0.5)


def test_a_sidecar_saved_with_a_byte_order_mark_is_read(tmp_path):
    np.arange(20, dtype=np.int16).tofile(tmp_path / "trial.raw")
    info = {"sample_rate": 15000.0, "shape": [-1, 2], "dtype": "int16"}
    (tmp_path / "info.json").write_bytes(b"\xef\xbb\xbf" + json.dumps(info).encode())
    assert load_recording(tmp_path / "trial.raw").n_channels == 2


def test_raw_binary_with_explicit_arguments_and_channel_major_sidecar(tmp_path):
    samples = np.arange(12, dtype=np.float32).reshape(6, 2)
    samples.tofile(tmp_path / "a.bin")
    recording = load_recording(tmp_path / "a.bin", sampling_frequency_hz=FS, dtype="float32",
                               n_channels=2)
    assert_same_traces(recording, samples)
    samples.T.copy().tofile(tmp_path / "b.dat")
    (tmp_path / "b.json").write_text(json.dumps({"sample_rate": FS, "shape": [2, -1],
                                                 "dtype": "float32"}))
    assert_same_traces(load_recording(tmp_path / "b.dat"), samples)


def test_npy_memory_mapped_with_explicit_sampling_rate(tmp_path, traces):
    np.save(tmp_path / "x.npy", traces.T)
    recording = load_recording(tmp_path / "x.npy", sampling_frequency_hz=FS, n_channels=3)
    assert isinstance(recording._source.base, np.memmap)
    assert_same_traces(recording, traces)


def test_spikeinterface_object_is_scaled_to_microvolts():
    import spikeinterface.core as si

    generated = si.generate_recording(num_channels=2, durations=[0.5, 0.25], seed=1)
    counts = si.NumpyRecording([np.array([[1, 2], [3, 5]], dtype=np.int16)], FS)
    counts.set_channel_gains([0.5, 2.0])
    counts.set_channel_offsets([0.0, 1.0])
    recording = load_recording(generated)
    assert recording.n_samples == int(0.75 * generated.get_sampling_frequency())
    np.testing.assert_allclose(recording.channel_locations_um, generated.get_channel_locations())
    assert_same_traces(load_recording(counts), [[0.5, 5.0], [1.5, 11.0]])
    assert_same_traces(load_recording(counts, gain_uv=3.0), [[3.0, 6.0], [9.0, 15.0]])


def test_spikeinterface_format_by_name(tmp_path):
    import spikeinterface.core as si

    generated = si.generate_recording(num_channels=2, durations=[0.2], seed=2)
    generated.save(folder=tmp_path / "saved")
    recording = load_recording(tmp_path / "saved", format="binaryfolder")
    assert_same_traces(recording, generated.get_traces())
    assert {"openephys", "intan", "spikeglx", "nwb", "mat", "mda"} <= set(available_formats())


def test_array_source_needs_sampling_rate(traces):
    assert_same_traces(load_recording(traces, sampling_frequency_hz=FS), traces)
    with pytest.raises(InputError, match="missing sampling rate"):
        load_recording(traces)


def test_quiroga_easy1_short(data_dir):
    path = data_dir / QUIROGA_EASY1
    recording = load_recording(path)
    truth = load_ground_truth(path)
    assert recording.sampling_frequency_hz == pytest.approx(24000.0)
    assert (recording.n_samples, recording.n_channels) == (240000, 1)
    assert len(truth.sample_index) == 521 and truth.unit_ids.tolist() == [1, 2, 3]
    assert np.all(np.diff(truth.sample_index) >= 0)
    assert_peaks_at_lag_zero(recording.get_traces()[:, 0], truth)


def test_quiroga_cbp_excerpt_with_explicit_sampling_rate(data_dir):
    path = data_dir / QUIROGA_CBP
    assert load_recording(path).sampling_frequency_hz == pytest.approx(10000.0)
    recording = load_recording(path, sampling_frequency_hz=24000.0)
    truth = load_ground_truth(path, sampling_frequency_hz=24000.0)
    assert recording.sampling_frequency_hz == truth.sampling_frequency_hz == 24000.0
    assert recording.n_samples == 50000 and len(truth.sample_index) == 121
    assert np.bincount(truth.unit_index).tolist() == [0, 44, 47, 30]


def test_mearec_npz(data_dir):
    path = data_dir / "mearec/test/mono_test_dev_00_u03_n1.npz"
    recording = load_recording(path)
    truth = load_ground_truth(path)
    assert recording.sampling_frequency_hz == 24000.0 and recording.gain_uv == pytest.approx(0.2)
    assert recording.n_channels == 1 and len(truth.unit_ids) == 3
    assert truth.unit_snr is not None and len(truth.unit_snr) == 3
    assert len(truth.sample_index) == 2127
    assert_peaks_at_lag_zero(recording.get_traces()[:, 0], truth)


@pytest.mark.parametrize(("simulation", "counts"), [(2, [1883, 1072, 1059]), (3, [900, 62, 56])])
def test_martinez_snippets(data_dir, simulation, counts):
    folder = data_dir / "martinez2009_ssoer_snippets"
    if not folder.is_dir():
        pytest.skip(f"Martinez snippet folder {folder} not found")
    snippets, labels = load_martinez_snippets(folder, simulation)
    assert snippets.shape == (sum(counts), 32, 1) and snippets.dtype == np.float32
    assert np.bincount(labels).tolist() == counts
    assert np.abs(snippets[labels == 0, :, 0].mean(axis=0)).argmax() == 14


def test_locust_raw_via_info_json(data_dir):
    recording = load_recording(data_dir / "pouzat_locust_tetrode/locust_trial_01.raw")
    assert recording.sampling_frequency_hz == 15000.0
    assert (recording.n_samples, recording.n_channels) == (431548, 4)
    assert 1900 < float(np.median(recording.get_traces(0, 15000))) < 2200


def assert_peaks_at_lag_zero(trace: np.ndarray, truth, half_width: int = 10) -> None:
    for unit in truth.unit_ids:
        times = truth.sample_index[truth.unit_index == unit]
        times = times[(times >= half_width) & (times < len(trace) - half_width)]
        window = times[:, None] + np.arange(-half_width, half_width + 1)
        mean_waveform = np.abs(trace[window].mean(axis=0))
        assert np.argmax(mean_waveform) == half_width, f"unit {unit}"


def test_quiroga_offset_constant_matches_readme():
    assert QUIROGA_PEAK_OFFSET_SAMPLES == 22


# ---- bad input -------------------------------------------------------------------------------


def test_missing_path(tmp_path):
    with pytest.raises(InputError, match=r"nope\.mat: no such file"):
        load_recording(tmp_path / "nope.mat")
    with pytest.raises(InputError, match="no such file"):
        load_ground_truth(tmp_path / "nope.npz")


def test_unknown_format(tmp_path, traces):
    (tmp_path / "x.xyz").write_bytes(b"abc")
    with pytest.raises(InputError, match=r"x\.xyz: unknown format '\.xyz'.*openephys"):
        load_recording(tmp_path / "x.xyz")
    with pytest.raises(InputError, match="unknown format 'nonsense'; known formats: .*intan"):
        load_recording(tmp_path / "x.xyz", format="nonsense")
    with pytest.raises(InputError, match="cannot infer the format of this folder"):
        load_recording(tmp_path)


def test_spikeinterface_reader_failure_is_one_line(tmp_path):
    (tmp_path / "x.rhd").write_bytes(b"\x00" * 10)
    with pytest.raises(InputError, match=r"x\.rhd: cannot read as 'intan'") as info:
        load_recording(tmp_path / "x.rhd")
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("suffix", [".mat", ".npz", ".npy"])
def test_truncated_files(tmp_path, traces, suffix):
    path = tmp_path / f"rec{suffix}"
    if suffix == ".mat":
        scipy.io.savemat(path, {"data": traces.T, "sr": FS})
    elif suffix == ".npz":
        save_npz_recording(path, traces, FS)
    else:
        np.save(path, traces)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(InputError, match=f"rec\\{suffix}: truncated or corrupt") as info:
        load_recording(path, sampling_frequency_hz=FS)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("suffix", [".mat", ".npz"])
def test_garbage_files(tmp_path, suffix):
    path = tmp_path / f"junk{suffix}"
    path.write_bytes(b"this is not a recording" * 10)
    with pytest.raises(InputError, match="truncated or corrupt"):
        load_recording(path)


def test_raw_size_not_a_multiple_of_frame(tmp_path):
    np.zeros(11, dtype=np.int16).tofile(tmp_path / "odd.raw")
    with pytest.raises(InputError, match=r"odd\.raw: truncated or corrupt raw file"):
        load_recording(tmp_path / "odd.raw", sampling_frequency_hz=FS, dtype="int16",
                       n_channels=4)
    with pytest.raises(InputError, match="needs dtype and n_channels"):
        load_recording(tmp_path / "odd.raw", sampling_frequency_hz=FS)


@pytest.mark.parametrize("dtype", ["object", "bool", "U4", "nope", "datetime64[s]"])
def test_raw_dtype_must_be_an_integer_or_float_type(tmp_path, dtype):
    np.zeros(16, dtype=np.int16).tofile(tmp_path / "ok.raw")
    with pytest.raises(InputError, match=r"ok\.raw: dtype .* is not an integer or float"):
        load_recording(tmp_path / "ok.raw", sampling_frequency_hz=FS, dtype=dtype, n_channels=1)


@pytest.mark.parametrize("n_channels", [-2, 0])
def test_raw_needs_at_least_one_channel(tmp_path, n_channels):
    np.zeros(16, dtype=np.int16).tofile(tmp_path / "ok.raw")
    with pytest.raises(InputError, match=f"n_channels must be at least 1, not {n_channels}"):
        load_recording(tmp_path / "ok.raw", sampling_frequency_hz=FS, dtype="int16",
                       n_channels=n_channels)


@pytest.mark.parametrize(
    "info, message",
    [
        ({"dtype": 5, "shape": [-1, 2]}, "'dtype' must be a string"),
        ({"dtype": "int16", "shape": "ab"}, "'shape' must be a list"),
        ({"dtype": "int16", "shape": [-1, "x"]}, "'shape' must be a list"),
        ({"dtype": "int16", "shape": [-1, 2], "sample_rate": "fast"}, "'sample_rate' must be"),
        ({"dtype": "int16", "shape": [-1, 2], "gain_uv": True}, "'gain_uv' must be a number"),
    ],
)
def test_bad_sidecar_values_name_the_sidecar(tmp_path, info, message):
    np.zeros(16, dtype=np.int16).tofile(tmp_path / "rec.raw")
    (tmp_path / "info.json").write_text(json.dumps(info))
    with pytest.raises(InputError, match=f"info.json: {message}"):
        load_recording(tmp_path / "rec.raw", sampling_frequency_hz=FS)


@pytest.mark.parametrize("gain_uv, offset_uv", [(float("nan"), None), (0.0, None), (1.0, np.inf)])
def test_gain_and_offset_must_be_finite(traces, gain_uv, offset_uv):
    with pytest.raises(InputError, match="gain must be finite and non-zero"):
        load_recording(traces, sampling_frequency_hz=FS, gain_uv=gain_uv, offset_uv=offset_uv)


def test_truncated_mda(tmp_path, traces):
    folder = write_spikeforest(tmp_path / "sf", traces, np.ones((3, 2)))
    raw = folder / "raw.mda"
    raw.write_bytes(raw.read_bytes()[:-8])
    with pytest.raises(InputError, match=r"raw\.mda: truncated or corrupt \.mda"):
        load_recording(folder)
    raw.write_bytes(b"\x01\x00")
    with pytest.raises(InputError, match="truncated .mda header"):
        load_recording(folder)


@settings(FIXTURE_SETTINGS, max_examples=25)
@given(
    n_samples=st.integers(1, 3000),
    position=st.floats(0, 1, exclude_max=True),
    value=st.sampled_from([np.nan, np.inf, -np.inf]),
)
def test_non_finite_sample_anywhere(tmp_path, n_samples, position, value):
    samples = np.random.default_rng(n_samples).normal(size=(n_samples, 2))
    bad_index = int(position * n_samples)
    samples[bad_index, 1] = value
    np.save(tmp_path / "bad.npy", samples)
    with pytest.raises(InputError, match=f"bad.npy: NaN or inf sample at index {bad_index}, "
                                         "channel 1"):
        load_recording(tmp_path / "bad.npy", sampling_frequency_hz=FS, n_channels=2)


def test_non_finite_scan_is_chunked(tmp_path, monkeypatch):
    import neurosort.io as io

    monkeypatch.setattr(io, "_SCAN_CHUNK_VALUES", 64)
    samples = np.ones((1000, 1))
    samples[::2] = 0.0
    samples[999, 0] = np.nan
    np.save(tmp_path / "late.npy", samples)
    with pytest.raises(InputError, match="index 999"):
        load_recording(tmp_path / "late.npy", sampling_frequency_hz=FS)


@pytest.mark.parametrize("shape", [(0,), (0, 4)])
def test_empty_trace(tmp_path, shape):
    np.save(tmp_path / "empty.npy", np.zeros(shape, dtype=np.float32))
    with pytest.raises(InputError, match=r"empty\.npy: empty recording"):
        load_recording(tmp_path / "empty.npy", sampling_frequency_hz=FS,
                       n_channels=shape[-1] or None)


def test_empty_raw_file(tmp_path):
    (tmp_path / "empty.raw").write_bytes(b"")
    with pytest.raises(InputError, match="empty recording"):
        load_recording(tmp_path / "empty.raw", sampling_frequency_hz=FS, dtype="int16",
                       n_channels=2)


@settings(FIXTURE_SETTINGS, max_examples=15)
@given(value=st.floats(-1e6, 1e6), n_channels=st.integers(1, 4))
def test_constant_trace(tmp_path, value, n_channels):
    save_npz_recording(tmp_path / "flat.npz", np.full((500, n_channels), value), FS)
    with pytest.raises(InputError, match=r"flat\.npz: constant trace"):
        load_recording(tmp_path / "flat.npz")


def test_constant_integer_trace_across_chunks(tmp_path, monkeypatch):
    import neurosort.io as io

    monkeypatch.setattr(io, "_SCAN_CHUNK_VALUES", 16)
    counts = np.full((400, 2), 7, dtype=np.int16)
    save_npz_recording(tmp_path / "flat.npz", counts, FS)
    with pytest.raises(InputError, match="constant trace"):
        load_recording(tmp_path / "flat.npz")
    counts[399, 0] = 8
    save_npz_recording(tmp_path / "late.npz", counts, FS)
    assert load_recording(tmp_path / "late.npz").n_samples == 400


def test_one_constant_channel_is_only_a_warning(tmp_path, traces, caplog):
    traces[:, 1] = 0.0
    save_npz_recording(tmp_path / "dead.npz", traces, FS)
    assert load_recording(tmp_path / "dead.npz").n_channels == 3
    assert "constant channels [1]" in caplog.text


def test_missing_sampling_rate(tmp_path, traces):
    np.savez(tmp_path / "nofs.npz", traces=traces)
    scipy.io.savemat(tmp_path / "nofs.mat", {"data": traces.T})
    np.save(tmp_path / "nofs.npy", traces)
    for name in ("nofs.npz", "nofs.mat", "nofs.npy"):
        with pytest.raises(InputError, match=f"{name}: missing sampling rate"):
            load_recording(tmp_path / name)


@pytest.mark.parametrize("fs", [0.0, -24000.0, float("nan"), float("inf")])
def test_non_positive_sampling_rate(tmp_path, traces, fs):
    save_npz_recording(tmp_path / "rec.npz", traces, fs, [1], [0])
    with pytest.raises(InputError, match=r"rec\.npz: sampling rate must be positive"):
        load_recording(tmp_path / "rec.npz")
    with pytest.raises(InputError, match="sampling rate must be positive"):
        load_ground_truth(tmp_path / "rec.npz")
    with pytest.raises(InputError, match="sampling rate must be positive"):
        load_recording(tmp_path / "rec.npz", sampling_frequency_hz=-1.0)


def test_file_without_ground_truth(tmp_path, traces):
    save_npz_recording(tmp_path / "rec.npz", traces, FS)
    scipy.io.savemat(tmp_path / "rec.mat", {"data": traces.T, "sr": FS})
    (tmp_path / "sf").mkdir()
    write_mda(tmp_path / "sf" / "raw.mda", np.ascontiguousarray(traces.T))
    for source in ("rec.npz", "rec.mat", "sf"):
        with pytest.raises(InputError, match="no ground truth"):
            load_ground_truth(tmp_path / source)
    with pytest.raises(InputError, match="no ground-truth reader for format 'npy'"):
        np.save(tmp_path / "x.npy", traces)
        load_ground_truth(tmp_path / "x.npy")


def test_mismatched_ground_truth_lengths(tmp_path):
    np.savez(tmp_path / "gt.npz", spike_times=[1, 2, 3], spike_units=[0, 1],
             sampling_frequency=FS)
    with pytest.raises(InputError, match="3 spike times but 2 unit labels"):
        load_ground_truth(tmp_path / "gt.npz")


def test_mat_without_data(tmp_path):
    scipy.io.savemat(tmp_path / "nodata.mat", {"sr": FS})
    with pytest.raises(InputError, match="no 'data' variable"):
        load_recording(tmp_path / "nodata.mat")
