"""Reading recordings and ground truth; chunk iteration with margins.

Every reader validates at the boundary and raises :class:`InputError` with a one-line message
that names the file and the problem.
"""

from __future__ import annotations

import json
import math
import os
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from neurosort.checks import read_text
from neurosort.errors import InputError
from neurosort.log import get_logger
from neurosort.types import GroundTruth, Recording

logger = get_logger(__name__)

QUIROGA_PEAK_OFFSET_SAMPLES = 22
"""Samples from a Quiroga/wave_clus ground-truth time to the spike's peak.

The simulations of Quiroga et al. 2004 (wave_clus, and the CBP excerpt's ``true_spike_times``)
store the FIRST sample of each simulated waveform, not its peak. Used directly as 0-based
indices, the |peak| of every class-mean waveform lies 22 samples (0.92 ms at 24 kHz) later, so
the peak sample is ``spike_times + 22`` (checked on the shared excerpts; see their READMEs).
"""

NATIVE_FORMATS = ("mat", "npz", "npy", "binary", "mda")
_FORMAT_ALIASES = {"raw": "binary", "bin": "binary", "dat": "binary", "spikeforest": "mda"}
_SUFFIX_FORMATS = {
    ".mat": "mat",
    ".npz": "npz",
    ".npy": "npy",
    ".raw": "binary",
    ".bin": "binary",
    ".dat": "binary",
    ".mda": "mda",
    ".nwb": "nwb",
    ".rhd": "intan",
    ".rhs": "intan",
    ".ns5": "blackrock",
    ".ns6": "blackrock",
}
_SIDECAR_NAME = "info.json"
_SCAN_CHUNK_VALUES = 1 << 22
# What readers raise on a truncated or corrupt file; each becomes a one-line InputError.
# (scipy.io and h5py raise NotImplementedError for MATLAB variants they cannot parse.)
_READ_ERRORS = (
    OSError,
    ValueError,
    EOFError,
    KeyError,
    TypeError,
    IndexError,
    zipfile.BadZipFile,
    zlib.error,
    NotImplementedError,
)
_MDA_DTYPES = {
    -2: "uint8",
    -3: "float32",
    -4: "int16",
    -5: "int32",
    -6: "uint16",
    -7: "float64",
    -8: "uint32",
}


@dataclass(frozen=True)
class ChunkSpan:
    """Samples [start, end) of a chunk, read as [start - left, end + right) with margins."""

    start: int
    end: int
    left: int
    right: int

    @property
    def read_start(self) -> int:
        return self.start - self.left

    @property
    def read_end(self) -> int:
        return self.end + self.right


def iter_chunks(n_samples: int, chunk_samples: int, margin_samples: int) -> Iterator[ChunkSpan]:
    """Cover [0, n_samples) with chunks of ``chunk_samples``, each padded by up to a margin."""
    chunk_samples = max(1, int(chunk_samples))
    for start in range(0, n_samples, chunk_samples):
        end = min(start + chunk_samples, n_samples)
        left = min(margin_samples, start)
        right = min(margin_samples, n_samples - end)
        yield ChunkSpan(start, end, left, right)


@dataclass
class _LoadedTraces:
    """What a file says about its traces; ``None`` where it says nothing."""

    source: Any
    sampling_frequency_hz: float | None
    sample_dtype: np.dtype
    gain_uv: float | None = None
    offset_uv: float | None = None
    channel_locations_um: np.ndarray | None = None


@dataclass
class _LoadedTruth:
    times: np.ndarray
    units: np.ndarray
    sampling_frequency_hz: float | None
    peak_offset_samples: int = 0
    unit_snr: np.ndarray | None = None


def available_formats() -> list[str]:
    """Every name ``format=`` accepts: neurosort's own readers and SpikeInterface's."""
    return sorted({*NATIVE_FORMATS, *_FORMAT_ALIASES, *_spikeinterface_readers()})


def load_recording(
    source: str | os.PathLike | Any,
    *,
    format: str | None = None,
    sampling_frequency_hz: float | None = None,
    dtype: str | None = None,
    n_channels: int | None = None,
    gain_uv: float | None = None,
    offset_uv: float | None = None,
    extractor_kwargs: dict[str, Any] | None = None,
) -> Recording:
    """Open a recording lazily and validate it.

    ``source`` is a path, a SpikeInterface recording or an array (n_samples, n_channels). The
    format is inferred from the extension or folder contents unless ``format`` names it (see
    :func:`available_formats`). Explicit arguments win over what the file says; ``gain_uv`` and
    ``offset_uv`` default to the file's scaling (MEArec ``gain_uv``, SpikeInterface gains),
    else 1 and 0. ``extractor_kwargs`` go to the SpikeInterface extractor (e.g. ``stream_id``).
    """
    scale_to_uv = gain_uv is None and offset_uv is None
    if isinstance(source, str | os.PathLike):
        path = _existing_path(source)
        label, name = str(path), path.name
        loaded = _read_traces(
            path,
            _resolve_format(path, format),
            dtype,
            n_channels,
            extractor_kwargs or {},
            scale_to_uv,
        )
    else:
        label, name = f"<{type(source).__name__}>", "recording"
        loaded = _wrap_object(source, label, n_channels, scale_to_uv)
    fs = _first_given(sampling_frequency_hz, loaded.sampling_frequency_hz, None)
    gain = _first_given(gain_uv, loaded.gain_uv, 1.0)
    offset = _first_given(offset_uv, loaded.offset_uv, 0.0)
    if not (math.isfinite(gain) and math.isfinite(offset) and gain != 0):
        raise InputError(f"{label}: gain must be finite and non-zero and offset finite, "
                         f"got gain {gain} uV and offset {offset} uV")
    recording = Recording(
        loaded.source,
        _checked_sampling_frequency(label, fs),
        gain_uv=gain,
        offset_uv=offset,
        channel_locations_um=loaded.channel_locations_um,
        name=name,
    )
    _check_locations(label, recording)
    check_samples(recording, label, scan_finite=not np.issubdtype(loaded.sample_dtype, np.integer))
    logger.debug(
        "loaded %s: %d samples x %d channels at %g Hz",
        label,
        recording.n_samples,
        recording.n_channels,
        recording.sampling_frequency_hz,
    )
    return recording


def check_samples(recording: Recording, label: str, *, scan_finite: bool = True) -> None:
    """Raise InputError for an empty recording, NaN/inf samples or a trace with no variation.

    Reads chunk by chunk so memory stays flat; without ``scan_finite`` (integer samples) it
    stops as soon as every channel has varied. Constant single channels only log a warning.
    """
    n_samples, n_channels = recording.n_samples, recording.n_channels
    if n_samples == 0 or n_channels == 0:
        raise InputError(f"{label}: empty recording ({n_samples} samples x {n_channels} channels)")
    first = recording.get_traces(0, 1)[0]
    varies = np.zeros(n_channels, dtype=bool)
    chunk_samples = max(1, _SCAN_CHUNK_VALUES // n_channels)
    for span in iter_chunks(n_samples, chunk_samples, 0):
        traces = recording.get_traces(span.start, span.end)
        if scan_finite:
            _raise_on_non_finite(label, traces, span.start)
        varies |= (traces != first).any(axis=0)
        if varies.all() and not scan_finite:
            break
    if not varies.any():
        raise InputError(f"{label}: constant trace (no channel varies)")
    if not varies.all():
        logger.warning("%s: constant channels %s", label, np.flatnonzero(~varies).tolist())


def load_ground_truth(
    source: str | os.PathLike,
    *,
    format: str | None = None,
    sampling_frequency_hz: float | None = None,
    peak_offset_samples: int | None = None,
    fallback_sampling_frequency_hz: float | None = None,
) -> GroundTruth:
    """Ground-truth peak samples and units from a .mat, .npz or SpikeForest folder.

    Quiroga/wave_clus ``.mat`` times mark the spike's first sample and are moved to the peak by
    :data:`QUIROGA_PEAK_OFFSET_SAMPLES` unless ``peak_offset_samples`` says otherwise (e.g. -27
    for the Harris tetrode excerpt). MEArec/generic ``.npz`` (``spike_times``/``spike_units`` or
    ``sample_index``/``unit_index``) already hold peaks; SpikeForest times are made 0-based.
    Unit ids are kept as the file has them. The sampling rate is ``sampling_frequency_hz``,
    else the file's, else ``fallback_sampling_frequency_hz`` (e.g. the sorted recording's).
    """
    path = _existing_path(source)
    fmt = _resolve_format(path, format)
    readers = {"mat": _read_mat_truth, "npz": _read_npz_truth, "mda": _read_mda_truth}
    if fmt not in readers:
        raise InputError(
            f"{path}: no ground-truth reader for format {fmt!r} (supported: {', '.join(readers)})"
        )
    truth = readers[fmt](path)
    fs = _first_given(
        sampling_frequency_hz, truth.sampling_frequency_hz, fallback_sampling_frequency_hz
    )
    offset = _first_given(peak_offset_samples, truth.peak_offset_samples, 0)
    times, units = _checked_spike_train(path, truth.times, truth.units)
    order = np.argsort(times, kind="stable")
    return GroundTruth(
        sample_index=times[order] + int(offset),
        unit_index=units[order],
        sampling_frequency_hz=_checked_sampling_frequency(str(path), fs),
        unit_snr=truth.unit_snr,
    )


def load_martinez_snippets(
    folder: str | os.PathLike, simulation: int
) -> tuple[np.ndarray, np.ndarray]:
    """Martinez et al. 2009 snippets (SSOER): ``GTthrAmpAligned{n}.mat`` and ``GTlabels{n}.mat``.

    Returns the amplitude-aligned waveforms as (N, 32, 1) float32 (24 kHz, peak at index 14)
    and their ground-truth classes (N,) int64. No spike times: clustering tests only.
    """
    folder = Path(folder)
    waves_path = _existing_path(folder / f"GTthrAmpAligned{simulation}.mat")
    labels_path = _existing_path(folder / f"GTlabels{simulation}.mat")
    waves = _load_mat(waves_path, ("GTthrAmpAligned",)).get("GTthrAmpAligned")
    labels = _load_mat(labels_path, ("GTlabels",)).get("GTlabels")
    if waves is None or labels is None:
        raise InputError(
            f"{folder}: GTthrAmpAligned/GTlabels variables missing (simulation {simulation})"
        )
    waves = np.asarray(waves, dtype=np.float32)
    labels = np.asarray(labels, dtype=np.int64).ravel()
    if waves.ndim != 2 or len(waves) != len(labels):
        raise InputError(f"{waves_path}: {waves.shape} waveforms do not match {len(labels)} labels")
    return waves[:, :, None], labels


def save_npz_recording(
    path: str | os.PathLike,
    traces: np.ndarray,
    sampling_frequency_hz: float,
    spike_times: np.ndarray | None = None,
    spike_units: np.ndarray | None = None,
) -> Path:
    """Write traces (n_samples, n_channels) and optional ground truth as a MEArec-style .npz."""
    arrays: dict[str, np.ndarray] = {
        "traces": np.asarray(traces),
        "sampling_frequency": np.float64(sampling_frequency_hz),
    }
    if spike_times is not None:
        arrays["spike_times"] = np.asarray(spike_times, dtype=np.int64)
        arrays["spike_units"] = np.asarray(spike_units, dtype=np.int32)
    path = Path(path)
    np.savez(path, **arrays)
    return path


def read_mda(path: str | os.PathLike) -> np.ndarray:
    """Memory-map a MountainSort .mda array (column-major, shape as written)."""
    path = Path(path)
    with reading(path), open(path, "rb") as file:
        code, item_bytes, n_dims = _read_ints(path, file, "<i4", 3)
        if not 1 <= abs(n_dims) <= 32:
            raise InputError(f"{path}: corrupt .mda header ({n_dims} dimensions)")
        dims = tuple(
            int(d) for d in _read_ints(path, file, "<i8" if n_dims < 0 else "<i4", abs(n_dims))
        )
        data_offset = file.tell()
    if code not in _MDA_DTYPES or np.dtype(_MDA_DTYPES[code]).itemsize != item_bytes:
        raise InputError(f"{path}: corrupt .mda header (dtype code {code}, {item_bytes} bytes)")
    dtype = np.dtype(_MDA_DTYPES[code])
    expected = data_offset + int(np.prod(dims)) * dtype.itemsize
    if min(dims) < 0 or path.stat().st_size != expected:
        raise InputError(
            f"{path}: truncated or corrupt .mda ({path.stat().st_size} bytes, "
            f"expected {expected} for shape {dims})"
        )
    if int(np.prod(dims)) == 0:
        return np.zeros(dims, dtype=dtype)
    return np.memmap(path, dtype=dtype, mode="r", offset=data_offset, shape=dims[::-1]).T


def write_mda(path: str | os.PathLike, array: np.ndarray) -> Path:
    """Write an array in MountainSort .mda format (int32 header, column-major data)."""
    array = np.asarray(array)
    codes = {np.dtype(name): code for code, name in _MDA_DTYPES.items()}
    if array.dtype not in codes:
        raise InputError(f"{path}: dtype {array.dtype} cannot be written as .mda")
    header = [codes[array.dtype], array.dtype.itemsize, array.ndim, *array.shape]
    path = Path(path)
    with open(path, "wb") as file:
        np.asarray(header, dtype="<i4").tofile(file)
        np.ascontiguousarray(array.T).tofile(file)
    return path


def _read_traces(
    path: Path,
    fmt: str,
    dtype: str | None,
    n_channels: int | None,
    extractor_kwargs: dict[str, Any],
    scale_to_uv: bool,
) -> _LoadedTraces:
    if fmt == "mat":
        return _read_mat_traces(path, n_channels)
    if fmt == "npz":
        return _read_npz_traces(path, n_channels)
    if fmt == "npy":
        return _read_npy_traces(path, n_channels)
    if fmt == "binary":
        return _read_binary_traces(path, dtype, n_channels)
    if fmt == "mda":
        return _read_mda_traces(path)
    return _read_spikeinterface_traces(path, fmt, extractor_kwargs, scale_to_uv)


def _read_mat_traces(path: Path, n_channels: int | None) -> _LoadedTraces:
    variables = _load_mat(path, ("data", "samplingInterval", "sr", "dt"))
    if "data" not in variables:
        raise InputError(f"{path}: no 'data' variable in this .mat file")
    traces = _time_major(path, np.asarray(variables["data"]), n_channels)
    return _LoadedTraces(traces, _mat_sampling_frequency(variables), traces.dtype)


def _read_npz_traces(path: Path, n_channels: int | None) -> _LoadedTraces:
    with reading(path), np.load(path) as npz:
        key = next((k for k in ("traces", "data") if k in npz.files), None)
        if key is None:
            raise InputError(f"{path}: no 'traces' or 'data' array (keys: {', '.join(npz.files)})")
        traces = _time_major(path, npz[key], n_channels)
        return _LoadedTraces(
            traces,
            _optional_scalar(npz, "sampling_frequency"),
            traces.dtype,
            gain_uv=_optional_scalar(npz, "gain_uv"),
            channel_locations_um=npz.get("channel_locations"),
        )


def _read_npy_traces(path: Path, n_channels: int | None) -> _LoadedTraces:
    info = _sidecar_info(path)
    with reading(path):
        array = np.load(path, mmap_mode="r")
    traces = _time_major(path, array, _first_given(n_channels, _info_channels(info)))
    return _LoadedTraces(traces, info.get("sample_rate"), traces.dtype)


def _sample_dtype(path: Path, dtype: str) -> np.dtype:
    """``dtype`` as a numpy integer or float type; anything else is an InputError."""
    try:
        sample_dtype = np.dtype(dtype)
    except (TypeError, ValueError):
        sample_dtype = None
    if sample_dtype is None or sample_dtype.kind not in "iuf":
        raise InputError(f"{path}: dtype {dtype!r} is not an integer or float sample type")
    return sample_dtype


def _read_binary_traces(path: Path, dtype: str | None, n_channels: int | None) -> _LoadedTraces:
    info = _sidecar_info(path)
    dtype = dtype or info.get("dtype")
    n_channels = _first_given(n_channels, _info_channels(info))
    if dtype is None or n_channels is None:
        raise InputError(
            f"{path}: raw binary needs dtype and n_channels "
            f"(arguments or an {_SIDECAR_NAME} sidecar)"
        )
    sample_dtype = _sample_dtype(path, dtype)
    if n_channels < 1:
        raise InputError(f"{path}: n_channels must be at least 1, not {n_channels}")
    frame_bytes = sample_dtype.itemsize * n_channels
    size = path.stat().st_size
    if size % frame_bytes:
        raise InputError(
            f"{path}: truncated or corrupt raw file ({size} bytes is not a multiple "
            f"of {frame_bytes}-byte frames of {n_channels} x {sample_dtype})"
        )
    if size == 0:
        traces = np.zeros((0, n_channels), dtype=sample_dtype)
    elif _info_is_channel_major(info):
        traces = np.memmap(path, dtype=sample_dtype, mode="r").reshape(n_channels, -1).T
    else:
        traces = np.memmap(path, dtype=sample_dtype, mode="r").reshape(-1, n_channels)
    return _LoadedTraces(traces, info.get("sample_rate"), sample_dtype, gain_uv=info.get("gain_uv"))


def _read_mda_traces(path: Path) -> _LoadedTraces:
    folder = path if path.is_dir() else path.parent
    raw = read_mda(folder / "raw.mda")
    if raw.ndim != 2:
        raise InputError(f"{folder / 'raw.mda'}: expected 2 dimensions, got shape {raw.shape}")
    geom_path = folder / "geom.csv"
    locations = None
    if geom_path.exists():
        with reading(geom_path):
            locations = np.loadtxt(geom_path, delimiter=",", ndmin=2)
    return _LoadedTraces(
        raw.T, _spikeforest_samplerate(folder), raw.dtype, channel_locations_um=locations
    )


def _read_spikeinterface_traces(
    path: Path, fmt: str, extractor_kwargs: dict[str, Any], scale_to_uv: bool
) -> _LoadedTraces:
    readers = _spikeinterface_readers()
    if fmt not in readers:
        raise InputError(
            f"{path}: unknown format {fmt!r}; known formats: {', '.join(available_formats())}"
        )
    try:
        si_recording = readers[fmt](str(path), **extractor_kwargs)
    except Exception as error:  # third-party readers raise anything on a bad file
        raise InputError(f"{path}: cannot read as {fmt!r}: {_one_line(error)}") from error
    return _wrap_spikeinterface(si_recording, scale_to_uv)


def _wrap_object(
    source: Any, label: str, n_channels: int | None, scale_to_uv: bool
) -> _LoadedTraces:
    if isinstance(source, np.ndarray):
        traces = _time_major(label, source, n_channels)
        return _LoadedTraces(traces, None, traces.dtype)
    if hasattr(source, "get_traces") and hasattr(source, "get_sampling_frequency"):
        return _wrap_spikeinterface(source, scale_to_uv)
    raise InputError(f"{label}: not a path, array or SpikeInterface recording")


def _wrap_spikeinterface(si_recording: Any, scale_to_uv: bool) -> _LoadedTraces:
    """Single-segment SpikeInterface recording, in microvolts if asked and SpikeInterface knows
    the gains."""
    import spikeinterface.core as si

    sample_dtype = np.dtype(si_recording.get_dtype())
    if si_recording.get_num_segments() > 1:
        logger.info("concatenating %d segments", si_recording.get_num_segments())
        si_recording = si.concatenate_recordings([si_recording])
    gain_uv = offset_uv = None
    if scale_to_uv and si_recording.has_scaleable_traces():
        import spikeinterface.preprocessing as spre

        si_recording = spre.scale_to_uV(si_recording)
        gain_uv, offset_uv = 1.0, 0.0
    locations = si_recording.get_channel_locations() if si_recording.has_probe() else None
    return _LoadedTraces(
        si_recording,
        si_recording.get_sampling_frequency(),
        sample_dtype,
        gain_uv=gain_uv,
        offset_uv=offset_uv,
        channel_locations_um=locations,
    )


def _spikeinterface_readers() -> dict[str, Any]:
    import spikeinterface.extractors as se

    readers = dict(se.recording_extractor_full_dict)
    readers["openephys"] = se.read_openephys
    for name in (*NATIVE_FORMATS, "numpy"):
        readers.pop(name, None)
    return readers


def _read_mat_truth(path: Path) -> _LoadedTruth:
    variables = _load_mat(
        path,
        (
            "spike_times",
            "spike_class",
            "true_spike_times",
            "true_spike_class",
            "samplingInterval",
            "sr",
            "dt",
        ),
    )
    for times_key, units_key in (
        ("spike_times", "spike_class"),
        ("true_spike_times", "true_spike_class"),
    ):
        if times_key in variables and units_key in variables:
            return _LoadedTruth(
                np.asarray(variables[times_key]).ravel(),
                np.asarray(variables[units_key]).ravel(),
                _mat_sampling_frequency(variables),
                peak_offset_samples=QUIROGA_PEAK_OFFSET_SAMPLES,
            )
    raise InputError(
        f"{path}: no ground truth (spike_times/spike_class or true_spike_times/true_spike_class)"
    )


def _read_npz_truth(path: Path) -> _LoadedTruth:
    with reading(path), np.load(path) as npz:
        for times_key, units_key in (
            ("spike_times", "spike_units"),
            ("sample_index", "unit_index"),
        ):
            if times_key in npz.files and units_key in npz.files:
                return _LoadedTruth(
                    npz[times_key],
                    npz[units_key],
                    _optional_scalar(npz, "sampling_frequency"),
                    unit_snr=npz.get("unit_snr"),
                )
    raise InputError(
        f"{path}: no ground truth (spike_times/spike_units or sample_index/unit_index)"
    )


def _read_mda_truth(path: Path) -> _LoadedTruth:
    folder = path if path.is_dir() else path.parent
    firings_path = path if path.is_file() else folder / "firings_true.mda"
    if not firings_path.exists():
        raise InputError(f"{folder}: no ground truth (firings_true.mda)")
    firings = read_mda(firings_path)
    if firings.ndim != 2 or firings.shape[0] < 3:
        raise InputError(f"{firings_path}: expected 3 x N firings, got shape {firings.shape}")
    return _LoadedTruth(
        np.asarray(firings[1]) - 1, np.asarray(firings[2]), _spikeforest_samplerate(folder)
    )


def _load_mat(path: Path, names: tuple[str, ...]) -> dict[str, Any]:
    """The named variables of a v5 or v7.3 (HDF5) .mat file; cells give their first element."""
    import h5py

    if h5py.is_hdf5(path):
        with reading(path), h5py.File(path, "r") as file:
            return {name: _hdf5_value(file, file[name]) for name in names if name in file}
    import scipy.io
    from scipy.io.matlab import MatReadError

    try:
        with reading(path):
            variables = scipy.io.loadmat(path, variable_names=names)
    except MatReadError as error:
        raise InputError(f"{path}: truncated or corrupt .mat file ({_one_line(error)})") from error
    return {name: _first_cell(value) for name, value in variables.items() if name in names}


def _hdf5_value(file: Any, dataset: Any) -> np.ndarray:
    import h5py

    if not isinstance(dataset, h5py.Dataset):
        raise InputError(f"{file.filename}: {dataset.name} is not an array")
    if dataset.dtype == h5py.ref_dtype:
        return _hdf5_value(file, file[dataset[()].flat[0]])
    offset = dataset.id.get_offset()
    if offset is None or dataset.chunks is not None or dataset.size < 2:
        return dataset[()]
    return np.memmap(
        file.filename, dtype=dataset.dtype, mode="r", offset=offset, shape=dataset.shape
    )


def _first_cell(value: np.ndarray) -> np.ndarray:
    while isinstance(value, np.ndarray) and value.dtype == object and value.size:
        value = value.flat[0]
    return value


def _mat_sampling_frequency(variables: dict[str, Any]) -> float | None:
    if "samplingInterval" in variables:
        return 1000.0 / _scalar(variables["samplingInterval"])
    if "sr" in variables:
        return _scalar(variables["sr"])
    if "dt" in variables:
        return 1.0 / _scalar(variables["dt"])
    return None


def _scalar(value: Any) -> float:
    array = np.asarray(value, dtype=np.float64).ravel()
    return float(array[0]) if array.size else float("nan")


def _optional_scalar(npz: Any, key: str) -> float | None:
    return _scalar(npz[key]) if key in npz.files else None


def _spikeforest_samplerate(folder: Path) -> float | None:
    params_path = folder / "params.json"
    if not params_path.exists():
        return None
    return _load_json(params_path).get("samplerate")


def _sidecar_info(path: Path) -> dict[str, Any]:
    for candidate in (path.with_suffix(".json"), path.parent / _SIDECAR_NAME):
        if candidate.exists():
            return _checked_sidecar(candidate, _load_json(candidate))
    return {}


def _checked_sidecar(path: Path, info: dict[str, Any]) -> dict[str, Any]:
    shape = info.get("shape")
    if shape is not None and not (
        isinstance(shape, list) and len(shape) in (1, 2) and all(map(_is_integer, shape))
    ):
        raise InputError(f"{path}: 'shape' must be a list of one or two integers such as "
                         f"[-1, 4], got {shape!r}")
    if not isinstance(info.get("dtype", ""), str):
        raise InputError(f"{path}: 'dtype' must be a string such as \"int16\"")
    for key in ("sample_rate", "gain_uv"):
        value = info.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise InputError(f"{path}: {key!r} must be a number, got {value!r}")
    return info


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _info_channels(info: dict[str, Any]) -> int | None:
    shape = info.get("shape")
    if not shape:
        return None
    return int(shape[0]) if _info_is_channel_major(info) else int(shape[-1])


def _info_is_channel_major(info: dict[str, Any]) -> bool:
    shape = info.get("shape") or []
    return len(shape) == 2 and shape[-1] == -1


def _load_json(path: Path) -> dict[str, Any]:
    try:
        content = json.loads(read_text(path, "sidecar JSON"))
    except ValueError as error:
        raise InputError(f"{path}: unreadable JSON ({_one_line(error)})") from error
    if not isinstance(content, dict):
        raise InputError(f"{path}: expected a JSON object")
    return content


def _read_ints(path: Path, file: Any, dtype: str, count: int) -> np.ndarray:
    values = np.fromfile(file, dtype=dtype, count=count)
    if values.size < count:
        raise InputError(f"{path}: truncated .mda header")
    return values


def _time_major(label: Any, array: np.ndarray, n_channels: int | None) -> np.ndarray:
    """(n_samples, n_channels): 1-D is one channel (or interleaved with ``n_channels``);
    without ``n_channels`` the longer axis of a 2-D array is time."""
    if array.ndim == 1:
        channels = n_channels or 1
        if array.size % channels:
            raise InputError(
                f"{label}: {array.size} values is not a multiple of {channels} channels"
            )
        return array.reshape(-1, channels)
    if array.ndim != 2:
        raise InputError(f"{label}: expected a 1-D or 2-D trace array, got shape {array.shape}")
    if n_channels is None:
        return array.T if array.shape[0] < array.shape[1] else array
    if array.shape[1] == n_channels:
        return array
    if array.shape[0] == n_channels:
        return array.T
    raise InputError(f"{label}: shape {array.shape} has no axis of {n_channels} channels")


def _checked_sampling_frequency(label: str, fs: float | None) -> float:
    if fs is None:
        raise InputError(f"{label}: missing sampling rate (pass sampling_frequency_hz)")
    if not np.isfinite(fs) or fs <= 0:
        raise InputError(f"{label}: sampling rate must be positive, got {fs:g} Hz")
    return float(fs)


def _check_locations(label: str, recording: Recording) -> None:
    shape = recording.channel_locations_um.shape
    if len(shape) != 2 or shape[0] != recording.n_channels:
        raise InputError(
            f"{label}: channel locations of shape {shape} do not match "
            f"{recording.n_channels} channels"
        )


def _checked_spike_train(
    path: Path, times: np.ndarray, units: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    times, units = np.asarray(times).ravel(), np.asarray(units).ravel()
    if times.size != units.size:
        raise InputError(f"{path}: {times.size} spike times but {units.size} unit labels")
    if not (np.all(np.isfinite(times)) and np.all(np.isfinite(units))):
        raise InputError(f"{path}: NaN or inf in ground-truth spike times or units")
    return np.rint(times).astype(np.int64), np.rint(units).astype(np.int32)


def _raise_on_non_finite(label: str, traces: np.ndarray, start: int) -> None:
    bad = ~np.isfinite(traces)
    if bad.any():
        sample, channel = np.argwhere(bad)[0]
        raise InputError(f"{label}: NaN or inf sample at index {start + sample}, channel {channel}")


def _existing_path(source: str | os.PathLike) -> Path:
    path = Path(source)
    if not path.exists():
        raise InputError(f"{path}: no such file or folder")
    return path


def _resolve_format(path: Path, format: str | None) -> str:
    if format is not None:
        name = format.lower()
        return _FORMAT_ALIASES.get(name, name)
    if path.is_dir():
        if (path / "raw.mda").exists() or (path / "firings_true.mda").exists():
            return "mda"
        raise InputError(
            f"{path}: cannot infer the format of this folder; pass format= "
            "(e.g. 'openephys', 'spikeglx', 'neuralynx')"
        )
    fmt = _SUFFIX_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InputError(
            f"{path}: unknown format {path.suffix or '(no extension)'!r}; pass "
            f"format= one of {', '.join(available_formats())}"
        )
    return fmt


def _first_given(*values: Any) -> Any:
    """The first value that is not None (None when all are)."""
    return next((value for value in values if value is not None), None)


@contextmanager
def reading(path: Path) -> Iterator[None]:
    """Turn the errors of a truncated or corrupt file into one-line InputErrors."""
    try:
        yield
    except InputError:
        raise
    except _READ_ERRORS as error:
        raise InputError(
            f"{path}: truncated or corrupt {path.suffix or 'file'} ({_one_line(error)})"
        ) from error


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    return f"{type(error).__name__}: {lines[0]}" if lines else type(error).__name__
