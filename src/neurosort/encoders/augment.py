"""Spike augmentations for contrastive views: amplitude jitter, time shift and stretch,
added noise and overlap with another spike. Inputs are (batch, channels, samples) tensors in
noise units, peak at sample ``peak_index``."""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Augmentation:
    amplitude_jitter: float = 0.15  # relative, uniform +-
    max_shift_samples: float = 1.5
    max_stretch: float = 0.08  # relative, uniform +-
    noise_sigma: float = 0.6  # added Gaussian noise, up to this many noise sigma
    overlap_probability: float = 0.2
    overlap_scale: float = 0.5


def _uniform(n: int, half_width: float, generator: torch.Generator) -> torch.Tensor:
    return (torch.rand(n, generator=generator) * 2 - 1) * half_width


def warp(batch: torch.Tensor, shift: torch.Tensor, stretch: torch.Tensor, centre: float):
    """Resample each spike at (t - centre) * stretch + centre - shift, linear interpolation,
    edges held."""
    n_samples = batch.shape[-1]
    t = torch.arange(n_samples, dtype=batch.dtype)
    positions = (t[None, :] - centre) * stretch[:, None] + centre - shift[:, None]
    positions = positions.clamp(0, n_samples - 1)
    left = positions.floor().long().clamp(max=n_samples - 2)
    weight = (positions - left).unsqueeze(1)
    index = left.unsqueeze(1).expand(-1, batch.shape[1], -1)
    low = batch.gather(2, index)
    high = batch.gather(2, index + 1)
    return low + weight * (high - low)


def augment(
    batch: torch.Tensor, generator: torch.Generator, peak_index: int, spec: Augmentation
) -> torch.Tensor:
    """One random view of every spike in ``batch`` (CPU tensors; seeded by ``generator``)."""
    n = batch.shape[0]
    gain = 1 + _uniform(n, spec.amplitude_jitter, generator)
    view = batch * gain[:, None, None]
    shift = _uniform(n, spec.max_shift_samples, generator)
    stretch = 1 + _uniform(n, spec.max_stretch, generator)
    view = warp(view, shift, stretch, float(peak_index))
    if spec.overlap_probability > 0 and n > 1:
        view = view + _overlaps(batch, generator, spec)
    noise_level = torch.rand(n, 1, 1, generator=generator) * spec.noise_sigma
    return view + noise_level * torch.randn(view.shape, generator=generator)


def _overlaps(batch: torch.Tensor, generator: torch.Generator, spec: Augmentation):
    """Another spike of the batch, scaled down and shifted by a quarter to a half window,
    added to a random ``overlap_probability`` of the spikes."""
    n, _, n_samples = batch.shape
    partner = batch[torch.randperm(n, generator=generator)]
    offset = torch.randint(n_samples // 4, n_samples // 2 + 1, (n,), generator=generator)
    sign = torch.randint(0, 2, (n,), generator=generator) * 2 - 1
    shifted = warp(partner, (offset * sign).to(batch.dtype), torch.ones(n), 0.0)
    outside = _outside_mask(offset * sign, n_samples)
    shifted = shifted * ~outside.unsqueeze(1)
    scale = torch.rand(n, generator=generator) * spec.overlap_scale
    chosen = torch.rand(n, generator=generator) < spec.overlap_probability
    return shifted * (scale * chosen)[:, None, None]


def _outside_mask(shift: torch.Tensor, n_samples: int) -> torch.Tensor:
    """Samples a shift moves in from beyond the window (held edges, not signal)."""
    t = torch.arange(n_samples)
    source = t[None, :] - shift[:, None]
    return (source < 0) | (source > n_samples - 1)
