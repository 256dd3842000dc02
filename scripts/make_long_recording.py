"""Write a long single-channel recording by tiling a MEArec test recording (for timing).

    python scripts/make_long_recording.py ../shared/data/mearec/test/mono_test_dev_09_u08_n2.npz \
        /tmp/long_1h --minutes 60

Writes OUT.raw (int16, one channel), OUT.json (sample_rate, dtype, shape, gain_uv) and
OUT_gt.npz (spike_times, spike_units) with ground truth shifted into every copy.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", help="MEArec monotrode .npz")
    parser.add_argument("out", help="output path without extension")
    parser.add_argument("--minutes", type=float, default=60.0)
    args = parser.parse_args()
    data = np.load(args.source)
    traces = data["traces"][:, 0]
    fs = float(data["sampling_frequency"])
    copies = int(np.ceil(args.minutes * 60 * fs / len(traces)))
    out = Path(args.out)
    with open(out.with_suffix(".raw"), "wb") as file:
        for _ in range(copies):
            traces.astype(np.int16).tofile(file)
    offsets = np.arange(copies)[:, None] * len(traces)
    np.savez(
        out.parent / f"{out.name}_gt.npz",
        spike_times=(data["spike_times"][None, :] + offsets).ravel(),
        spike_units=np.tile(data["spike_units"], copies),
    )
    info = {
        "sample_rate": fs,
        "dtype": "int16",
        "shape": [-1, 1],
        "gain_uv": float(data["gain_uv"]),
    }
    out.with_suffix(".json").write_text(json.dumps(info))


if __name__ == "__main__":
    main()
