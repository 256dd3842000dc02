"""Logging helpers, stage timers and progress bars."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")
_END = object()

_progress_enabled = sys.stderr.isatty()


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name if name.startswith("neurosort") else f"neurosort.{name}")


def configure(verbose: bool = False, progress: bool = True) -> None:
    """Set up console logging for the CLI; progress bars only when asked for and on a TTY."""
    global _progress_enabled
    _progress_enabled = progress and sys.stderr.isatty()
    logger = logging.getLogger("neurosort")
    logger.setLevel(logging.DEBUG if verbose else logging.INFO)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        logger.addHandler(handler)


def set_progress(enabled: bool) -> None:
    global _progress_enabled
    _progress_enabled = enabled


def progress(items: Iterable[T], total: int | None = None, desc: str = "") -> Iterator[T]:
    """Iterate with a tqdm bar when progress bars are enabled."""
    if not _progress_enabled:
        yield from items
        return
    from tqdm.auto import tqdm

    yield from tqdm(items, total=total, desc=desc, leave=False, file=sys.stderr)


class StageTimer:
    """Records wall time per named stage: ``with timer.step("detect"): ...``."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._logger = get_logger("neurosort.timing")

    @contextmanager
    def step(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            elapsed = time.perf_counter() - start
            self.seconds[name] = self.seconds.get(name, 0.0) + elapsed
            self._logger.debug("%s took %.3f s", name, elapsed)

    def each(self, name: str, items: Iterable[T]) -> Iterator[T]:
        """Yield from ``items``, counting the time spent producing each one as stage ``name``."""
        iterator = iter(items)
        while True:
            with self.step(name):
                item = next(iterator, _END)
            if item is _END:
                return
            yield item
