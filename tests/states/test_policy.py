import json

import pytest

from neurosort.errors import InputError
from neurosort.states.policy import load_policy

CLASSES = ("seizure", "non-seizure")
SEIZURE = {"frequency_hz": 130, "amplitude_ma": 2.5, "pulse_width_us": 90, "duration_min": 5}
OFF = {"frequency_hz": 0, "amplitude_ma": 0, "pulse_width_us": 0, "duration_min": 0}


def write_json(tmp_path, data, name="policy.json"):
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_json_policy_recommends_only_when_confident(tmp_path):
    path = write_json(tmp_path, {"confidence_threshold": 0.8,
                                 "states": {"seizure": SEIZURE, "non-seizure": OFF}})
    policy = load_policy(path, CLASSES)
    assert policy.recommend("seizure", 0.9).amplitude_ma == 2.5
    assert policy.recommend("seizure", 0.7) is None
    assert policy.recommend("unknown", 0.99) is None


def test_toml_policy(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_text(
        "confidence_threshold = 0.6\n"
        "[states.seizure]\nfrequency_hz = 130\namplitude_ma = 2.5\npulse_width_us = 90\n"
        "duration_min = 5\n"
        "[states.non-seizure]\nfrequency_hz = 0\namplitude_ma = 0\npulse_width_us = 0\n"
        "duration_min = 0\n"
    )
    policy = load_policy(path, CLASSES)
    assert policy.confidence_threshold == 0.6
    assert policy.states["seizure"].frequency_hz == 130


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"states": {"seizure": SEIZURE}}, r"missing \['non-seizure'\]"),
        ({"states": {"seizure": SEIZURE, "non-seizure": OFF, "sleep": OFF}},
         r"not a class \['sleep'\]"),
        ({"states": {"seizure": {**SEIZURE, "amplitude_ma": 80}, "non-seizure": OFF}},
         r"states.seizure.amplitude_ma = 80 is outside \[0, 25\]"),
        ({"states": {"seizure": {**SEIZURE, "frequency_hz": "high"}, "non-seizure": OFF}},
         "must be a number"),
        ({"states": {"seizure": {"amplitude_mA": 1}, "non-seizure": OFF}}, "unknown keys"),
        ({"confidence_threshold": 1.5, "states": {"seizure": SEIZURE, "non-seizure": OFF}},
         "confidence_threshold"),
        ({"threshold": 0.5, "states": {}}, r"unknown keys \['threshold'\]"),
        ({}, "'states' must map"),
    ],
)
def test_bad_policy_files_are_input_errors(tmp_path, data, message):
    with pytest.raises(InputError, match=message):
        load_policy(write_json(tmp_path, data), CLASSES)


def test_unparsable_policy_is_an_input_error(tmp_path):
    path = tmp_path / "policy.json"
    path.write_text("{not json")
    with pytest.raises(InputError, match="policy.json: not valid JSON"):
        load_policy(path, CLASSES)


def test_policy_that_is_not_utf8_is_an_input_error(tmp_path):
    path = tmp_path / "policy.toml"
    path.write_bytes(b"# r\xe9glage\n[states.seizure]\n")
    with pytest.raises(InputError, match=r"policy.toml: policy file is not UTF-8 text \(byte "
                                         r"0xe9 at offset 3\)"):
        load_policy(path, CLASSES)


def test_policy_with_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / "policy.json"
    data = {"states": {"seizure": SEIZURE, "non-seizure": OFF}}
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps(data).encode())
    assert load_policy(path, CLASSES).states["seizure"].frequency_hz == 130
