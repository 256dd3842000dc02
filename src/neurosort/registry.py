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

# Modules whose import registers each kind's methods; loaded lazily on the first lookup of
# that kind, so that heavy optional dependencies (torch, scikit-learn) are imported only when a
# method that needs them is used.
_PROVIDERS = {
    "detect": ("neurosort.detect", "neurosort.detect_cnn"),
    "features": (
        "neurosort.features",
        "neurosort.encoders.autoencoder",
        "neurosort.encoders.contrastive",
    ),
    "cluster": ("neurosort.cluster",),
}
_loaded: set[str] = set()


def register(kind: str, name: str) -> Callable[[Any], Any]:
    """Decorator: ``@register("cluster", "hdbscan")`` makes an object findable by name."""

    def decorator(obj: Any) -> Any:
        table = _METHODS.setdefault(kind, {})
        if name in table and table[name] is not obj:
            raise ValueError(f"{kind} method {name!r} is already registered")
        table[name] = obj
        return obj

    return decorator


def _load_providers(kind: str) -> None:
    if kind in _loaded:
        return
    _loaded.add(kind)
    for module in _PROVIDERS.get(kind, ()):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as error:
            if error.name != module:
                raise


def get(kind: str, name: str) -> Any:
    """The method registered as ``kind``/``name``; a KeyError names the choices."""
    _load_providers(kind)
    table = _METHODS.get(kind, {})
    if name not in table:
        choices = ", ".join(sorted(table)) or "none"
        raise UnknownMethodError(f"unknown {kind} method {name!r}; available: {choices}")
    return table[name]


def available(kind: str) -> list[str]:
    """Names registered for ``kind``, sorted."""
    _load_providers(kind)
    return sorted(_METHODS.get(kind, {}))
