"""Training the autoencoder feature methods (torch): dense and convolutional autoencoders,
reconstruction, semi-supervised and Atom-loss training, member choice by BIC."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neurosort.cluster import GMMBIC
from neurosort.encoders.augment import Augmentation, augment
from neurosort.encoders.base import embed, one_thread
from neurosort.encoders.data import peak_index, seeded_subsample
from neurosort.encoders.losses import atom_loss
from neurosort.encoders.networks import INPUT_SCALE, ConvEncoder
from neurosort.log import get_logger
from neurosort.nn import resolve_device, seed_everything

logger = get_logger(__name__)

HIDDEN_WIDTHS = (128, 64, 32)
DENOISING_SIGMA = 1.0  # noise units added to the encoder's input; the target is the spike
MAX_SPIKES_FOR_BIC = 4000
# Atom loss: embeddings are scaled to this RMS radius, so that clusters lie several of the
# loss's preferred centroid distances (1.5) apart; epsilon bounds the 1/d^3 terms.
ATOM_RADIUS = 40.0
ATOM_EPSILON = 0.3
# Semi-supervised: milder views than the contrastive ones, the target is the clean spike.
SEMISUP_AUGMENTATION = Augmentation(noise_sigma=0.5, overlap_probability=0.1)


class DenseEncoder(nn.Module):
    """Flattened spike (all channels) -> a linear map plus an MLP of ``depth`` layers."""

    def __init__(self, n_inputs: int, n_components: int, depth: int) -> None:
        super().__init__()
        self.net = _mlp([n_inputs, *HIDDEN_WIDTHS[: depth - 1], n_components])
        self.linear = nn.Linear(n_inputs, n_components)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.flatten(1) * INPUT_SCALE
        return self.linear(x) + self.net(x)


def _mlp(widths: list[int]) -> nn.Sequential:
    layers: list[nn.Module] = []
    for n_in, n_out in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Linear(n_in, n_out), nn.GELU()]
    return nn.Sequential(*layers[:-1])


def dense_decoder(n_components: int, n_outputs: int, depth: int) -> nn.Sequential:
    """The mirror of DenseEncoder: embedding -> flattened spike (times INPUT_SCALE)."""
    return _mlp([n_components, *reversed(HIDDEN_WIDTHS[: depth - 1]), n_outputs])


def _batches(n: int, batch_size: int, n_steps: int, generator: torch.Generator):
    """``n_steps`` batches walking through seeded permutations of the ``n`` items."""
    batch_size = min(batch_size, n)
    per_epoch = max(1, n // batch_size)
    while True:
        order = torch.randperm(n, generator=generator)
        for i in range(per_epoch):
            if n_steps <= 0:
                return
            n_steps -= 1
            yield order[i * batch_size : (i + 1) * batch_size]


def _noisy(batch: torch.Tensor, generator: torch.Generator, device) -> torch.Tensor:
    return (batch + DENOISING_SIGMA * torch.randn(batch.shape, generator=generator)).to(device)


def _reconstruction(decoder: nn.Module, z: torch.Tensor, clean: torch.Tensor) -> torch.Tensor:
    return F.mse_loss(decoder(z), clean.flatten(1) * INPUT_SCALE)


def _optimizer(modules: list[nn.Module], learning_rate: float) -> torch.optim.Optimizer:
    parameters = [p for module in modules for p in module.parameters()]
    return torch.optim.Adam(parameters, lr=learning_rate)


def _step(optimizer: torch.optim.Optimizer, loss: torch.Tensor) -> float:
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    return loss.item()


def train_reconstruction(
    encoder: nn.Module,
    decoder: nn.Module,
    data: torch.Tensor,
    params: Any,
    n_steps: int,
    generator: torch.Generator,
    device: torch.device,
) -> list[float]:
    """``n_steps`` Adam steps on the MSE reconstruction loss; the loss of every step."""
    optimizer = _optimizer([encoder, decoder], params.learning_rate)
    losses = []
    for index in _batches(len(data), params.batch_size, n_steps, generator):
        batch = data[index]
        loss = _reconstruction(decoder, encoder(_noisy(batch, generator, device)), batch.to(device))
        losses.append(_step(optimizer, loss))
    return losses


def member_bic(encoder: nn.Module, inputs: np.ndarray, params: Any, device) -> GMMBIC:
    """GMM with BIC model selection on the member's embedding of (a subsample of) the
    training spikes. GMMBIC divides by the embedding's global std first, so the BICs of
    members with different embedding scales are comparable."""
    rows = seeded_subsample(len(inputs), MAX_SPIKES_FOR_BIC, params.seed)
    z = embed(encoder, inputs[rows], device)
    return GMMBIC(max_units=params.max_units, seed=params.seed).fit(z)


def _lowest_bic(encoders: list[nn.Module], inputs: np.ndarray, params: Any, device):
    """(chosen encoder, its index, each member's lowest BIC)."""
    bics = [min(member_bic(e, inputs, params, device).bic_.values()) for e in encoders]
    best = int(np.argmin(bics))
    logger.info("autoencoder ensemble: member %d of %d by BIC %s", best, len(bics), bics)
    return encoders[best], best, [float(b) for b in bics]


def fit_ensemble(params: Any, inputs: np.ndarray):
    """v0: dense denoising autoencoders of depths ``params.depths`` trained on reconstruction;
    the member whose embedding a BIC-selected GMM fits best. (encoder, device, member, BICs,
    histories)"""

    def train(encoder, decoder, data, generator, device):
        return train_reconstruction(
            encoder, decoder, data, params, params.n_steps, generator, device
        )

    return _fit_members(params, inputs, train)


def _fit_members(params: Any, inputs: np.ndarray, train):
    """One dense autoencoder per depth in ``params.depths``, each trained by ``train``; the
    member with the lowest BIC. (encoder, device, member, BICs, histories)"""
    device = resolve_device(params.device)
    data = torch.from_numpy(inputs)
    n_inputs = inputs.shape[1] * inputs.shape[2]
    encoders, histories = [], []
    with one_thread():
        for member, depth in enumerate(params.depths):
            generator = seed_everything(params.seed + member)
            encoder = DenseEncoder(n_inputs, params.n_components, depth).to(device)
            decoder = dense_decoder(params.n_components, n_inputs, depth).to(device)
            histories.append(train(encoder, decoder, data, generator, device))
            encoders.append(encoder.eval())
        encoder, member, bics = _lowest_bic(encoders, inputs, params, device)
    return encoder, device, member, bics, histories


def fit_semisup(params: Any, inputs: np.ndarray, labels: np.ndarray):
    """v1: convolutional encoder, dense decoder and a classification head on the embedding;
    augmented views are encoded, the clean spike is the reconstruction target, labels
    >= 0 add cross-entropy. (encoder, device, history)"""
    device = resolve_device(params.device)
    generator = seed_everything(params.seed)
    n_channels, n_samples = inputs.shape[1:]
    n_classes = int(labels.max()) + 1
    encoder = ConvEncoder(n_channels, n_samples, params.n_components).to(device)
    decoder = dense_decoder(params.n_components, n_channels * n_samples, 3).to(device)
    head = _mlp([params.n_components, 64, max(n_classes, 1)]).to(device)
    optimizer = _optimizer([encoder, decoder, head], params.learning_rate)
    data, targets = torch.from_numpy(inputs), torch.from_numpy(labels.astype(np.int64))
    peak = peak_index(inputs)
    history = []
    with one_thread():
        encoder.train()
        for index in _batches(len(data), params.batch_size, params.n_steps, generator):
            clean, target = data[index], targets[index].to(device)
            view = augment(clean, generator, peak, SEMISUP_AUGMENTATION).to(device)
            z = encoder(view)
            loss = _reconstruction(decoder, z, clean.to(device))
            known = target >= 0
            if known.any():
                loss = loss + params.label_weight * F.cross_entropy(head(z[known]), target[known])
            history.append(_step(optimizer, loss))
    return encoder.eval(), device, history


def _atom_space(z: torch.Tensor) -> torch.Tensor:
    """Embedding centred and scaled to RMS radius ATOM_RADIUS (gradients flow through the
    scale, so the encoder cannot lower the loss by merely inflating its output)."""
    centred = z - z.mean(0)
    return centred * (ATOM_RADIUS / centred.pow(2).sum(1).mean().sqrt().clamp_min(1e-6))


def _centroids(encoder: nn.Module, inputs: np.ndarray, n_units: int, params: Any, device):
    """GMM means in atom space on a subsample of the training spikes, and the number of
    components (chosen by BIC when ``n_units`` is 0)."""
    rows = seeded_subsample(len(inputs), MAX_SPIKES_FOR_BIC, params.seed)
    z = _atom_space(torch.from_numpy(embed(encoder, inputs[rows], device))).numpy()
    mixture = GMMBIC(n_units=n_units, max_units=params.max_units, seed=params.seed).fit(z)
    means = mixture.model_.means_ * mixture.scale_
    return torch.tensor(means, dtype=torch.float32, device=device), len(means)


def train_atom(encoder, decoder, data, inputs, params, generator, device) -> list[float]:
    """Reconstruction warm-up, then epochs of reconstruction + atom_weight x Atom loss with
    the GMM centroids refitted on the embedding before each epoch (k fixed at the first
    refit, by BIC)."""
    history = train_reconstruction(
        encoder, decoder, data, params, params.n_steps, generator, device
    )
    optimizer = _optimizer([encoder, decoder], params.learning_rate)
    steps_per_epoch = max(1, params.n_cluster_steps // max(1, params.n_refits))
    n_units = 0
    for _ in range(params.n_refits):
        centroids, n_units = _centroids(encoder.eval(), inputs, n_units, params, device)
        encoder.train()
        for index in _batches(len(data), params.batch_size, steps_per_epoch, generator):
            batch = data[index]
            z = encoder(_noisy(batch, generator, device))
            loss = _reconstruction(decoder, z, batch.to(device)) + params.atom_weight * atom_loss(
                _atom_space(z), centroids, ATOM_EPSILON
            )
            history.append(_step(optimizer, loss))
    return history


def fit_atom(params: Any, inputs: np.ndarray):
    """v2: an ensemble of dense autoencoders (depths ``params.depths``) trained with the
    Atom loss; the member with the lowest BIC. (encoder, device, member, BICs, histories)"""

    def train(encoder, decoder, data, generator, device):
        return train_atom(encoder, decoder, data, inputs, params, generator, device)

    return _fit_members(params, inputs, train)
