"""Reading recordings and ground truth; chunk iteration with margins."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


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
