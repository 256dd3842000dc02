"""Typed configuration: one frozen dataclass per stage, nested in SortConfig, with TOML I/O."""

from __future__ import annotations

import dataclasses
import math
import tomllib
from dataclasses import dataclass, field, fields, is_dataclass, replace
from pathlib import Path
from typing import Any, get_type_hints

from neurosort.checks import read_text
from neurosort.errors import NeurosortError

MIN_CHUNK_DURATION_S = 0.1
MAX_DEAD_TIME_MS = 1000.0
DEVICE_KINDS = ("auto", "cpu", "cuda", "mps")


class ConfigError(NeurosortError, ValueError):
    """A configuration value or key is invalid."""


@dataclass(frozen=True)
class PreprocessConfig:
    bandpass_low_hz: float = 300.0
    bandpass_high_hz: float = 6000.0
    filter_order: int = 3
    notch_hz: float = 0.0  # 0 disables the notch filter
    notch_quality: float = 30.0
    common_reference: str = "auto"  # none | median | auto (median when >= 8 channels)
    whiten: str = "none"  # none | global (ZCA whitening of all channels)
    chunk_duration_s: float = 10.0


@dataclass(frozen=True)
class DetectConfig:
    method: str = "threshold"  # threshold | cnn
    threshold_mad: float = 4.5
    polarity: str = "both"  # negative | positive | both
    dead_time_ms: float = 0.6
    exclusion_radius_um: float = 60.0
    cnn_probability: float = 0.25  # best F2 on the shipped detector's validation windows


@dataclass(frozen=True)
class WaveformConfig:
    before_ms: float = 0.6
    after_ms: float = 1.0
    neighbourhood_radius_um: float = 60.0
    normalize_amplitude: bool = False


@dataclass(frozen=True)
class FeaturesConfig:
    # s4 | contrastive_cnn | ae_ensemble | ae_semisup | ae_atom | pca | wavelet
    # | auto (the fast classic choice: wavelet on one channel, else pca)
    method: str = "s4"
    n_components: int = 10
    wavelet_levels: int = 4
    # learned encoders: self (fit on the recording) | pretrained (shipped) | finetune
    training: str = "pretrained"
    training_steps: int = 0  # optimiser steps of a learned encoder's fit; 0 = its default
    weights: str = ""  # encoder weights file; empty = the ones shipped in the package
    device: str = "auto"  # auto | cpu | cuda | mps


@dataclass(frozen=True)
class ClusterConfig:
    method: str = "gmm_bic"  # hdbscan | gmm_bic | isosplit
    n_units: int = 0  # 0 = choose automatically; > 0 fixes the number of units (gmm)
    max_units: int = 25
    min_cluster_size: int = 15
    max_spikes_to_fit: int = 10000
    merge_max_difference_sigma: float = 1.5  # 0 disables merging
    # On probes, units of the same or neighbouring peak channels are merged by that rule, or
    # when they differ by at most a fifth of their peak (one neuron whose spikes peak on
    # either channel, or whose colliding spikes formed a unit of their own).
    merge_across_channels: bool = True
    # On probes, an unassigned spike joins the unit whose template, alone or with one
    # overlapping template, fits it at least as well as this quantile of the unit's own spikes
    # on the same peak channel are fitted the same way; 0 disables.
    rescue_unassigned_quantile: float = 0.99
    refractory_period_ms: float = (
        1.5  # units coinciding within it as independent ones do stay apart
    )
    assign_noise: bool = True
    # Spikes refitted with the unit templates, allowing one overlapping spike: one moves when
    # its best fit beats its unit's template by this many noise variances per value; 0 disables.
    reassign_min_gain_sigma2: float = 2.0
    # Rounds of linear-discriminant refinement: assigned spikes relabelled by an LDA of their
    # whitened snippets fitted on the current units, until no label changes; 0 disables.
    refine_rounds: int = 10
    # A unit is cut in two when the cut leaves at most this fraction of its refractory
    # violations inside its halves (two merged neurons); 0 disables.
    split_max_violation_ratio: float = 0.35
    # Spikes of a unit at one fixed lag from a louder unit's (a later phase of its spikes, or
    # the same spike on another channel group) are removed as echoes when they make up at
    # least this fraction of the unit; 0 disables.
    echo_min_fraction: float = 0.2
    # Two units whose rates take turns (a drifting neuron cut where it was large and where it
    # was small) are merged when their templates differ nowhere by more than this; 0 disables.
    drift_merge_max_difference_sigma: float = 4.0


@dataclass(frozen=True)
class SortConfig:
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    detect: DetectConfig = field(default_factory=DetectConfig)
    waveforms: WaveformConfig = field(default_factory=WaveformConfig)
    features: FeaturesConfig = field(default_factory=FeaturesConfig)
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    seed: int = 0


def from_dict(cls: type, data: dict[str, Any], where: str = "") -> Any:
    """Build dataclass ``cls`` from a nested dict, rejecting unknown keys by name."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a table, got {type(data).__name__}")
    types = get_type_hints(cls)
    unknown = sorted(set(data) - set(types))
    if unknown:
        prefix = f"{where}." if where else ""
        raise ConfigError(
            f"unknown config key {prefix}{unknown[0]}; allowed keys"
            f"{' in [' + where + ']' if where else ''}: {', '.join(sorted(types))}"
        )
    values = {}
    for name, value in data.items():
        kind = types[name]
        path = f"{where}.{name}" if where else name
        if is_dataclass(kind):
            values[name] = from_dict(kind, value, path)
        else:
            values[name] = _coerce(value, kind, path)
    return cls(**values)


def _coerce(value: Any, kind: Any, path: str) -> Any:
    if kind is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false"}:
            return value.lower() == "true"
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
    elif kind is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value)
            except ValueError:
                pass
    elif kind is str:
        return str(value)
    raise ConfigError(f"config key {path}: expected {kind.__name__}, got {value!r}")


def to_dict(config: Any) -> dict[str, Any]:
    return dataclasses.asdict(config)


def to_toml(config: Any) -> str:
    """Serialise a (nested) config dataclass to TOML text."""
    lines: list[str] = []
    tables: list[tuple[str, Any]] = []
    for item in fields(config):
        value = getattr(config, item.name)
        if is_dataclass(value):
            tables.append((item.name, value))
        else:
            lines.append(f"{item.name} = {_toml_value(value)}")
    for name, table in tables:
        lines.append(f"\n[{name}]")
        lines.extend(f"{f.name} = {_toml_value(getattr(table, f.name))}" for f in fields(table))
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, float):
        return repr(value)
    return str(value)


def load_config(path: str | Path) -> SortConfig:
    """Read a SortConfig from a TOML file (missing keys keep their defaults)."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{path}: config file not found")
    try:
        data = tomllib.loads(read_text(path, "config file"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: not valid TOML ({error})") from error
    try:
        return from_dict(SortConfig, data)
    except ConfigError as error:
        raise ConfigError(f"{path}: {error}") from error


def with_overrides(config: SortConfig, assignments: list[str]) -> SortConfig:
    """Apply ``section.key=value`` strings (the CLI's ``--set``)."""
    data = to_dict(config)
    for assignment in assignments:
        key, sep, raw = assignment.partition("=")
        if not sep:
            raise ConfigError(f"--set {assignment!r}: expected section.key=value")
        *parents, leaf = key.strip().split(".")
        table = data
        for parent in parents:
            if parent not in table or not isinstance(table[parent], dict):
                allowed = ", ".join(k for k, v in table.items() if isinstance(v, dict))
                raise ConfigError(f"unknown config section {parent!r}; allowed sections: {allowed}")
            table = table[parent]
        if leaf not in table:
            raise ConfigError(
                f"unknown config key {key.strip()}; allowed keys: {', '.join(sorted(table))}"
            )
        table[leaf] = raw.strip().strip('"')
    return from_dict(SortConfig, data)


def validate(config: SortConfig) -> SortConfig:
    """Check value ranges that types alone cannot express."""
    choices = {
        "preprocess.common_reference": (
            config.preprocess.common_reference,
            {"none", "median", "auto"},
        ),
        "preprocess.whiten": (config.preprocess.whiten, {"none", "global"}),
        "detect.polarity": (config.detect.polarity, {"negative", "positive", "both"}),
        "features.training": (config.features.training, {"self", "pretrained", "finetune"}),
    }
    for key, (value, allowed) in choices.items():
        if value not in allowed:
            raise ConfigError(
                f"config key {key}: {value!r} not one of {', '.join(sorted(allowed))}"
            )
    _check_finite(config)
    pre = config.preprocess
    if not 0 <= pre.bandpass_low_hz < pre.bandpass_high_hz:
        raise ConfigError("preprocess: need 0 <= bandpass_low_hz < bandpass_high_hz")
    positive = {
        "detect.threshold_mad": config.detect.threshold_mad,
        "waveforms.before_ms": config.waveforms.before_ms,
        "waveforms.after_ms": config.waveforms.after_ms,
        "features.n_components": config.features.n_components,
        "cluster.min_cluster_size": config.cluster.min_cluster_size,
        "preprocess.chunk_duration_s": pre.chunk_duration_s,
    }
    for key, value in positive.items():
        if value <= 0:
            raise ConfigError(f"config key {key}: must be > 0, got {value}")
    not_negative = {
        "features.training_steps": config.features.training_steps,
        "detect.dead_time_ms": config.detect.dead_time_ms,
        "detect.exclusion_radius_um": config.detect.exclusion_radius_um,
        "waveforms.neighbourhood_radius_um": config.waveforms.neighbourhood_radius_um,
        "cluster.n_units": config.cluster.n_units,
        "cluster.refine_rounds": config.cluster.refine_rounds,
        "cluster.merge_max_difference_sigma": config.cluster.merge_max_difference_sigma,
        "cluster.drift_merge_max_difference_sigma":
            config.cluster.drift_merge_max_difference_sigma,
        "cluster.refractory_period_ms": config.cluster.refractory_period_ms,
        "preprocess.notch_hz": pre.notch_hz,
        "seed": config.seed,
    }
    for key, value in not_negative.items():
        if value < 0:
            raise ConfigError(f"config key {key}: must be >= 0, got {value}")
    if not 0 <= config.detect.cnn_probability <= 1:
        raise ConfigError("config key detect.cnn_probability: must lie in [0, 1], got "
                          f"{config.detect.cnn_probability}")
    if not 0 <= config.cluster.split_max_violation_ratio < 1:  # 1 would accept every cut
        raise ConfigError("config key cluster.split_max_violation_ratio: must lie in [0, 1), "
                          f"got {config.cluster.split_max_violation_ratio}")
    if not 0 <= config.cluster.rescue_unassigned_quantile <= 1:
        raise ConfigError("config key cluster.rescue_unassigned_quantile: must lie in [0, 1], "
                          f"got {config.cluster.rescue_unassigned_quantile}")
    if not 0 <= config.cluster.echo_min_fraction <= 1:
        raise ConfigError("config key cluster.echo_min_fraction: must lie in [0, 1], got "
                          f"{config.cluster.echo_min_fraction}")
    if pre.filter_order < 1 or pre.notch_quality <= 0:
        raise ConfigError("preprocess: filter_order must be >= 1 and notch_quality > 0")
    _check_limits(config)
    return config


def _check_limits(config: SortConfig) -> None:
    """Values that pass the sign checks but cannot give a meaningful (or feasible) run."""
    if config.preprocess.chunk_duration_s < MIN_CHUNK_DURATION_S:
        raise ConfigError(f"config key preprocess.chunk_duration_s: must be >= "
                          f"{MIN_CHUNK_DURATION_S} s, got {config.preprocess.chunk_duration_s}")
    if config.detect.dead_time_ms > MAX_DEAD_TIME_MS:
        raise ConfigError(f"config key detect.dead_time_ms: must be <= {MAX_DEAD_TIME_MS} ms, "
                          f"got {config.detect.dead_time_ms}")
    cluster = config.cluster
    if cluster.max_spikes_to_fit < cluster.min_cluster_size or cluster.max_units < 1:
        raise ConfigError("cluster: max_units must be >= 1 and max_spikes_to_fit >= "
                          f"min_cluster_size ({cluster.min_cluster_size}), got "
                          f"{cluster.max_units} and {cluster.max_spikes_to_fit}")
    device_kind = config.features.device.partition(":")[0]
    if device_kind not in DEVICE_KINDS:
        raise ConfigError(f"config key features.device: {config.features.device!r} not one of "
                          f"{', '.join(DEVICE_KINDS)} (cuda:N names one GPU)")


def _check_finite(config: SortConfig) -> None:
    """Every number in the configuration is finite (NaN passes every comparison check)."""
    for section in fields(config):
        values = getattr(config, section.name)
        items = (
            [(f"{section.name}.{f.name}", getattr(values, f.name)) for f in fields(values)]
            if is_dataclass(values) else [(section.name, values)]
        )
        for key, value in items:
            if isinstance(value, float) and not math.isfinite(value):
                raise ConfigError(f"config key {key}: must be a finite number, got {value}")


__all__ = [
    "ClusterConfig",
    "ConfigError",
    "DetectConfig",
    "FeaturesConfig",
    "PreprocessConfig",
    "SortConfig",
    "WaveformConfig",
    "from_dict",
    "load_config",
    "replace",
    "to_toml",
    "validate",
    "with_overrides",
]
