"""Stimulation policy: state -> stimulation parameters, from a validated JSON or TOML file."""

from __future__ import annotations

import json
import tomllib
from dataclasses import asdict, dataclass
from pathlib import Path

from neurosort.checks import read_text
from neurosort.errors import InputError

PARAMETER_RANGES = {
    "frequency_hz": (0.0, 1000.0),
    "amplitude_ma": (0.0, 25.0),
    "pulse_width_us": (0.0, 1000.0),
    "duration_min": (0.0, 1440.0),
}
TOP_LEVEL_KEYS = ("confidence_threshold", "states")
UNKNOWN_STATE = "unknown"


@dataclass(frozen=True)
class Stimulation:
    frequency_hz: float
    amplitude_ma: float
    pulse_width_us: float
    duration_min: float

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class Policy:
    confidence_threshold: float
    states: dict[str, Stimulation]

    def recommend(self, state: str, confidence: float) -> Stimulation | None:
        """Parameters for ``state``; None when unsure or the state is not in the policy."""
        if confidence < self.confidence_threshold:
            return None
        return self.states.get(state)


def _read(path: Path) -> dict:
    if not path.is_file():
        raise InputError(f"{path}: policy file not found")
    text = read_text(path, "policy file")
    try:
        if path.suffix.lower() == ".toml":
            return tomllib.loads(text)
        data = json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as error:
        kind = path.suffix.lstrip(".").upper() or "JSON"
        raise InputError(f"{path}: not valid {kind} ({error})") from error
    if not isinstance(data, dict):
        raise InputError(f"{path}: expected an object with {list(TOP_LEVEL_KEYS)}")
    return data


def _number(value, where: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"{where} must be a number, not {value!r}")
    if not low <= value <= high:
        raise InputError(f"{where} = {value} is outside [{low:g}, {high:g}]")
    return float(value)


def _stimulation(entry, where: str) -> Stimulation:
    if not isinstance(entry, dict):
        raise InputError(f"{where} must be a table of {list(PARAMETER_RANGES)}")
    unknown = sorted(set(entry) - set(PARAMETER_RANGES))
    missing = [k for k in PARAMETER_RANGES if k not in entry]
    if unknown or missing:
        raise InputError(
            f"{where}: unknown keys {unknown}, missing keys {missing} "
            f"(each state needs {', '.join(PARAMETER_RANGES)})"
        )
    return Stimulation(**{
        key: _number(entry[key], f"{where}.{key}", *PARAMETER_RANGES[key])
        for key in PARAMETER_RANGES
    })


def load_policy(path: str | Path, class_names: tuple[str, ...] | list[str]) -> Policy:
    """Read and validate: known keys, units and ranges, and exactly the model's states."""
    path = Path(path)
    data = _read(path)
    unknown = sorted(set(data) - set(TOP_LEVEL_KEYS))
    if unknown:
        raise InputError(f"{path}: unknown keys {unknown} (allowed: {list(TOP_LEVEL_KEYS)})")
    threshold = _number(data.get("confidence_threshold", 0.5), f"{path}: confidence_threshold",
                        0.0, 1.0)
    states = data.get("states")
    if not isinstance(states, dict) or not states:
        raise InputError(f"{path}: 'states' must map each state to its stimulation parameters")
    missing = [c for c in class_names if c not in states]
    extra = sorted(set(states) - set(class_names))
    if missing or extra:
        raise InputError(
            f"{path}: states must be exactly the model's classes {list(class_names)} "
            f"(missing {missing}, not a class {extra})"
        )
    return Policy(threshold, {
        name: _stimulation(states[name], f"{path}: states.{name}") for name in class_names
    })
