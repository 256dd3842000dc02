"""Networks for window classification; each maps (batch, channels, time) to class logits."""

from __future__ import annotations

import torch
from torch import nn

SPECTRUM_FFT_SAMPLES = 256


def frames(x: torch.Tensor, frame_samples: int) -> torch.Tensor:
    """(batch, channels, time) as a sequence of (batch, time // frame, channels * frame) steps,
    each step ``frame_samples`` consecutive samples of every channel (a ragged end is cut)."""
    n_steps = x.shape[-1] // frame_samples
    steps = x[..., : n_steps * frame_samples].unflatten(-1, (n_steps, frame_samples))
    return steps.permute(0, 2, 1, 3).flatten(2)


class BiLSTMNet(nn.Module):
    """BiLSTM(64, sequences) -> dropout -> BiLSTM(32) -> dropout -> Dense(16, relu) -> classes.

    Each sequence step is ``frame_samples`` consecutive samples (1: one sample per step)."""

    def __init__(self, n_channels: int, n_classes: int, dropout: float = 0.3,
                 frame_samples: int = 1) -> None:
        super().__init__()
        self.frame_samples = frame_samples
        self.first = nn.LSTM(n_channels * frame_samples, 64, batch_first=True,
                             bidirectional=True)
        self.second = nn.LSTM(128, 32, batch_first=True, bidirectional=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Sequential(nn.Linear(64, 16), nn.ReLU(), nn.Linear(16, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sequence, _ = self.first(frames(x, self.frame_samples))
        _, (hidden, _) = self.second(self.dropout(sequence))
        return self.head(self.dropout(torch.cat([hidden[0], hidden[1]], dim=1)))


class CropLSTMNet(nn.Module):
    """One LSTM over a (cropped) window; its last hidden state feeds the classifier."""

    def __init__(self, n_channels: int, n_classes: int, hidden: int = 64, dropout: float = 0.3):
        super().__init__()
        self.lstm = nn.LSTM(n_channels, hidden, batch_first=True)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(hidden, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(x.transpose(1, 2))
        return self.head(hidden[-1])


class MaxPool(nn.Module):
    """nn.MaxPool1d(size) as a reshape and max: the same values, without the slow CPU kernel."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n_out = x.shape[-1] // self.size
        return x[..., : n_out * self.size].unflatten(-1, (n_out, self.size)).amax(dim=-1)


def conv_block(n_in: int, n_out: int, kernel: int, pool: int) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv1d(n_in, n_out, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm1d(n_out),
        nn.ReLU(),
    ]
    if pool > 1:
        layers.append(MaxPool(pool))
    return nn.Sequential(*layers)


def log_spectrum(x: torch.Tensor, n_fft: int = SPECTRUM_FFT_SAMPLES) -> torch.Tensor:
    """Log power of each channel (Hann window, zero-padded to ``n_fft``), flattened."""
    window = torch.hann_window(x.shape[-1], device=x.device, dtype=x.dtype)
    centred = x - x.mean(dim=-1, keepdim=True)
    power = torch.fft.rfft(centred * window, n=max(n_fft, x.shape[-1])).abs().square()
    return torch.log(power[..., : n_fft // 2 + 1] + 1e-4).flatten(1)


class CNNNet(nn.Module):
    """1D CNN over the waveform, optionally joined by a branch on the window's log spectrum."""

    def __init__(self, n_channels: int, n_classes: int, spectral: bool = True,
                 dropout: float = 0.3, stem_pool: int = 1) -> None:
        super().__init__()
        self.features = nn.Sequential(
            conv_block(n_channels, 32, 7, stem_pool),
            conv_block(32, 32, 7, 2),
            conv_block(32, 64, 5, 2),
            conv_block(64, 64, 5, 2),
            conv_block(64, 128, 3, 1),
        )
        self.spectral = spectral
        n_bins = n_channels * (SPECTRUM_FFT_SAMPLES // 2 + 1)
        self.spectrum = (
            nn.Sequential(nn.Linear(n_bins, 64), nn.ReLU(), nn.Dropout(dropout))
            if spectral else None
        )
        n_joined = 256 + (64 if spectral else 0)
        self.head = nn.Sequential(
            nn.Dropout(dropout), nn.Linear(n_joined, 64), nn.ReLU(), nn.Linear(64, n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        maps = self.features(x)
        joined = [maps.mean(dim=-1), maps.amax(dim=-1)]
        if self.spectrum is not None:
            joined.append(self.spectrum(log_spectrum(x)))
        return self.head(torch.cat(joined, dim=1))


class CNNLSTMNet(nn.Module):
    """Two convolution blocks (time / 4) feeding a bidirectional LSTM."""

    def __init__(self, n_channels: int, n_classes: int, dropout: float = 0.3) -> None:
        super().__init__()
        self.features = nn.Sequential(conv_block(n_channels, 32, 7, 2), conv_block(32, 64, 5, 2))
        self.lstm = nn.LSTM(64, 64, batch_first=True, bidirectional=True)
        self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(128, 32), nn.ReLU(),
                                  nn.Linear(32, n_classes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, (hidden, _) = self.lstm(self.features(x).transpose(1, 2))
        return self.head(torch.cat([hidden[0], hidden[1]], dim=1))


NETWORKS = {
    "bilstm": BiLSTMNet,
    "lstm": CropLSTMNet,
    "cnn": CNNNet,
    "cnn_lstm": CNNLSTMNet,
}


def build_network(name: str, n_channels: int, n_classes: int, options: dict | None = None):
    return NETWORKS[name](n_channels, n_classes, **(options or {}))
