"""neurosort: spike sorting and neural-state classification with deep learning."""

from neurosort.config import SortConfig
from neurosort.types import GroundTruth, Recording, SortResult

__version__ = "0.1.0"

__all__ = [
    "GroundTruth",
    "Recording",
    "SortConfig",
    "SortResult",
    "__version__",
    "evaluate",
    "load_ground_truth",
    "load_recording",
    "sort",
]


def __getattr__(name: str):
    # The heavy stages are imported on first use so that ``import neurosort`` stays fast.
    if name in {"load_recording", "load_ground_truth"}:
        from neurosort import io

        return getattr(io, name)
    if name == "sort":
        from neurosort.pipeline import sort

        return sort
    if name == "evaluate":
        from neurosort.evaluate import evaluate

        return evaluate
    raise AttributeError(f"module 'neurosort' has no attribute {name!r}")
