"""A diagonal structured state-space layer (S4D, Gu et al. 2022) in plain PyTorch.

Each of the H channels runs a complex diagonal linear state-space model of N/2 modes
x' = A x + B u, y = Re(C x) + D u, discretised with zero-order hold at step dt. Its impulse
response over the sequence length L is the convolution kernel
K[l] = 2 Re(sum_n C_n (exp(dt A_n) - 1) / A_n * exp(dt A_n l)), applied by FFT. A forward
and a backward kernel make the layer bidirectional (a spike window is seen whole).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

MATRIX_MAX_LENGTH = 128


class S4D(nn.Module):
    def __init__(
        self,
        d_model: int,
        d_state: int = 32,
        dt_min: float = 1e-3,
        dt_max: float = 1e-1,
        bidirectional: bool = True,
    ) -> None:
        super().__init__()
        n_modes = d_state // 2
        n_kernels = 2 if bidirectional else 1
        self.bidirectional = bidirectional
        log_dt = torch.rand(d_model) * (math.log(dt_max) - math.log(dt_min)) + math.log(dt_min)
        self.log_dt = nn.Parameter(log_dt)
        # S4D-Lin initialisation: A_n = -1/2 + i pi n
        self.log_a_real = nn.Parameter(torch.full((d_model, n_modes), math.log(0.5)))
        self.a_imag = nn.Parameter(math.pi * torch.arange(n_modes).repeat(d_model, 1).float())
        c = torch.randn(n_kernels, d_model, n_modes, dtype=torch.cfloat) * 0.5**0.5
        self.c = nn.Parameter(torch.view_as_real(c))
        self.d = nn.Parameter(torch.randn(d_model))

    def kernel(self, length: int) -> torch.Tensor:
        """(n_kernels, d_model, length) real convolution kernels."""
        dt = self.log_dt.exp()[:, None]
        a = -self.log_a_real.exp() + 1j * self.a_imag
        dt_a = a * dt
        c = torch.view_as_complex(self.c) * (torch.exp(dt_a) - 1) / a
        steps = torch.arange(length, device=a.device)
        vandermonde = torch.exp(dt_a[..., None] * steps)
        return 2 * torch.einsum("khn,hnl->khl", c, vandermonde).real

    def full_kernel(self, length: int) -> torch.Tensor:
        """(d_model, 2 length): causal taps first, the backward kernel's taps wrapped around
        the end, as a circular convolution of length 2 length sees them."""
        k = self.kernel(length)
        if self.bidirectional:
            return F.pad(k[0], (0, length)) + F.pad(k[1].flip(-1), (length, 0))
        return F.pad(k[0], (0, length))

    def forward(self, u: torch.Tensor) -> torch.Tensor:
        """(batch, length, d_model) -> same shape. Training applies the kernel by FFT; in
        eval mode short windows use the same convolution as a (length x length) matrix per
        channel, faster on CPU for spike-length sequences."""
        length = u.shape[1]
        k = self.full_kernel(length)
        if not self.training and length <= MATRIX_MAX_LENGTH:
            steps = torch.arange(length, device=u.device)
            matrix = k[:, (steps[:, None] - steps[None, :]) % (2 * length)]
            y = torch.einsum("hts,bsh->bth", matrix, u)
        else:
            k_f = torch.fft.rfft(k, n=2 * length).T
            u_f = torch.fft.rfft(u, n=2 * length, dim=1)
            y = torch.fft.irfft(u_f * k_f, n=2 * length, dim=1)[:, :length]
        return y + u * self.d


class S4Block(nn.Module):
    """Pre-norm residual block: LayerNorm, S4D, GELU, pointwise mixing of channels."""

    def __init__(self, d_model: int, d_state: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(d_model)
        self.s4 = S4D(d_model, d_state)
        self.mix = nn.Conv1d(d_model, d_model, 1)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, length, d_model) -> same shape; time-major so that norms and pointwise
        maps are plain matrix products."""
        z = F.gelu(self.s4(self.norm(x)))
        return x + self.dropout(pointwise(self.mix, z))


def pointwise(conv: nn.Conv1d, x: torch.Tensor) -> torch.Tensor:
    """A kernel-size-1 convolution applied to time-major (batch, length, channels) input."""
    return F.linear(x, conv.weight.squeeze(-1), conv.bias)
