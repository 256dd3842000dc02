"""Shared fixtures: the shared-data folder, a seeded synthetic recording, --runslow."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """``$NEUROSORT_DATA`` or ``../shared/data`` next to the repository."""
    return Path(os.environ.get("NEUROSORT_DATA", REPO_ROOT.parent / "shared" / "data"))


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False, help="run slow tests")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--runslow"):
        return
    skip_slow = pytest.mark.skip(reason="slow test: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"shared data folder {path} not found (set NEUROSORT_DATA to its location)")
    return path


@pytest.fixture(scope="module")
def demo_npz(tmp_path_factory):
    """Write a single-channel, 3-unit demo recording with its ground truth as .npz."""

    def write(duration_s: float, seed: int, name: str = "small.npz") -> Path:
        from neurosort.demo import demo_recording
        from neurosort.io import save_npz_recording

        recording, truth = demo_recording(duration_s=duration_s, seed=seed, n_channels=1, n_units=3)
        path = tmp_path_factory.mktemp("rec") / name
        save_npz_recording(
            path,
            recording.get_traces(),
            recording.sampling_frequency_hz,
            spike_times=truth.sample_index,
            spike_units=truth.unit_index,
        )
        return path

    return write


@pytest.fixture
def retrained_from_card(data_dir, tmp_path):
    """Runs the command on a weights file's JSON card again (on mearec/train); returns the
    (retrained, shipped) state dicts."""
    import json
    import shlex

    import torch

    from neurosort.cli import main

    def retrain(weights: Path) -> tuple[dict, dict]:
        command = shlex.split(json.loads(weights.with_suffix(".json").read_text())["command"])
        out = command.index("--out") + 1
        command[out] = str(tmp_path / weights.name)
        train_dir = str(data_dir / "mearec" / "train")
        assert main(["--no-progress", *command[1:], "--train-dir", train_dir]) == 0
        return tuple(torch.load(path, weights_only=False)["state_dict"]
                     for path in (command[out], weights))

    return retrain
