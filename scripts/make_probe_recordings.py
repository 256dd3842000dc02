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

from neurosort.demo import demo_recording


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
        recording, truth = demo_recording(
            args.seconds, seed, args.units, args.channels, sampling_frequency_hz=args.fs_hz,
            firing_rates_hz=(2.0, 12.0), noise_uv=args.noise_uv,
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
