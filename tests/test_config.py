import pytest

from neurosort.config import (
    ConfigError,
    SortConfig,
    load_config,
    to_toml,
    validate,
    with_overrides,
)
from neurosort.errors import NeurosortError


def test_toml_round_trip(tmp_path):
    config = with_overrides(
        SortConfig(seed=7), ["detect.threshold_mad=5.5", "cluster.method=hdbscan"]
    )
    path = tmp_path / "sort.toml"
    path.write_text(to_toml(config))
    assert load_config(path) == config


def test_partial_file_keeps_defaults(tmp_path):
    path = tmp_path / "sort.toml"
    path.write_text("[detect]\npolarity = 'negative'\n")
    config = load_config(path)
    assert config.detect.polarity == "negative"
    assert config.cluster == SortConfig().cluster


def test_unknown_key_names_allowed_keys(tmp_path):
    path = tmp_path / "sort.toml"
    path.write_text("[detect]\nthreshold = 4\n")
    with pytest.raises(ConfigError, match=r"unknown config key detect\.threshold.*threshold_mad"):
        load_config(path)


def test_unknown_section_is_rejected():
    with pytest.raises(ConfigError, match="allowed sections"):
        with_overrides(SortConfig(), ["detector.threshold_mad=4"])


def test_set_coerces_types():
    config = with_overrides(SortConfig(), ["seed=3", "waveforms.normalize_amplitude=true"])
    assert config.seed == 3 and config.waveforms.normalize_amplitude is True
    with pytest.raises(ConfigError, match="expected float"):
        with_overrides(SortConfig(), ["detect.threshold_mad=high"])


@pytest.mark.parametrize(
    "assignment",
    ["detect.polarity=up", "detect.threshold_mad=0", "preprocess.bandpass_low_hz=7000",
     "detect.threshold_mad=nan", "detect.threshold_mad=inf", "detect.dead_time_ms=-1",
     "cluster.n_units=-1", "cluster.merge_max_difference_sigma=-1",
     "cluster.drift_merge_max_difference_sigma=-1",
     "cluster.refractory_period_ms=-1", "preprocess.notch_hz=-50",
     "preprocess.notch_quality=0", "preprocess.filter_order=0", "detect.cnn_probability=2",
     "detect.cnn_probability=nan", "seed=-1", "preprocess.chunk_duration_s=1e-9",
     "detect.dead_time_ms=1e12", "cluster.max_spikes_to_fit=1", "cluster.max_units=0",
     "cluster.split_max_violation_ratio=1", "cluster.split_max_violation_ratio=-0.1",
     "cluster.echo_min_fraction=1.5", "cluster.echo_min_fraction=-0.1", "features.device=gpu",
     "cluster.rescue_unassigned_quantile=1.5", "cluster.rescue_unassigned_quantile=-0.1"],
)
def test_validate_rejects_out_of_range(assignment):
    key = assignment.split("=")[0].split(".")[-1]
    with pytest.raises(ConfigError, match=key):
        validate(with_overrides(SortConfig(), [assignment]))


def test_invalid_toml_names_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[detect\n")
    with pytest.raises(ConfigError, match="bad.toml"):
        load_config(path)


def test_config_that_is_not_utf8_names_file(tmp_path):
    path = tmp_path / "latin1.toml"
    path.write_bytes("[detect]\nthreshold_mad = 4 # \xe9\n".encode("latin-1"))
    with pytest.raises(NeurosortError, match="latin1.toml: config file is not UTF-8 text"):
        load_config(path)


def test_config_saved_with_a_byte_order_mark_loads(tmp_path):
    path = tmp_path / "bom.toml"
    path.write_bytes(b"\xef\xbb\xbf[detect]\nthreshold_mad = 4.5\n")
    assert load_config(path).detect.threshold_mad == 4.5


def test_a_numbered_gpu_is_a_valid_device():
    assert validate(with_overrides(SortConfig(), ["features.device=cuda:1"]))


def test_an_unavailable_device_is_a_one_line_error():
    import torch

    from neurosort.errors import NeurosortError
    from neurosort.nn import resolve_device

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert resolve_device("cpu").type == "cpu"
    with pytest.raises(NeurosortError, match="no cuda device here"):
        resolve_device("cuda")
