"""The output folder contract: spikes.npz, templates.npy, features.npy, config.toml, run.json,
report.html."""

from __future__ import annotations

import json
import platform
import shutil
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from neurosort.config import SortConfig, load_config, to_toml
from neurosort.errors import InputError
from neurosort.io import reading
from neurosort.types import SPIKE_DTYPE, SortResult

DEPENDENCIES = ("numpy", "scipy", "scikit-learn", "spikeinterface", "torch", "isosplit6")


def dependency_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in DEPENDENCIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def peak_memory_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def write_spikes(path: Path, result: SortResult) -> None:
    spikes = result.spikes
    length = {} if result.n_samples is None else {"n_samples": np.int64(result.n_samples)}
    np.savez(
        path,
        sample_index=spikes["sample_index"].astype(np.int64),
        unit_index=spikes["unit_index"].astype(np.int32),
        amplitude=spikes["amplitude"].astype(np.float32),
        channel_index=spikes["channel_index"].astype(np.int32),
        sampling_frequency=np.float64(result.sampling_frequency_hz),
        n_channels=np.int64(result.n_channels),
        **length,
    )


def write_peaks(
    out_dir: str | Path,
    peaks: np.ndarray,
    sampling_frequency_hz: float,
    config: SortConfig,
    timings_s: dict[str, float] | None = None,
) -> None:
    """The folder of ``neurosort detect``: peaks.npz (sample_index, channel_index, amplitude),
    config.toml and run.json (versions, stage timings, peak memory)."""
    with staged_folder(out_dir) as staging:
        np.savez(
            staging / "peaks.npz",
            sample_index=peaks["sample_index"].astype(np.int64),
            channel_index=peaks["channel_index"].astype(np.int32),
            amplitude=peaks["amplitude"].astype(np.float32),
            sampling_frequency=np.float64(sampling_frequency_hz),
        )
        (staging / "config.toml").write_text(to_toml(config))
        info = run_info(config, "succeeded", timings_s or {}, n_peaks=len(peaks))
        (staging / "run.json").write_text(json.dumps(info, indent=2) + "\n")


def run_info(config: SortConfig, status: str, timings_s: dict[str, float], **extra: Any) -> dict:
    from neurosort import __version__

    return {
        "neurosort_version": __version__,
        "dependencies": dependency_versions(),
        "seed": config.seed,
        "status": status,
        "stage_timings_s": {k: round(v, 4) for k, v in timings_s.items()},
        "peak_memory_mib": round(peak_memory_mib(), 1),
        **extra,
    }


def check_replaceable(folder: str | Path, marker: str = "run.json") -> Path:
    """``folder`` if writing there replaces nothing but an earlier output of the same kind.

    A folder may be (re)written when it does not exist, is empty, or holds ``marker`` (a
    previous output). Anything else, and the working folder or one of its parents, is an
    InputError: replacing it would delete files neurosort did not write.
    """
    folder = Path(folder)
    working = Path.cwd().resolve()
    if folder.resolve() in (working, *working.parents):
        raise InputError(f"{folder}: is the working folder or one of its parents; "
                         "name a new output folder")
    if folder.exists() and not folder.is_dir():
        raise InputError(f"{folder}: exists and is not a folder")
    if folder.is_dir() and any(folder.iterdir()) and not (folder / marker).exists():
        raise InputError(f"{folder}: folder holds files neurosort did not write (no {marker}); "
                         "name a new or empty output folder")
    return folder


@contextmanager
def staged_folder(out_dir: str | Path) -> Iterator[Path]:
    """A temporary sibling folder renamed to ``out_dir`` only when the block succeeds.

    An existing ``out_dir`` (only ever an earlier neurosort output: ``check_replaceable``) is
    replaced at that moment, so a reader never sees a mix of old and new files, and a failed
    run never leaves a folder that looks complete.
    """
    out_dir = check_replaceable(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    if out_dir.exists():
        shutil.rmtree(out_dir)
    staging.rename(out_dir)


def write_failure(out_dir: str | Path, config: SortConfig, error: BaseException) -> None:
    """Record a failed run: a folder holding only run.json with the traceback."""
    out_dir = Path(out_dir)
    with staged_folder(out_dir) as staging:
        info = run_info(
            config,
            "failed",
            {},
            error=f"{type(error).__name__}: {error}",
            traceback="".join(traceback.format_exception(error)),
        )
        (staging / "run.json").write_text(json.dumps(info, indent=2) + "\n")


def read_result(out_dir: str | Path) -> SortResult:
    """Load a SortResult from a folder written by ``neurosort sort``."""
    out_dir = Path(out_dir)
    spikes_path = out_dir / "spikes.npz"
    if not spikes_path.is_file():
        raise InputError(f"{out_dir}: no spikes.npz (not a finished neurosort output folder)")
    with reading(spikes_path), np.load(spikes_path) as data:
        spikes = np.zeros(len(data["sample_index"]), dtype=SPIKE_DTYPE)
        for name in SPIKE_DTYPE.names:
            spikes[name] = data[name]
        fs = float(data["sampling_frequency"])
        n_channels = int(data["n_channels"]) if "n_channels" in data else 1
        n_samples = int(data["n_samples"]) if "n_samples" in data else None
    templates = _optional_array(out_dir / "templates.npy")
    if templates is None:
        templates = np.zeros((0, 0, n_channels))
    features = _optional_array(out_dir / "features.npy")
    return SortResult(
        spikes=spikes,
        templates=templates,
        sampling_frequency_hz=fs,
        n_channels=n_channels,
        features=features,
        n_samples=n_samples,
    )


def _optional_array(path: Path) -> np.ndarray | None:
    if not path.is_file():
        return None
    with reading(path):
        return np.load(path)


def read_config(out_dir: str | Path) -> SortConfig:
    return load_config(Path(out_dir) / "config.toml")


def write_result(staging: Path, result: SortResult, config: SortConfig, **extra: Any) -> None:
    write_spikes(staging / "spikes.npz", result)
    np.save(staging / "templates.npy", result.templates)
    if result.features is not None:
        np.save(staging / "features.npy", result.features)
    (staging / "config.toml").write_text(to_toml(config))
    info = run_info(config, "succeeded", result.timings_s, **extra)
    (staging / "run.json").write_text(json.dumps(info, indent=2) + "\n")
