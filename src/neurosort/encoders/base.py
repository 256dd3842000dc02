"""Plumbing shared by the learned feature methods (torch imported by callers' fit only)."""

from __future__ import annotations

import contextlib

import numpy as np
import torch
from threadpoolctl import threadpool_limits

EMBED_BATCH = 2048  # activations stay in cache: faster than larger batches on CPU


@contextlib.contextmanager
def one_thread():
    """Torch and BLAS on one thread. The networks are small: on a busy 2-core machine a
    second thread made training steps and mixture fits 10-30 times slower."""
    previous = torch.get_num_threads()
    with threadpool_limits(limits=1):
        torch.set_num_threads(1)
        try:
            yield
        finally:
            torch.set_num_threads(previous)


@torch.no_grad()
def embed(module: torch.nn.Module, inputs: np.ndarray, device: torch.device) -> np.ndarray:
    """Module outputs for (n, channels, samples) ``inputs``, in eval mode, as float32."""
    module.eval()
    if len(inputs) == 0:
        return np.zeros((0, 0), np.float32)
    with one_thread():
        parts = [
            module(torch.from_numpy(batch).to(device)).cpu().numpy()
            for batch in np.array_split(inputs, -(-len(inputs) // EMBED_BATCH))
        ]
    return np.concatenate(parts).astype(np.float32)


def labels_tensor(y: np.ndarray | None, n: int) -> torch.Tensor | None:
    """Integer labels (-1 = unknown) as a tensor; None when no spike is labelled."""
    if y is None:
        return None
    y = np.asarray(y, dtype=np.int64)
    if len(y) != n:
        raise ValueError(f"got {len(y)} labels for {n} snippets")
    return torch.from_numpy(y) if (y >= 0).any() else None


def cosine_schedule(optimizer: torch.optim.Optimizer, n_steps: int, warmup: int = 20):
    """Linear warm-up then cosine decay to zero over ``n_steps``."""
    import math

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, n_steps - warmup)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
