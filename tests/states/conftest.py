"""Fixtures for the states tests: a folder of synthetic labelled recordings."""

from __future__ import annotations

import numpy as np
import pytest
from states_helpers import CLASS_FREQUENCIES_HZ, synthetic_signal


@pytest.fixture(scope="session")
def synthetic_folder(tmp_path_factory):
    """12 recordings per class of 800 samples (8 s at 100 Hz) as .npy files, with labels.csv."""
    folder = tmp_path_factory.mktemp("synthetic_states")
    rng = np.random.default_rng(0)
    rows = ["recording,label"]
    for label in CLASS_FREQUENCIES_HZ:
        for number in range(12):
            name = f"{label}{number:02d}"
            np.save(folder / f"{name}.npy", synthetic_signal(label, 800, rng))
            rows.append(f"{name},{label}")
    (folder / "labels.csv").write_text("\n".join(rows) + "\n")
    return folder
