"""Data contracts shared by every stage."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

PEAK_DTYPE = np.dtype(
    [("sample_index", np.int64), ("channel_index", np.int32), ("amplitude", np.float32)]
)
SPIKE_DTYPE = np.dtype(PEAK_DTYPE.descr + [("unit_index", np.int32)])


def empty_peaks() -> np.ndarray:
    return np.zeros(0, dtype=PEAK_DTYPE)


class Recording:
    """A multi-channel voltage trace in microvolts, read lazily in chunks.

    ``source`` is an array of shape (n_samples, n_channels) (a numpy memmap keeps memory
    flat for long files) or a SpikeInterface recording; samples are scaled by ``gain_uv``
    and shifted by ``offset_uv`` on read.
    """

    def __init__(
        self,
        source: Any,
        sampling_frequency_hz: float,
        *,
        gain_uv: float = 1.0,
        offset_uv: float = 0.0,
        channel_locations_um: np.ndarray | None = None,
        name: str = "recording",
    ) -> None:
        self._source = source
        self.sampling_frequency_hz = float(sampling_frequency_hz)
        self.gain_uv = float(gain_uv)
        self.offset_uv = float(offset_uv)
        self.name = name
        self._is_array = isinstance(source, np.ndarray)
        if self._is_array and source.ndim == 1:
            self._source = source[:, None]
        if channel_locations_um is None:
            channel_locations_um = np.column_stack(
                [np.zeros(self.n_channels), np.arange(self.n_channels) * 20.0]
            )
        self.channel_locations_um = np.asarray(channel_locations_um, dtype=np.float64)

    @property
    def n_samples(self) -> int:
        if self._is_array:
            return int(self._source.shape[0])
        return int(self._source.get_num_samples())

    @property
    def n_channels(self) -> int:
        if self._is_array:
            return int(self._source.shape[1])
        return int(self._source.get_num_channels())

    @property
    def duration_s(self) -> float:
        return self.n_samples / self.sampling_frequency_hz

    @property
    def spikeinterface_recording(self) -> Any | None:
        return None if self._is_array else self._source

    def get_traces(self, start: int = 0, end: int | None = None) -> np.ndarray:
        """Samples [start, end) as float32 microvolts, shape (n, n_channels)."""
        end = self.n_samples if end is None else min(end, self.n_samples)
        start = max(0, start)
        if self._is_array:
            raw = self._source[start:end]
        else:
            raw = self._source.get_traces(start_frame=start, end_frame=end)
        traces = np.asarray(raw, dtype=np.float32)
        if self.gain_uv != 1.0 or self.offset_uv != 0.0:
            traces = traces * np.float32(self.gain_uv) + np.float32(self.offset_uv)
        return traces


@dataclass(frozen=True)
class GroundTruth:
    """Ground-truth spike trains: the peak sample of each spike and its unit."""

    sample_index: np.ndarray
    unit_index: np.ndarray
    sampling_frequency_hz: float
    unit_snr: np.ndarray | None = None

    @property
    def unit_ids(self) -> np.ndarray:
        return np.unique(self.unit_index)


@dataclass
class SortResult:
    """Output of :func:`neurosort.sort`.

    ``spikes`` has SPIKE_DTYPE (``unit_index`` -1 = unassigned); ``templates`` is
    (n_units, n_samples, n_channels) in microvolts; ``features`` (n_spikes, n_features) is
    kept for plots; ``n_samples`` is the sorted recording's length (None when unknown).
    """

    spikes: np.ndarray
    templates: np.ndarray
    sampling_frequency_hz: float
    n_channels: int
    features: np.ndarray | None = None
    timings_s: dict[str, float] = field(default_factory=dict)
    n_samples: int | None = None

    @property
    def unit_ids(self) -> np.ndarray:
        units = np.unique(self.spikes["unit_index"])
        return units[units >= 0]

    def to_sorting(self) -> Any:
        """The result as a SpikeInterface ``NumpySorting`` (unassigned spikes left out)."""
        import spikeinterface.core as si

        kept = self.spikes[self.spikes["unit_index"] >= 0]
        return si.NumpySorting.from_samples_and_labels(
            [kept["sample_index"]], [kept["unit_index"]], self.sampling_frequency_hz
        )
