import numpy as np
import pytest

from neurosort.config import SortConfig
from neurosort.errors import InputError
from neurosort.export import export_phy
from neurosort.io import load_recording
from neurosort.output import read_result, write_result
from neurosort.pipeline import sort
from neurosort.types import SPIKE_DTYPE, SortResult


@pytest.fixture(scope="module")
def sorted_folder(tmp_path_factory):
    import spikeinterface.core as si

    si_recording, _ = si.generate_ground_truth_recording(
        durations=[10.0], sampling_frequency=24000.0, num_channels=1, num_units=3, seed=7
    )
    recording = load_recording(si_recording.get_traces(), sampling_frequency_hz=24000.0)
    out_dir = tmp_path_factory.mktemp("export") / "sorted"
    sort(recording, SortConfig(), out_dir, report=False)
    return recording, out_dir


def test_phy_folder_holds_every_assigned_spike(sorted_folder, tmp_path):
    recording, out_dir = sorted_folder
    phy_dir = export_phy(out_dir, recording, tmp_path / "phy")
    assert (phy_dir / "params.py").is_file() and (phy_dir / "recording.dat").is_file()
    assert "sample_rate = 24000.0" in (phy_dir / "params.py").read_text()
    spikes = read_result(out_dir).spikes
    assigned = spikes[spikes["unit_index"] >= 0]
    times = np.load(phy_dir / "spike_times.npy").ravel()
    clusters = np.load(phy_dir / "spike_clusters.npy").ravel()
    assert len(times) == len(clusters) == len(assigned)
    assert np.array_equal(np.sort(times), np.sort(assigned["sample_index"]))
    for unit in np.unique(assigned["unit_index"]):
        assert np.sum(clusters == unit) == np.sum(assigned["unit_index"] == unit)
    assert np.load(phy_dir / "pc_features.npy").shape[0] == len(assigned)


def test_export_refuses_a_sorting_without_units(sorted_folder, tmp_path):
    recording, _ = sorted_folder
    spikes = np.zeros(5, SPIKE_DTYPE)
    spikes["sample_index"] = np.arange(5) * 1000
    spikes["unit_index"] = -1
    unsorted = SortResult(spikes, np.zeros((0, 39, 1), np.float32), 24000.0, 1)
    out_dir = tmp_path / "unsorted"
    out_dir.mkdir()
    write_result(out_dir, unsorted, SortConfig())
    with pytest.raises(InputError, match="no units"):
        export_phy(out_dir, recording, tmp_path / "phy")
    assert not (tmp_path / "phy").exists()
