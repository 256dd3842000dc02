"""Training contrastive encoders (torch): the loop, and loading shipped weights."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from neurosort.encoders.augment import Augmentation, augment
from neurosort.encoders.base import cosine_schedule, labels_tensor, one_thread
from neurosort.encoders.data import (
    ModelWindow,
    peak_index,
    per_channel,
    to_inputs,
    to_model_window,
)
from neurosort.encoders.losses import info_nce, supervised_contrastive
from neurosort.encoders.networks import build_encoder, projection_head
from neurosort.errors import InputError
from neurosort.log import get_logger
from neurosort.nn import load_checkpoint, resolve_device, save_checkpoint, seed_everything

logger = get_logger(__name__)

FORMAT = "neurosort-encoder/1"
FINETUNE_LEARNING_RATE_FACTOR = 0.3
DEFAULT_AUGMENTATION = Augmentation()
LOG_EVERY_STEPS = 250


def fit(params: Any, snippets: np.ndarray, y: np.ndarray | None):
    """(encoder, its ModelWindow or None, device, loss history) for the transformer
    ``params`` (a ContrastiveFeatures, with ``sigma_`` and ``input_peak_`` set) on
    (n, samples, channels) ``snippets``."""
    device = resolve_device(params.device)
    generator = seed_everything(params.seed)
    window = None
    inputs = to_inputs(snippets, params.sigma_)
    if params.training == "self":
        encoder = build_encoder(
            params.architecture,
            in_channels=inputs.shape[1],
            n_samples=inputs.shape[2],
            n_components=params.n_components,
        )
    else:
        encoder, window = load_encoder(params.weights_path(), params.architecture)
        inputs = to_model_window(inputs, params.input_peak_, window, params.sampling_frequency_hz)
        if encoder.in_channels == 1 and inputs.shape[1] > 1:
            y = None if y is None else np.repeat(y, inputs.shape[1])
            inputs = per_channel(inputs)
    encoder.to(device)
    history: list[float] = []
    if params.training != "pretrained":
        rate = params.learning_rate
        if params.training == "finetune":
            rate *= FINETUNE_LEARNING_RATE_FACTOR
        history = train_contrastive(
            encoder, inputs, labels_tensor(y, len(inputs)), params, rate, generator, device
        )
    encoder.eval()
    return encoder, window, device, history


def train_contrastive(
    encoder: torch.nn.Module,
    inputs: np.ndarray,
    labels: torch.Tensor | None,
    params: Any,
    learning_rate: float,
    generator: torch.Generator,
    device: torch.device,
    augmentation: Augmentation = DEFAULT_AUGMENTATION,
) -> list[float]:
    """``params.n_steps`` AdamW steps on InfoNCE (+ supcon_weight x SupCon when labelled)
    between two augmented views; returns the loss of every step."""
    out_dims = encoder.readout[-1].out_features
    head = projection_head(out_dims).to(device)
    parameters = list(encoder.parameters()) + list(head.parameters())
    optimizer = torch.optim.AdamW(parameters, lr=learning_rate, weight_decay=1e-4)
    schedule = cosine_schedule(optimizer, params.n_steps)
    data = torch.from_numpy(inputs)
    peak = peak_index(inputs)
    batch_size = min(params.batch_size, len(data))
    batches = _batch_indices(len(data), batch_size, params.n_steps, generator)
    encoder.train()
    losses = []
    with one_thread():
        for index in batches:
            views = [augment(data[index], generator, peak, augmentation) for _ in range(2)]
            z1, z2 = (head(encoder(view.to(device))) for view in views)
            loss = info_nce(z1, z2, params.temperature)
            if labels is not None and params.supcon_weight > 0:
                target = labels[index].to(device)
                loss = loss + params.supcon_weight * supervised_contrastive(
                    z1, z2, target, params.temperature
                )
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            if len(losses) % LOG_EVERY_STEPS == 0:
                logger.info("step %d/%d loss %.3f", len(losses), len(batches), losses[-1])
    encoder.eval()
    return losses


def _batch_indices(n: int, batch_size: int, n_steps: int, generator: torch.Generator):
    """``n_steps`` batches walking through seeded permutations of the ``n`` items."""
    per_epoch = max(1, n // batch_size)
    batches: list[torch.Tensor] = []
    while len(batches) < n_steps:
        order = torch.randperm(n, generator=generator)
        batches.extend(order[i * batch_size : (i + 1) * batch_size] for i in range(per_epoch))
    return batches[:n_steps]


def save_encoder(
    path: Path, encoder: torch.nn.Module, architecture: str, window: ModelWindow, **card: Any
) -> Path:
    return save_checkpoint(
        path,
        {
            "format": FORMAT,
            "architecture": architecture,
            "shape": dict(encoder.shape),
            "window": asdict(window),
            "state_dict": encoder.state_dict(),
            "card": card,
        },
    )


def load_encoder(path: Path, architecture: str) -> tuple[torch.nn.Module, ModelWindow]:
    """(encoder in eval mode, the window it was trained on); one-line InputError naming the
    file when it is missing, corrupt, or for another architecture."""
    payload = load_checkpoint(path)
    if payload.get("format") != FORMAT:
        raise InputError(f"{path}: not a neurosort encoder file (format {payload.get('format')!r})")
    if payload.get("architecture") != architecture:
        raise InputError(
            f"{path}: weights of a {payload.get('architecture')!r} encoder, not {architecture!r}"
        )
    shape = payload["shape"]
    encoder = build_encoder(architecture, **shape)
    try:
        encoder.load_state_dict(payload["state_dict"])
    except (RuntimeError, KeyError) as error:
        raise InputError(f"{path}: weights do not fit the {architecture} encoder") from error
    try:
        window = ModelWindow(**payload["window"])
    except (KeyError, TypeError) as error:
        raise InputError(f"{path}: no valid spike window in the encoder file") from error
    return encoder.eval(), window
