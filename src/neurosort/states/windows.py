"""Windows cut inside recordings, per-recording standardisation, crops."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np

from neurosort.errors import InputError

SCALINGS = ("recording", "recording_level", "global")


@dataclass(frozen=True)
class WindowConfig:
    """How recordings become model inputs; 178 samples at 173.61 Hz is the 1 s UCI chunking."""

    length_samples: int = 178
    hop_samples: int = 178
    train_windows_per_hop: int = 1  # 2: training windows also start half a hop apart
    crop_samples: int = 0  # 0: the model sees whole windows; > 0: random crops of this length
    n_inference_crops: int = 1
    # recording: each recording standardised by its own mean and std; recording_level: the same
    # plus one input channel holding log(1 + std) of the recording; global: fit on training data
    scaling: str = "recording"

    def __post_init__(self) -> None:
        if self.length_samples < 2 or self.hop_samples < 1 or self.train_windows_per_hop < 1:
            raise InputError("window: length_samples must be >= 2, hop_samples >= 1 and "
                             "train_windows_per_hop >= 1")
        if not 0 <= self.crop_samples <= self.length_samples:
            raise InputError("window: crop_samples must be between 0 and length_samples")
        if self.n_inference_crops < 1:
            raise InputError("window: n_inference_crops must be >= 1")
        if self.scaling not in SCALINGS:
            raise InputError(f"window: scaling must be one of {SCALINGS}, not {self.scaling!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    def for_training(self) -> WindowConfig:
        """The windows to train on: ``train_windows_per_hop`` times as many, shifted in time."""
        return replace(self, hop_samples=max(1, self.hop_samples // self.train_windows_per_hop))


def window_starts(n_samples: int, length: int, hop: int) -> np.ndarray:
    """Start samples of every window that lies entirely inside ``n_samples``."""
    if n_samples < length:
        return np.empty(0, dtype=np.int64)
    return np.arange(0, n_samples - length + 1, hop, dtype=np.int64)


def standardise(signal: np.ndarray, mean: np.ndarray, std: np.ndarray, level: bool) -> np.ndarray:
    """(signal - mean) / std per channel; with ``level``, log(1 + std) channels are appended."""
    scaled = (signal - mean[:, None]) / np.maximum(std, 1e-6)[:, None]
    if not level:
        return scaled
    levels = np.broadcast_to(np.log1p(std)[:, None], signal.shape)
    return np.concatenate([scaled, levels])


def scale_recording(signal: np.ndarray, scaling: str) -> np.ndarray:
    """Apply the per-recording part of ``scaling`` (global scaling is fitted by the model)."""
    if scaling == "global":
        return signal
    return standardise(signal, signal.mean(axis=1), signal.std(axis=1),
                       level=scaling == "recording_level")


def cut_windows(
    signals: tuple[np.ndarray, ...] | list[np.ndarray],
    config: WindowConfig,
    names: tuple[str, ...] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Windows (n_windows, n_channels, length) and the index of the recording each came from.

    Windows are cut from each recording separately, so none straddles two recordings.
    """
    windows, owners = [], []
    for index, signal in enumerate(signals):
        starts = window_starts(signal.shape[1], config.length_samples, config.hop_samples)
        if len(starts) == 0:
            where = names[index] if names else f"recording {index}"
            raise InputError(
                f"{where}: signal of {signal.shape[1]} samples is shorter than one window "
                f"({config.length_samples} samples)"
            )
        source = scale_recording(signal, config.scaling)
        offsets = starts[:, None] + np.arange(config.length_samples)[None, :]
        windows.append(source[:, offsets].transpose(1, 0, 2))
        owners.append(np.full(len(starts), index, dtype=np.int64))
    return np.concatenate(windows).astype(np.float32), np.concatenate(owners)


def crop_starts(length: int, crop: int, n_crops: int) -> np.ndarray:
    """Evenly spaced crop starts covering a window, for multi-crop averaging."""
    if crop <= 0 or crop >= length:
        return np.zeros(1, dtype=np.int64)
    return np.unique(np.linspace(0, length - crop, n_crops).round().astype(np.int64))
