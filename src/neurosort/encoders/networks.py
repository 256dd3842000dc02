"""Encoder networks mapping (batch, channels, samples) spikes in noise units to embeddings."""

from __future__ import annotations

import torch
from torch import nn

from neurosort.encoders.s4 import S4Block, pointwise

INPUT_SCALE = 0.1  # noise units -> order-one inputs for typical spikes
READOUT_CHANNELS = 4
HIDDEN = 64


def _readout(channels: int, n_samples: int, n_components: int) -> nn.Sequential:
    """Pointwise reduction to a few channels, then an MLP over every time step: keeps where
    in the window each feature occurs, which pooling would lose."""
    return nn.Sequential(
        nn.Conv1d(channels, READOUT_CHANNELS, 1),
        nn.Flatten(),
        nn.Linear(READOUT_CHANNELS * n_samples, HIDDEN),
        nn.GELU(),
        nn.Linear(HIDDEN, n_components),
    )


class S4Encoder(nn.Module):
    def __init__(
        self,
        in_channels: int,
        n_samples: int,
        n_components: int,
        d_model: int = 16,
        d_state: int = 32,
        n_layers: int = 2,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.shape = {"in_channels": in_channels, "n_samples": n_samples}
        self.shape["n_components"] = n_components
        self.embed = nn.Conv1d(in_channels, d_model, 1)
        self.blocks = nn.Sequential(*[S4Block(d_model, d_state) for _ in range(n_layers)])
        self.readout = _readout(d_model, n_samples, n_components)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.blocks(pointwise(self.embed, x.transpose(1, 2) * INPUT_SCALE))
        reduced = pointwise(self.readout[0], h).transpose(1, 2)
        return self.readout[1:](reduced)


class ConvEncoder(nn.Module):
    def __init__(self, in_channels: int, n_samples: int, n_components: int) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.shape = {"in_channels": in_channels, "n_samples": n_samples}
        self.shape["n_components"] = n_components
        self.convolutions = nn.Sequential(
            nn.Conv1d(in_channels, 16, 5, padding=2),
            nn.GELU(),
            nn.Conv1d(16, 32, 5, padding=2),
            nn.GELU(),
        )
        self.readout = _readout(32, n_samples, n_components)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.readout(self.convolutions(x * INPUT_SCALE))


def projection_head(n_components: int, out_dims: int = 32) -> nn.Sequential:
    """The MLP g of SimCLR: the contrastive loss sees g(h); features are h."""
    return nn.Sequential(nn.Linear(n_components, HIDDEN), nn.GELU(), nn.Linear(HIDDEN, out_dims))


ARCHITECTURES = {"s4": S4Encoder, "conv": ConvEncoder}


def build_encoder(architecture: str, **shape: int) -> nn.Module:
    return ARCHITECTURES[architecture](**shape)
