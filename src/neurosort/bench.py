"""Studies: recordings x sorters -> jobs -> executors (serial | process | dask) -> tables.

A study is a TOML file::

    data_root = "../../shared/data"      # optional; $NEUROSORT_DATA overrides it
    match_window_samples = 30            # SpikeForest matching window
    snr_threshold = 8.0                  # units at or above it make the headline accuracy
    timeout_s = 3600                     # per job (inf: none); `--timeout-s` overrides it

    [[recordings]]
    path = "mearec/test/*.npz"           # a path or a glob
    # name, format, sampling_frequency_hz, dtype, n_channels, gain_uv, offset_uv,
    # ground_truth (path, or false for none), peak_offset_samples

    [[sorters]]
    name = "neurosort"                   # neurosort | mountainsort5 | spykingcircus2 | ...
    label = "neurosort-t5"               # optional, unique; defaults to name
    set = ["detect.threshold_mad=5"]     # neurosort: overrides; `config` = a TOML file
    # params = { ... }                   # peers: run_sorter parameters

Relative paths (recordings, ground truth, ``config``, ``data_root``) resolve against the
study file's folder; recording and ground-truth paths resolve against ``data_root`` when the
study sets one. So the issue's smallest study (``path = "../shared/data/..."``) works when the
file sits in the repository root, and ``studies/shared.toml`` works from any working folder.
Without ``ground_truth`` a ``.mat``/``.npz``/SpikeForest recording is its own ground truth when
it holds one; other recordings are timed only.

Each (recording, sorter) job runs in its own forked process (its own session, so a timeout
kills the sorter's helpers too) and writes ``jobs/<recording>__<sorter>/row.json`` through a
temporary name, so a killed study loses at most the jobs in flight and ``resume`` finds the
rest. Jobs carry paths, never arrays. Forking needs a POSIX system (Linux, macOS).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fnmatch
import glob
import hashlib
import importlib
import importlib.util
import json
import math
import os
import re
import shutil
import signal
import sys
import time
import tomllib
import traceback
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from neurosort.checks import read_text
from neurosort.errors import InputError, NeurosortError
from neurosort.evaluate import jsonable
from neurosort.log import get_logger

logger = get_logger(__name__)

PEER_SORTERS = ("mountainsort5", "spykingcircus2", "tridesclous2", "kilosort4")
SORTERS = ("neurosort", *PEER_SORTERS)
PEER_DEFAULT_PARAMS: dict[str, dict[str, Any]] = {
    "mountainsort5": {"scheme": "2", "detect_sign": 0},
}
KILOSORT4_MIN_CHANNELS = 16
"""Kilosort4 builds spatial templates across many contacts; below this it is skipped."""

DEFAULT_TIMEOUT_S = 3600.0
DEFAULT_SNR_THRESHOLD = 8.0
DEFAULT_MATCH_WINDOW_SAMPLES = 30
ACCURACY_WELL_SORTED = 0.8
SNR_BIN_EDGES = (0.0, 2.0, 4.0, 6.0, 8.0, 10.0, 15.0, 20.0, 30.0, 50.0, math.inf)
FINISHED = ("ok", "skipped")
_POLL_S = 0.05
_PR_SET_PDEATHSIG = 1
_EXCEPTION_LINE = re.compile(r"^[A-Za-z_.]*(Error|Exception|Interrupt)\b.*:")
_MAX_ERROR_CHARS = 300

_STUDY_KEYS = {
    "name",
    "data_root",
    "match_window_samples",
    "snr_threshold",
    "timeout_s",
    "recordings",
    "sorters",
}
_RECORDING_KEYS = {
    "path",
    "name",
    "format",
    "sampling_frequency_hz",
    "dtype",
    "n_channels",
    "gain_uv",
    "offset_uv",
    "ground_truth",
    "peak_offset_samples",
}
_LOAD_KEYS = ("format", "sampling_frequency_hz", "dtype", "n_channels", "gain_uv", "offset_uv")
_SORTER_KEYS = {"name", "label", "config", "set", "params"}
_TRUTH_SUFFIXES = (".mat", ".npz")


@dataclass(frozen=True)
class RecordingSpec:
    name: str
    path: str
    load_options: dict[str, Any] = field(default_factory=dict)
    ground_truth: str | None = None
    ground_truth_required: bool = False
    peak_offset_samples: int | None = None


@dataclass(frozen=True)
class SorterSpec:
    label: str
    name: str
    config_toml: str = ""
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Study:
    path: Path
    recordings: list[RecordingSpec]
    sorters: list[SorterSpec]
    name: str = "study"
    match_window_samples: int = DEFAULT_MATCH_WINDOW_SAMPLES
    snr_threshold: float = DEFAULT_SNR_THRESHOLD
    timeout_s: float = DEFAULT_TIMEOUT_S


@dataclass(frozen=True)
class Job:
    recording: RecordingSpec
    sorter: SorterSpec
    match_window_samples: int
    timeout_s: float
    job_dir: str

    @property
    def key(self) -> str:
        return f"{self.recording.name}__{self.sorter.label}"

    @property
    def config_hash(self) -> str:
        spec = {
            "recording": dataclasses.asdict(self.recording),
            "sorter": dataclasses.asdict(self.sorter),
            "match_window_samples": self.match_window_samples,
        }
        text = json.dumps(spec, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


# ---------------------------------------------------------------- study file


def load_study(path: str | os.PathLike) -> Study:
    """Parse and validate a study TOML file (see the module docstring)."""
    path = Path(path).resolve()
    if not path.is_file():
        raise InputError(f"{path}: study file not found")
    try:
        data = tomllib.loads(read_text(path, "study file"))
    except tomllib.TOMLDecodeError as error:
        raise InputError(f"{path}: not valid TOML ({error})") from error
    _reject_unknown(path, "study", data, _STUDY_KEYS)
    data_root = _data_root(path, data.get("data_root"))
    recordings = _parse_recordings(path, data.get("recordings"), data_root)
    sorters = _parse_sorters(path, data.get("sorters"))
    job_names = [f"{r.name}__{s.label}" for r in recordings for s in sorters]
    _reject_duplicates(path, job_names, "job names", "name` or `label")
    return Study(
        path=path,
        recordings=recordings,
        sorters=sorters,
        name=str(data.get("name", path.stem)),
        match_window_samples=_number(
            path, data, "match_window_samples", int, DEFAULT_MATCH_WINDOW_SAMPLES, minimum=0
        ),
        snr_threshold=_number(path, data, "snr_threshold", float, DEFAULT_SNR_THRESHOLD),
        timeout_s=_number(
            path, data, "timeout_s", float, DEFAULT_TIMEOUT_S, minimum=1e-9, infinite_ok=True
        ),
    )


def _reject_unknown(path: Path, where: str, table: Any, allowed: set[str]) -> None:
    if not isinstance(table, dict):
        raise InputError(f"{path}: {where} must be a table")
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise InputError(
            f"{path}: unknown {where} key(s) {', '.join(unknown)} "
            f"(allowed: {', '.join(sorted(allowed))})"
        )


def _number(
    path: Path, table: dict, key: str, kind: type, default: Any, minimum: float | None = None,
    infinite_ok: bool = False,
) -> Any:
    value = table.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value) or (
        math.isinf(value) and not infinite_ok
    ):
        raise InputError(f"{path}: {key} must be a {'' if infinite_ok else 'finite '}number, "
                         f"got {value!r}")
    if minimum is not None and value < minimum:
        raise InputError(f"{path}: {key} must be >= {minimum}, got {value}")
    return kind(value)


def _data_root(study_path: Path, declared: Any) -> Path | None:
    if declared is None:
        return None
    override = os.environ.get("NEUROSORT_DATA")
    root = Path(override) if override else study_path.parent / str(declared)
    return root.resolve()


def _parse_recordings(path: Path, entries: Any, data_root: Path | None) -> list[RecordingSpec]:
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{path}: the study needs at least one [[recordings]] entry")
    base = data_root or path.parent
    specs = [spec for entry in entries for spec in _recording_specs(path, entry, base)]
    _reject_duplicates(path, [spec.name for spec in specs], "recording names", "name")
    return specs


def _check_folder_name(path: Path, what: str, name: str) -> None:
    """Job folders are named after recordings and sorter labels, so these must not be paths."""
    if name in ("", ".", "..") or "/" in name or "\\" in name:
        raise InputError(
            f"{path}: {what} {name!r} must be a folder name (not empty, '.' or '..', "
            "without '/' or '\\')"
        )


def _reject_duplicates(path: Path, names: list[str], what: str, key: str) -> None:
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise InputError(
            f"{path}: {what} {', '.join(duplicates)} occur twice "
            f"(give each entry a distinct `{key}`)"
        )


def _recording_specs(study_path: Path, entry: Any, base: Path) -> list[RecordingSpec]:
    _reject_unknown(study_path, "recording", entry, _RECORDING_KEYS)
    if "path" not in entry:
        raise InputError(f"{study_path}: a [[recordings]] entry has no `path`")
    pattern = str(base / str(entry["path"]))
    matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
    if not matches:
        raise InputError(f"{study_path}: no recording matches {pattern}")
    if len(matches) > 1 and "name" in entry:
        raise InputError(f"{study_path}: `name` given for a glob matching {len(matches)} files")
    return [_recording_spec(study_path, entry, Path(match), base) for match in matches]


def _recording_spec(study_path: Path, entry: dict, path: Path, base: Path) -> RecordingSpec:
    if not path.exists():
        raise InputError(f"{study_path}: recording {path} not found")
    path = path.resolve()
    truth = entry.get("ground_truth")
    if truth is False:
        truth_path, required = None, False
    elif truth is None:
        has_truth = path.suffix in _TRUTH_SUFFIXES or path.is_dir()
        truth_path, required = (str(path) if has_truth else None), False
    else:
        truth_path, required = str((base / str(truth)).resolve()), True
        if not Path(truth_path).exists():
            raise InputError(f"{study_path}: ground truth {truth_path} of {path.name} not found")
    name = str(entry.get("name", path.stem))
    _check_folder_name(study_path, "recording name", name)
    offset = entry.get("peak_offset_samples")
    return RecordingSpec(
        name=name,
        path=str(path),
        load_options={key: entry[key] for key in _LOAD_KEYS if key in entry},
        ground_truth=truth_path,
        ground_truth_required=required,
        peak_offset_samples=None if offset is None else int(offset),
    )


def _parse_sorters(path: Path, entries: Any) -> list[SorterSpec]:
    if not isinstance(entries, list) or not entries:
        raise InputError(f"{path}: the study needs at least one [[sorters]] entry")
    specs = [_sorter_spec(path, entry) for entry in entries]
    _reject_duplicates(path, [spec.label for spec in specs], "sorter labels", "label")
    return specs


def _sorter_spec(path: Path, entry: Any) -> SorterSpec:
    _reject_unknown(path, "sorter", entry, _SORTER_KEYS)
    name = entry.get("name")
    if name not in SORTERS:
        raise InputError(f"{path}: unknown sorter {name!r} (known: {', '.join(SORTERS)})")
    label = str(entry.get("label", name))
    _check_folder_name(path, "sorter label", label)
    if name == "neurosort":
        if "params" in entry:
            raise InputError(
                f"{path}: sorter {label}: neurosort takes `config`/`set`, not `params`"
            )
        return SorterSpec(label, name, config_toml=_neurosort_config(path, entry, label))
    if "config" in entry or "set" in entry:
        raise InputError(
            f"{path}: sorter {label}: `config`/`set` are for neurosort; "
            f"pass {name} options as `params`"
        )
    params = entry.get("params", {})
    if not isinstance(params, dict):
        raise InputError(f"{path}: sorter {label}: `params` must be a table, got {params!r}")
    _check_peer_params(path, name, label, params)
    return SorterSpec(label, name, params={**PEER_DEFAULT_PARAMS.get(name, {}), **params})


def _check_peer_params(path: Path, name: str, label: str, params: dict) -> None:
    """Parameter names the SpikeInterface sorter knows; values are its own to check."""
    import spikeinterface.sorters as ss

    sorter = ss.sorter_dict[name]
    if not sorter.is_installed():
        logger.warning("%s: sorter %s: %s is not installed; params unchecked", path, label, name)
        return
    known = sorter.default_params()
    unknown = sorted(set(params) - set(known))
    if unknown:
        raise InputError(
            f"{path}: sorter {label}: unknown {name} param(s) {', '.join(unknown)} "
            f"(allowed: {', '.join(sorted(known))})"
        )


def _neurosort_config(path: Path, entry: dict, label: str) -> str:
    from neurosort.config import SortConfig, load_config, to_toml, validate, with_overrides

    assignments = entry.get("set", [])
    if not isinstance(assignments, list) or not all(isinstance(a, str) for a in assignments):
        raise InputError(f"{path}: sorter {label}: `set` must be a list of 'key=value' strings")
    try:
        config = load_config(path.parent / entry["config"]) if "config" in entry else SortConfig()
        config = validate(with_overrides(config, assignments))
        _check_methods(config)
    except NeurosortError as error:
        raise InputError(f"{path}: sorter {label}: {error}") from error
    return to_toml(config)


def _check_methods(config) -> None:
    """Each stage's method is registered (features may also be ``auto``); weights exist."""
    from neurosort import registry

    methods = {
        "detect.method": ("detect", config.detect.method, []),
        "features.method": ("features", config.features.method, ["auto"]),
        "cluster.method": ("cluster", config.cluster.method, []),
    }
    for key, (kind, name, extra) in methods.items():
        allowed = [*registry.available(kind), *extra]
        if name not in allowed:
            raise InputError(f"config key {key}: {name!r} not one of {', '.join(sorted(allowed))}")
    weights = config.features.weights
    if weights and not Path(weights).is_file():
        raise InputError(f"config key features.weights: file {weights} not found")


# ---------------------------------------------------------------- jobs


def make_jobs(
    study: Study, out_dir: str | os.PathLike, timeout_s: float | None = None
) -> list[Job]:
    jobs_dir = Path(out_dir).resolve() / "jobs"
    return [
        Job(
            recording,
            sorter,
            study.match_window_samples,
            timeout_s or study.timeout_s,
            str(jobs_dir / f"{recording.name}__{sorter.label}"),
        )
        for recording in study.recordings
        for sorter in study.sorters
    ]


def finished_row(job: Job) -> dict[str, Any] | None:
    """The job's stored row when it finished (ok or skipped) with the same config hash."""
    row = current_row(job)
    return row if row and row.get("status") in FINISHED else None


def read_row(job_dir: Path) -> dict[str, Any] | None:
    try:
        return json.loads((job_dir / "row.json").read_text())
    except (OSError, ValueError):
        return None


def run_job(job: Job) -> dict[str, Any]:
    """Run one job in its own process with the job's time limit; return and store its row."""
    job_dir = Path(job.job_dir)
    job_dir.mkdir(parents=True, exist_ok=True)
    for stale in ("row.json", "result.json"):
        (job_dir / stale).unlink(missing_ok=True)
    _preload(job.sorter)
    started = time.perf_counter()
    status, usage = _run_forked(lambda: _job_child(job), job.timeout_s, job_dir / "job.log")
    wall_s = time.perf_counter() - started
    result = _read_json(job_dir / "result.json")
    if result is None:
        reason = (
            f"timed out after {job.timeout_s:g} s"
            if status == "timeout"
            else f"process ended with {status} before writing a result"
        )
        result = {"status": "failed", "error": f"{reason}; {_log_tail(job_dir / 'job.log')}"}
    row = {
        **_job_identity(job),
        **result,
        "job_wall_s": wall_s,
        "cpu_s": usage.ru_utime + usage.ru_stime if usage else math.nan,
        "peak_memory_mib": usage.ru_maxrss / 1024.0 if usage else math.nan,
    }
    write_json_atomic(job_dir / "row.json", row)
    logger.info("%s: %s (%.1f s)", job.key, row["status"], wall_s)
    return row


def _preload(sorter: SorterSpec) -> None:
    """Import what a job needs before forking, so its time is the sorter's, not imports'."""
    modules = [
        "neurosort.io",
        "neurosort.pipeline",
        "neurosort.evaluate",
        "sklearn.metrics",
        "spikeinterface.comparison",
    ]
    if sorter.name != "neurosort":
        modules.append("spikeinterface.sorters")
    for module in modules:
        importlib.import_module(module)


def _job_identity(job: Job) -> dict[str, Any]:
    return {
        "recording": job.recording.name,
        "sorter": job.sorter.label,
        "sorter_name": job.sorter.name,
        "recording_path": job.recording.path,
        "config_hash": job.config_hash,
    }


def _run_forked(target: Callable[[], None], timeout_s: float, log_path: Path):
    """Fork, run ``target`` in a new session with output to ``log_path``; kill on timeout.

    Returns (status, rusage): status is "exit 0", "exit N", "signal N" or "timeout".
    """
    log_fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    sys.stdout.flush()
    sys.stderr.flush()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        os.setsid()
        _die_with_parent(parent)
        _child_main(target, log_fd)
    os.close(log_fd)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        done, wait_status, usage = os.wait4(pid, os.WNOHANG)
        if done:
            return _describe_status(wait_status), usage
        time.sleep(_POLL_S)
    for kill in (os.killpg, os.kill):  # os.kill: the child may not have called setsid yet
        with contextlib.suppress(ProcessLookupError):
            kill(pid, signal.SIGKILL)
    _, _, usage = os.wait4(pid, 0)
    return "timeout", usage


def _die_with_parent(parent: int) -> None:
    """Linux: a killed study must not leave its jobs running (PR_SET_PDEATHSIG)."""
    import ctypes

    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:
        os._exit(1)


def _child_main(target: Callable[[], None], log_fd: int) -> None:
    code = 1
    try:
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        target()
        code = 0
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _describe_status(wait_status: int) -> str:
    code = os.waitstatus_to_exitcode(wait_status)
    return f"exit {code}" if code >= 0 else f"signal {-code}"


def _log_tail(path: Path, n_lines: int = 3) -> str:
    try:
        lines = [line for line in path.read_text(errors="replace").splitlines() if line.strip()]
    except OSError:
        return "no log"
    return " | ".join(lines[-n_lines:]) or "empty log"


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_json_atomic(path: Path, data: Any) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(jsonable(data), indent=1, allow_nan=False) + "\n")
    os.replace(temporary, path)


# ---------------------------------------------------------------- inside the job process


def _job_child(job: Job) -> None:
    job_dir = Path(job.job_dir)
    write_json_atomic(job_dir / "result.json", execute_job(job))


def execute_job(job: Job) -> dict[str, Any]:
    """Load, sort, evaluate; a NeurosortError or sorter error becomes a failed result."""
    from neurosort.io import load_recording

    try:
        recording = load_recording(job.recording.path, **job.recording.load_options)
        truth = _load_truth(job.recording, recording)
        skip = _skip_reason(job.sorter, recording.n_channels)
        if skip:
            return {"status": "skipped", "error": skip, "units": []}
        started, cpu_started = time.perf_counter(), _cpu_seconds()
        spikes = _sort(job, recording)
        sort_wall_s = time.perf_counter() - started
        sort_cpu_s = _cpu_seconds() - cpu_started
        np.savez(
            Path(job.job_dir) / "spikes.npz",
            sample_index=spikes["sample_index"],
            unit_index=spikes["unit_index"],
        )
        units, summary = _evaluate(job, spikes, truth, recording)
    except Exception as error:
        return {
            "status": "failed",
            "error": one_line_error(error),
            "units": [],
            "traceback": traceback.format_exc(),
        }
    n_units = len(np.unique(spikes["unit_index"][spikes["unit_index"] >= 0]))
    return {
        "status": "ok",
        "error": "",
        "duration_s": recording.duration_s,
        "n_channels": recording.n_channels,
        "sampling_frequency_hz": recording.sampling_frequency_hz,
        "has_ground_truth": truth is not None,
        "n_spikes": len(spikes),
        "n_sorted_units": n_units,
        "sort_wall_s": sort_wall_s,
        "sort_cpu_s": sort_cpu_s,
        "realtime_factor": recording.duration_s / sort_wall_s if sort_wall_s > 0 else math.nan,
        "evaluation": summary,
        "units": units,
    }


def one_line_error(error: BaseException) -> str:
    """``Type: message`` on one line; for a wrapped traceback, its innermost exception line."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    raised = [line for line in lines if _EXCEPTION_LINE.match(line)]
    detail = raised[-1] if raised else (lines[0] if lines else "")
    return f"{type(error).__name__}: {detail}"[:_MAX_ERROR_CHARS]


def _cpu_seconds() -> float:
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _load_truth(spec: RecordingSpec, recording):
    """The recording's ground truth, checked against it before any sorting (None: none)."""
    from neurosort.evaluate import check_ground_truth
    from neurosort.io import load_ground_truth

    if spec.ground_truth is None:
        return None
    options = {
        "sampling_frequency_hz": spec.load_options.get("sampling_frequency_hz"),
        "peak_offset_samples": spec.peak_offset_samples,
        "fallback_sampling_frequency_hz": recording.sampling_frequency_hz,
    }
    try:
        truth = load_ground_truth(spec.ground_truth, **options)
    except InputError:
        if spec.ground_truth_required:
            raise
        logger.info("%s: no ground truth in the file; timing only", spec.name)
        return None
    check_ground_truth(
        truth, recording.sampling_frequency_hz, recording.n_samples, str(spec.ground_truth)
    )
    return truth


def _skip_reason(sorter: SorterSpec, n_channels: int) -> str:
    if sorter.name == "kilosort4":
        if importlib.util.find_spec("kilosort") is None:
            return "kilosort4 skipped: the kilosort package is not installed"
        if n_channels < KILOSORT4_MIN_CHANNELS:
            return f"kilosort4 skipped: {n_channels} channel(s), needs >= {KILOSORT4_MIN_CHANNELS}"
    return ""


def _sort(job: Job, recording) -> np.ndarray:
    if job.sorter.name == "neurosort":
        return _sort_neurosort(job, recording)
    return _sort_peer(job, recording)


def _sort_neurosort(job: Job, recording) -> np.ndarray:
    from neurosort.config import SortConfig, from_dict
    from neurosort.pipeline import sort

    config = from_dict(SortConfig, tomllib.loads(job.sorter.config_toml))
    out_dir = Path(job.job_dir) / "sorter_output"
    return sort(recording, config, out_dir, report=False).spikes


def _sort_peer(job: Job, recording) -> np.ndarray:
    """Run a SpikeInterface sorter on a binary copy of the traces (removed afterwards)."""
    import spikeinterface.core as si
    import spikeinterface.sorters as ss

    from neurosort.types import SPIKE_DTYPE

    work = Path(job.job_dir) / "work"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    try:
        traces_path = work / "traces.raw"
        recording.get_traces().astype(np.float32).tofile(traces_path)
        binary = si.read_binary(
            traces_path,
            sampling_frequency=recording.sampling_frequency_hz,
            dtype="float32",
            num_channels=recording.n_channels,
        )
        binary.set_dummy_probe_from_locations(recording.channel_locations_um)
        sorting = ss.run_sorter(
            job.sorter.name,
            binary,
            folder=work / "sorter",
            remove_existing_folder=True,
            verbose=False,
            **job.sorter.params,
        )
        vector = sorting.to_spike_vector()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    spikes = np.zeros(len(vector), dtype=SPIKE_DTYPE)
    spikes["sample_index"] = vector["sample_index"]
    spikes["unit_index"] = vector["unit_index"]
    return spikes[np.argsort(spikes["sample_index"], kind="stable")]


def _evaluate(job: Job, spikes: np.ndarray, truth, recording) -> tuple[list, dict]:
    from neurosort.evaluate import evaluate

    if truth is None:
        return [], {}
    result = evaluate(
        spikes, truth, recording=recording, match_window_samples=job.match_window_samples
    )
    return result.units, result.summary


# ---------------------------------------------------------------- executors


def run_jobs(
    jobs: list[Job], executor: str = "serial", *, workers: int = 1, scheduler: str | None = None
) -> list[dict[str, Any]]:
    """Run every job with the named executor; rows come back in ``jobs`` order."""
    if not jobs:
        return []
    if executor == "serial":
        return [run_job(job) for job in jobs]
    if executor == "process":
        return _run_threads(jobs, workers)
    if executor == "dask":
        return _run_dask(jobs, workers, scheduler)
    raise InputError(f"unknown executor {executor!r} (serial, process or dask)")


def _run_threads(jobs: list[Job], workers: int) -> list[dict[str, Any]]:
    """Each job already runs in its own process; threads only wait for them."""
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        return list(pool.map(run_job, jobs))


def _run_dask(jobs: list[Job], workers: int, scheduler: str | None) -> list[dict[str, Any]]:
    from dask.distributed import Client, LocalCluster

    if scheduler:
        with Client(scheduler) as client:
            return _gather(client, jobs)
    cluster_options = {
        "n_workers": max(1, workers),
        "threads_per_worker": 1,
        "processes": False,
        "dashboard_address": None,
    }
    with LocalCluster(**cluster_options) as cluster, Client(cluster) as client:
        return _gather(client, jobs)


def _gather(client, jobs: list[Job]) -> list[dict[str, Any]]:
    futures = [
        client.submit(run_job, job, key=f"neurosort-job-{job.key}-{job.config_hash}", pure=False)
        for job in jobs
    ]
    return client.gather(futures)


# ---------------------------------------------------------------- study


def run_study(
    study: Study,
    out_dir: str | os.PathLike,
    *,
    executor: str = "serial",
    workers: int = 1,
    scheduler: str | None = None,
    resume: bool = False,
    timeout_s: float | None = None,
    sorters: list[str] | None = None,
    recordings: list[str] | None = None,
) -> Path:
    """Run (or resume) the study's jobs and write the tables under ``out_dir``.

    ``sorters`` (labels) and ``recordings`` (name patterns) limit which jobs run; the tables
    hold every job of the study that has a result with its current config hash, so a study
    can be filled in over several runs.
    """
    out_dir = Path(out_dir).resolve()
    jobs = make_jobs(study, out_dir, timeout_s)
    selected = select_jobs(study, jobs, sorters, recordings)
    out_dir.mkdir(parents=True, exist_ok=True)
    done = {job.key: row for job in selected if resume and (row := finished_row(job))}
    pending = [job for job in selected if job.key not in done]
    logger.info(
        "%d of %d jobs selected: %d already finished, %d to run with the %s executor",
        len(selected),
        len(jobs),
        len(done),
        len(pending),
        executor,
    )
    write_json_atomic(out_dir / "study.json", _study_record(study))
    run_jobs(pending, executor, workers=workers, scheduler=scheduler)
    rows = [row for job in jobs if (row := current_row(job))]
    write_tables(out_dir, rows, study.snr_threshold)
    return out_dir


def select_jobs(
    study: Study, jobs: list[Job], sorters: list[str] | None, recordings: list[str] | None
) -> list[Job]:
    """The jobs of the named sorter labels and of recordings matching the name patterns."""
    labels = [sorter.label for sorter in study.sorters]
    unknown = sorted(set(sorters or []) - set(labels))
    if unknown:
        raise InputError(
            f"{study.path}: no sorter labelled {', '.join(unknown)} (the study has "
            f"{', '.join(labels)})"
        )
    names = [spec.name for spec in study.recordings]
    for pattern in recordings or []:
        if not fnmatch.filter(names, pattern):
            raise InputError(f"{study.path}: no recording matches {pattern!r}")
    return [
        job
        for job in jobs
        if (sorters is None or job.sorter.label in sorters)
        and (recordings is None or any(fnmatch.fnmatch(job.recording.name, p) for p in recordings))
    ]


def current_row(job: Job) -> dict[str, Any] | None:
    """The job's stored row if it was made with the job's current config hash."""
    row = read_row(Path(job.job_dir))
    return row if row and row.get("config_hash") == job.config_hash else None


def _study_record(study: Study) -> dict[str, Any]:
    return {
        "name": study.name,
        "study_file": str(study.path),
        "snr_threshold": study.snr_threshold,
        "match_window_samples": study.match_window_samples,
        "recordings": [spec.name for spec in study.recordings],
        "sorters": [spec.label for spec in study.sorters],
    }


def collect_rows(out_dir: str | os.PathLike) -> list[dict[str, Any]]:
    """Every stored job row of a results folder, in the study's order when known."""
    out_dir = Path(out_dir)
    rows = [
        row
        for job_dir in sorted((out_dir / "jobs").glob("*"))
        if (row := read_row(job_dir)) is not None
    ]
    study = _read_json(out_dir / "study.json") or {}
    order = {name: i for i, name in enumerate(study.get("recordings", []))}
    sorter_order = {name: i for i, name in enumerate(study.get("sorters", []))}
    return sorted(
        rows,
        key=lambda r: (
            order.get(r["recording"], len(order)),
            r["recording"],
            sorter_order.get(r["sorter"], len(sorter_order)),
        ),
    )


# ---------------------------------------------------------------- tables

SUMMARY_COLUMNS = (
    "recording",
    "sorter",
    "status",
    "error",
    "n_channels",
    "duration_s",
    "n_gt_units",
    "n_sorted_units",
    "mean_accuracy",
    "mean_precision",
    "mean_recall",
    "n_units_accuracy_ge_0_8",
    "n_units_snr_ge_threshold",
    "mean_accuracy_snr_ge_threshold",
    "sort_wall_s",
    "sort_cpu_s",
    "job_wall_s",
    "cpu_s",
    "peak_memory_mib",
    "realtime_factor",
    "config_hash",
)


def unit_rows(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """One tidy row per (recording, sorter, ground-truth unit)."""
    return [
        {"recording": row["recording"], "sorter": row["sorter"], **unit}
        for row in rows
        for unit in row.get("units") or []
    ]


def summary_rows(rows: Iterable[dict[str, Any]], snr_threshold: float) -> list[dict[str, Any]]:
    """One row per (recording, sorter)."""
    return [_summary_row(row, snr_threshold) for row in rows]


def _summary_row(row: dict[str, Any], snr_threshold: float) -> dict[str, Any]:
    units = row.get("units") or []
    above = [u for u in units if _snr(u) >= snr_threshold]
    has_truth = bool(units)
    summary = {key: row.get(key, math.nan) for key in SUMMARY_COLUMNS}
    summary.update(
        error=row.get("error") or "",
        n_gt_units=len(units) if has_truth else math.nan,
        mean_accuracy=_mean(u["accuracy"] for u in units),
        mean_precision=_mean(u["precision"] for u in units),
        mean_recall=_mean(u["recall"] for u in units),
        n_units_accuracy_ge_0_8=(
            sum(u["accuracy"] >= ACCURACY_WELL_SORTED for u in units) if has_truth else math.nan
        ),
        n_units_snr_ge_threshold=len(above) if has_truth else math.nan,
        mean_accuracy_snr_ge_threshold=_mean(u["accuracy"] for u in above),
    )
    return summary


def sorter_rows(rows: list[dict[str, Any]], snr_threshold: float) -> list[dict[str, Any]]:
    """SpikeForest-style summary per sorter, over every job of that sorter."""
    sorters = list(dict.fromkeys(row["sorter"] for row in rows))
    return [
        _sorter_row(name, [r for r in rows if r["sorter"] == name], snr_threshold)
        for name in sorters
    ]


def _sorter_row(name: str, rows: list[dict[str, Any]], snr_threshold: float) -> dict[str, Any]:
    ok = [row for row in rows if row.get("status") == "ok"]
    units = [unit for row in ok for unit in row.get("units") or []]
    above = [unit for unit in units if _snr(unit) >= snr_threshold]
    per_recording = [_mean(u["accuracy"] for u in row["units"]) for row in ok if row.get("units")]
    return {
        "sorter": name,
        "n_jobs": len(rows),
        "n_ok": len(ok),
        "n_failed": sum(row.get("status") == "failed" for row in rows),
        "n_skipped": sum(row.get("status") == "skipped" for row in rows),
        "n_gt_units": len(units),
        "n_units_snr_ge_threshold": len(above),
        "mean_accuracy_snr_ge_threshold": _mean(u["accuracy"] for u in above),
        "mean_precision_snr_ge_threshold": _mean(u["precision"] for u in above),
        "mean_recall_snr_ge_threshold": _mean(u["recall"] for u in above),
        "mean_accuracy_all_units": _mean(u["accuracy"] for u in units),
        "mean_recording_accuracy": _mean(per_recording),
        "n_units_accuracy_ge_0_8": sum(u["accuracy"] >= ACCURACY_WELL_SORTED for u in units),
        "median_sort_wall_s": _median(row.get("sort_wall_s") for row in ok),
        "median_realtime_factor": _median(row.get("realtime_factor") for row in ok),
        "median_peak_memory_mib": _median(row.get("peak_memory_mib") for row in ok),
        "total_cpu_s": float(np.nansum([_float(row.get("cpu_s")) for row in rows])),
        "snr_threshold": snr_threshold,
    }


def accuracy_vs_snr_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean accuracy per sorter in SNR bins (the curve behind the report's plot)."""
    units = unit_rows(row for row in rows if row.get("status") == "ok")
    edges = SNR_BIN_EDGES
    table = []
    for sorter in dict.fromkeys(unit["sorter"] for unit in units):
        mine = [unit for unit in units if unit["sorter"] == sorter]
        for low, high in zip(edges[:-1], edges[1:], strict=True):
            inside = [u for u in mine if low <= _snr(u) < high]
            if inside:
                table.append(
                    {
                        "sorter": sorter,
                        "snr_low": low,
                        "snr_high": high,
                        "n_units": len(inside),
                        "mean_snr": _mean(_snr(u) for u in inside),
                        "mean_accuracy": _mean(u["accuracy"] for u in inside),
                    }
                )
    return table


def _snr(unit: dict[str, Any]) -> float:
    value = unit.get("snr")
    return math.nan if value is None else float(value)


def _float(value: Any) -> float:
    return math.nan if value is None else float(value)


def _mean(values: Iterable[Any]) -> float:
    array = np.array([_float(v) for v in values], dtype=float)
    return float(np.nanmean(array)) if np.isfinite(array).any() else math.nan


def _median(values: Iterable[Any]) -> float:
    array = np.array([_float(v) for v in values], dtype=float)
    return float(np.nanmedian(array)) if np.isfinite(array).any() else math.nan


TABLES = ("units", "summary", "sorters", "accuracy_vs_snr")
CURVE_COLUMNS = ("sorter", "snr_low", "snr_high", "n_units", "mean_snr", "mean_accuracy")


def write_tables(out_dir: Path, rows: list[dict[str, Any]], snr_threshold: float) -> None:
    """Write each table as CSV and Parquet (pandas + pyarrow: the `dask` extra)."""
    import pandas as pd

    frames = {
        "units": pd.DataFrame(unit_rows(rows), columns=_unit_columns()),
        "summary": pd.DataFrame(summary_rows(rows, snr_threshold), columns=SUMMARY_COLUMNS),
        "sorters": pd.DataFrame(sorter_rows(rows, snr_threshold)),
        "accuracy_vs_snr": pd.DataFrame(accuracy_vs_snr_rows(rows), columns=CURVE_COLUMNS),
    }
    for name, frame in frames.items():
        _write_atomic(out_dir / f"{name}.csv", lambda path, f=frame: f.to_csv(path, index=False))
        _write_atomic(
            out_dir / f"{name}.parquet", lambda path, f=frame: f.to_parquet(path, index=False)
        )


def _unit_columns() -> list[str]:
    from neurosort.evaluate import UNIT_COLUMNS

    return ["recording", "sorter", *UNIT_COLUMNS]


def _write_atomic(path: Path, write: Callable[[Path], Any]) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    write(temporary)
    os.replace(temporary, path)


def read_table(out_dir: str | os.PathLike, name: str):
    import pandas as pd

    path = Path(out_dir) / f"{name}.csv"
    if not path.is_file():
        raise InputError(f"{out_dir}: no {name}.csv (not a finished `neurosort bench` folder)")
    return pd.read_csv(path, keep_default_na=False, na_values=[""])


def format_sorter_table(out_dir: str | os.PathLike) -> str:
    """The per-sorter summary as a Markdown table."""
    frame = read_table(out_dir, "sorters")
    columns = [
        "sorter",
        "n_ok",
        "n_failed",
        "n_skipped",
        "n_gt_units",
        "mean_recording_accuracy",
        "mean_accuracy_snr_ge_threshold",
        "n_units_snr_ge_threshold",
        "n_units_accuracy_ge_0_8",
        "mean_precision_snr_ge_threshold",
        "mean_recall_snr_ge_threshold",
        "median_sort_wall_s",
        "median_realtime_factor",
        "median_peak_memory_mib",
    ]
    return markdown_table(frame[columns])


def format_summary_table(out_dir: str | os.PathLike) -> str:
    """Per (recording, sorter) rows as a Markdown table."""
    frame = read_table(out_dir, "summary")
    columns = [
        "recording",
        "sorter",
        "status",
        "mean_accuracy",
        "mean_precision",
        "mean_recall",
        "n_sorted_units",
        "n_gt_units",
        "sort_wall_s",
        "realtime_factor",
        "peak_memory_mib",
    ]
    return markdown_table(frame[columns])


def format_pivot_table(out_dir: str | os.PathLike, column: str) -> str:
    """One row per recording, one column per sorter, holding ``column`` of the summary."""
    frame = read_table(out_dir, "summary")
    pivot = frame.pivot(index="recording", columns="sorter", values=column)
    pivot = pivot.loc[list(dict.fromkeys(frame["recording"])), list(dict.fromkeys(frame["sorter"]))]
    return markdown_table(pivot.reset_index())


def markdown_table(frame) -> str:
    header = "| " + " | ".join(frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = [
        "| " + " | ".join(_cell(value) for value in row) + " |"
        for row in frame.itertuples(index=False)
    ]
    return "\n".join([header, rule, *body])


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return ""
        if value.is_integer() and abs(value) >= 1:
            return str(int(value))
        return f"{value:.3f}" if abs(value) < 100 else f"{value:.0f}"
    return str(value).replace("|", "/")
