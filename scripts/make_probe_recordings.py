"""Write generated probe recordings with ground truth (SpikeInterface's generator), for the
many-channel benchmark (studies/probe.toml).

    python scripts/make_probe_recordings.py runs/generated

Writes OUT/probe_c{channels}_u{units}_s{seed}.npz, one per seed: ``traces`` (float32 uV,
time-major), ``sampling_frequency``, ``channel_locations`` (um) and the ground truth
(``spike_times`` at each unit's peak sample on the filtered trace, ``spike_units``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from neurosort.demo import align_to_peaks
from neurosort.types import GroundTruth, Recording


def probe_recording(
    seed: int, n_channels: int, n_units: int, duration_s: float, fs_hz: float, noise_uv: float
) -> tuple[Recording, GroundTruth]:
    """A two-column probe (20 um pitch) with units spread along it, Poisson trains."""
    import spikeinterface.core as si

    si_recording, si_sorting = si.generate_ground_truth_recording(
        durations=[duration_s],
        sampling_frequency=fs_hz,
        num_channels=n_channels,
        num_units=n_units,
        seed=seed,
        generate_sorting_kwargs={"firing_rates": (2.0, 12.0), "refractory_period_ms": 2.0},
        noise_kwargs={"noise_levels": noise_uv, "strategy": "on_the_fly"},
    )
    recording = Recording(
        si_recording.get_traces().astype(np.float32),
        fs_hz,
        channel_locations_um=si_recording.get_channel_locations(),
        name=f"probe seed {seed}",
    )
    vector = si_sorting.to_spike_vector()
    truth = GroundTruth(
        sample_index=vector["sample_index"].astype(np.int64),
        unit_index=vector["unit_index"].astype(np.int32),
        sampling_frequency_hz=fs_hz,
    )
    return recording, align_to_peaks(recording, truth)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="output folder")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--channels", type=int, default=32)
    parser.add_argument("--units", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--fs-hz", type=float, default=30000.0)
    parser.add_argument("--noise-uv", type=float, default=5.0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    for seed in args.seeds:
        recording, truth = probe_recording(
            seed, args.channels, args.units, args.seconds, args.fs_hz, args.noise_uv
        )
        path = args.out / f"probe_c{args.channels}_u{args.units}_s{seed}.npz"
        np.savez(
            path,
            traces=recording.get_traces(),
            sampling_frequency=args.fs_hz,
            channel_locations=recording.channel_locations_um,
            spike_times=truth.sample_index,
            spike_units=truth.unit_index,
        )
        print(path)


if __name__ == "__main__":
    main()
