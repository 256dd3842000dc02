"""Checks of the commands' options and settings, output paths and text files: each failure is
one line that names the option or file, what is wrong and what is allowed."""

from __future__ import annotations

import argparse
import math
import numbers
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neurosort.errors import InputError
from neurosort.log import get_logger

logger = get_logger(__name__)


def _show(number: float) -> str:
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


@dataclass(frozen=True)
class Interval:
    """Finite numbers from ``low`` to ``high``; ``open_low`` / ``open_high`` leave that end out."""

    low: float = -math.inf
    high: float = math.inf
    open_low: bool = False
    open_high: bool = False

    def __contains__(self, value: float) -> bool:
        above = value > self.low if self.open_low else value >= self.low
        below = value < self.high if self.open_high else value <= self.high
        return math.isfinite(value) and above and below

    def __str__(self) -> str:
        if self.high == math.inf:
            return f"{'>' if self.open_low else '>='} {_show(self.low)}"
        return (f"in {'(' if self.open_low else '['}{_show(self.low)}, {_show(self.high)}"
                f"{')' if self.open_high else ']'}")


AT_LEAST_0 = Interval(0)
AT_LEAST_1 = Interval(1)
AT_LEAST_2 = Interval(2)
POSITIVE = Interval(0, open_low=True)
PROBABILITY = Interval(0, 1)
FRACTION = Interval(0, 1, open_low=True, open_high=True)
SEED = Interval(0, 2**31 - 1)  # under numpy's 2**32 seed limit, with room for per-fold offsets


def number(kind: type, interval: Interval) -> Callable[[str], Any]:
    """An argparse type: a finite ``kind`` inside ``interval`` (else a usage error, exit 2)."""
    noun = _noun(kind, interval)

    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if value is None or value not in interval:
            raise argparse.ArgumentTypeError(f"must be {noun} {interval}, got {text}")
        return value

    parse.__name__ = kind.__name__
    return parse


def check_settings(
    settings: Any, rules: dict[str, tuple[type, Interval]], options: dict[str, str]
) -> None:
    """InputError for the first field of ``settings`` (or item of a tuple field) that is not a
    ``kind`` inside its interval, named by its command-line option in ``options`` if it has one."""
    for name, (kind, interval) in rules.items():
        value = getattr(settings, name)
        items = value if isinstance(value, tuple | list) else [value]
        if not all(_is(kind, item) and item in interval for item in items):
            raise InputError(
                f"{options.get(name, name)} must be {_noun(kind, interval)} {interval}, "
                f"got {value!r}"
            )


def _noun(kind: type, interval: Interval) -> str:
    if kind is int:
        return "an integer"
    bounded = math.isfinite(interval.low) and math.isfinite(interval.high)
    return "a number" if bounded else "a finite number"


def _is(kind: type, value: Any) -> bool:
    abstract = numbers.Integral if kind is int else numbers.Real
    return isinstance(value, abstract) and not isinstance(value, bool)


def usable_threads(requested: int) -> int:
    """``requested`` torch threads, at most this process's CPUs (torch aborts on thousands)."""
    available = cpu_count()
    if requested > available:
        logger.warning("--threads %d: only %d CPUs here, using %d", requested, available, available)
        return available
    return requested


def cpu_count() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def check_option(option: str, value: float, interval: Interval, why: str = "") -> None:
    """InputError unless ``value`` lies in ``interval``; for bounds that depend on the data."""
    if value not in interval:
        raise InputError(f"{option} must be {interval}{why}, got {_show(value)}")


def check_output_file(path: Path, option: str) -> None:
    """InputError unless a file can be written at ``path`` (its folders are made as needed)."""
    if path.is_dir():
        raise InputError(f"{option} {path}: is a folder; name a file to write")
    _check_creatable(path, path.parent, option)


def check_output_folder(path: Path, option: str) -> None:
    """InputError unless ``path`` is a folder, or one can be made there."""
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {path}: exists and is not a folder; name a folder to write")
    _check_creatable(path, path, option)


def _check_creatable(path: Path, folder: Path, option: str) -> None:
    """``folder`` exists, or its nearest existing parent is a folder we may write in."""
    existing = next(p for p in (folder, *folder.parents) if p.exists() or p == Path(p.anchor))
    if not existing.is_dir():
        raise InputError(f"{option} {path}: {existing} is not a folder")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{option} {path}: no permission to write in {existing}")


def read_text(path: Path, what: str) -> str:
    """The UTF-8 text of ``path``, a leading byte-order mark dropped."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        byte = error.object[error.start]
        raise InputError(f"{path}: {what} is not UTF-8 text (byte 0x{byte:02x} at offset "
                         f"{error.start}); save it as UTF-8") from error
    except OSError as error:
        raise InputError(f"{path}: cannot read the {what} ({error.strerror})") from error
