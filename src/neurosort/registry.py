"""The one registry of named methods: detectors, feature extractors, clusterers, ..."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from neurosort.errors import NeurosortError


class UnknownMethodError(NeurosortError, KeyError):
    """No method of that name is registered."""

    def __str__(self) -> str:
        return str(self.args[0])


_METHODS: dict[str, dict[str, Any]] = {}

# Modules whose import registers methods; loaded lazily on first lookup so that heavy
# optional dependencies (torch) are imported only when a method that needs them is used.
_PROVIDERS = (
    "neurosort.detect",
    "neurosort.detect_cnn",
    "neurosort.features",
    "neurosort.encoders",
    "neurosort.cluster",
)
_loaded = False


def register(kind: str, name: str) -> Callable[[Any], Any]:
    """Decorator: ``@register("cluster", "hdbscan")`` makes an object findable by name."""

    def decorator(obj: Any) -> Any:
        table = _METHODS.setdefault(kind, {})
        if name in table and table[name] is not obj:
            raise ValueError(f"{kind} method {name!r} is already registered")
        table[name] = obj
        return obj

    return decorator


def _load_providers() -> None:
    global _loaded
    if _loaded:
        return
    _loaded = True
    for module in _PROVIDERS:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name != module:
                raise


def get(kind: str, name: str) -> Any:
    """The method registered as ``kind``/``name``; a KeyError names the choices."""
    _load_providers()
    table = _METHODS.get(kind, {})
    if name not in table:
        choices = ", ".join(sorted(table)) or "none"
        raise UnknownMethodError(f"unknown {kind} method {name!r}; available: {choices}")
    return table[name]


def available(kind: str) -> list[str]:
    """Names registered for ``kind``, sorted."""
    _load_providers()
    return sorted(_METHODS.get(kind, {}))
