"""Torch plumbing shared by the learned models: device, seeding, a training loop, checkpoints.

Torch is imported here and in modules that use it, never by ``import neurosort``.
"""

from __future__ import annotations

import copy
import io
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from neurosort.errors import InputError, NeurosortError
from neurosort.log import get_logger

logger = get_logger(__name__)

BatchTransform = Callable[[torch.Tensor, torch.Generator], torch.Tensor]


def resolve_device(name: str = "auto") -> torch.device:
    """``auto`` picks CUDA, then Apple MPS, then CPU; any other name is passed to torch and
    must be available here."""
    mps = getattr(torch.backends, "mps", None)
    available = {
        "cuda": torch.cuda.is_available(),
        "mps": mps is not None and mps.is_available(),
    }
    if name == "auto":
        return torch.device(next((kind for kind, ok in available.items() if ok), "cpu"))
    device = torch.device(name)
    if not available.get(device.type, True):
        raise NeurosortError(
            f"device {name!r} was asked for but torch sees no {device.type} device here; "
            "use 'auto' or 'cpu'"
        )
    return device


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch; return a torch generator seeded the same way."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


@dataclass(frozen=True)
class TrainConfig:
    max_epochs: int = 60
    batch_size: int = 128
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    patience_epochs: int = 10
    seed: int = 0
    device: str = "auto"


@dataclass
class TrainHistory:
    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    best_epoch: int = -1
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "train_loss": self.train_loss,
            "val_loss": self.val_loss,
            "best_epoch": self.best_epoch,
            "seconds": self.seconds,
        }


def _batches(n_items: int, batch_size: int, generator: torch.Generator | None) -> list:
    order = torch.randperm(n_items, generator=generator) if generator else torch.arange(n_items)
    return list(torch.split(order, batch_size))


def _epoch_loss(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor,
    loss_fn: nn.Module,
    batch_size: int,
    optimizer: torch.optim.Optimizer | None = None,
    generator: torch.Generator | None = None,
    transform: BatchTransform | None = None,
) -> float:
    training = optimizer is not None
    model.train(training)
    device = next(model.parameters()).device
    total, count = 0.0, 0
    with torch.set_grad_enabled(training):
        for index in _batches(len(inputs), batch_size, generator if training else None):
            batch = inputs[index]
            if transform is not None:
                batch = transform(batch, generator)
            batch, target = batch.to(device), targets[index].to(device)
            loss = loss_fn(model(batch), target)
            if training:
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
            total += loss.item() * len(index)
            count += len(index)
    return total / max(count, 1)


def train_model(
    model: nn.Module,
    train_data: tuple[torch.Tensor, torch.Tensor],
    val_data: tuple[torch.Tensor, torch.Tensor] | None,
    loss_fn: nn.Module,
    config: TrainConfig,
    train_transform: BatchTransform | None = None,
    val_transform: BatchTransform | None = None,
) -> TrainHistory:
    """AdamW with early stopping on validation loss; the best epoch's weights are restored.

    ``train_transform(batch, generator)`` runs on every training batch (augmentation, random
    crops); ``val_transform`` on validation batches, with a generator seeded identically each
    epoch so the validation loss is comparable across epochs. Without ``val_data`` every epoch
    runs, the learning rate decays on a cosine to zero and the last weights are kept.
    """
    generator = seed_everything(config.seed)
    device = resolve_device(config.device)
    model.to(device)
    loss_fn.to(device)
    optimizer = torch.optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    schedule = None
    if val_data is None:
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, config.max_epochs)
    history = TrainHistory()
    best_loss, best_state, stale_epochs = float("inf"), None, 0
    start = time.perf_counter()
    for epoch in range(config.max_epochs):
        train_loss = _epoch_loss(
            model, *train_data, loss_fn, config.batch_size, optimizer, generator, train_transform
        )
        history.train_loss.append(train_loss)
        if schedule is not None:
            schedule.step()
            history.best_epoch = epoch
            logger.debug("epoch %d train %.4f", epoch, train_loss)
            continue
        val_generator = torch.Generator().manual_seed(config.seed + 1)
        val_loss = _epoch_loss(
            model, *val_data, loss_fn, config.batch_size, None, val_generator, val_transform
        )
        history.val_loss.append(val_loss)
        logger.debug("epoch %d train %.4f val %.4f", epoch, train_loss, val_loss)
        if val_loss < best_loss:
            best_loss, best_state, stale_epochs = val_loss, copy.deepcopy(model.state_dict()), 0
            history.best_epoch = epoch
        else:
            stale_epochs += 1
            if stale_epochs >= config.patience_epochs:
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    history.seconds = time.perf_counter() - start
    if schedule is not None:
        logger.info("trained %d epochs in %.1f s (cosine schedule, last weights kept)",
                    len(history.train_loss), history.seconds)
    else:
        logger.info("trained %d epochs in %.1f s, best epoch %d (val loss %.4f)",
                    len(history.train_loss), history.seconds, history.best_epoch, best_loss)
    return history


@torch.no_grad()
def predict_batches(model: nn.Module, inputs: torch.Tensor, batch_size: int = 1024) -> torch.Tensor:
    """Model outputs for ``inputs`` in eval mode, batch by batch, on the model's device."""
    model.eval()
    device = next(model.parameters()).device
    outputs = [model(batch.to(device)).cpu() for batch in torch.split(inputs, batch_size)]
    return torch.cat(outputs) if outputs else torch.empty(0)


def save_checkpoint(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``payload`` (tensors, numbers, strings, lists, dicts, bytes) atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    temporary = path.with_name(path.name + ".partial")
    temporary.write_bytes(buffer.getvalue())
    temporary.replace(path)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint` without unpickling code."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: model file not found")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch raises many types for corrupt or foreign files
        raise InputError(f"{path}: not a readable model file ({type(error).__name__})") from error
    if not isinstance(payload, dict):
        raise InputError(f"{path}: not a neurosort model file")
    return payload
