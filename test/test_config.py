"""The typed config, the ROS parameter file and the CLI flags agree and reject bad values by name."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from motionllm_ros.config import (Config, ConfigError, flatten, load_config, parameter_specs, parse_override,
                                  ros_parameters_from_yaml)

PARAMS_FILE = Path(__file__).resolve().parents[1] / "config" / "motionllm.yaml"


def test_yaml_and_config_agree_key_for_key_and_type_for_type():
    document = yaml.safe_load(PARAMS_FILE.read_text())
    assert list(document) == ["/**"]
    in_yaml = flatten(document["/**"]["ros__parameters"])
    specs = {spec.name: spec for spec in parameter_specs()}
    assert sorted(in_yaml) == sorted(specs)
    for name, value in in_yaml.items():
        # Exact types, as ROS checks them: a YAML 1 would not fill a double parameter, and true is not an int.
        assert type(value) is specs[name].type, name
        assert value == specs[name].default, f"{name}: YAML says {value!r}, config.py says {specs[name].default!r}"


def test_every_parameter_is_documented():
    for spec in parameter_specs():
        assert len(spec.help) > 15, spec.name
        assert spec.type in (bool, int, float, str), spec.name
        spec.validate(spec.default)


def test_params_file_loads_to_the_defaults():
    assert load_config(PARAMS_FILE) == Config()


def test_node_specific_section_overrides_wildcard(tmp_path):
    path = tmp_path / "p.yaml"
    path.write_text("/**:\n  ros__parameters:\n    device: cpu\n    use_sim_time: true\n"
                    "motionllm:\n  ros__parameters:\n    input:\n      qos_depth: 3\n")
    config = load_config(path)
    assert config.device == "cpu" and config.input.qos_depth == 3


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"input.qos_depth": "1"}, "'input.qos_depth' must be int"),
        ({"input.qos_depth": 0}, "'input.qos_depth' must be >= 1"),
        ({"input": {"image_transport": "theora"}}, "'input.image_transport' must be one of"),
        ({"autostart": 1}, "'autostart' must be bool"),
        ({"input.qos_depth": True}, "'input.qos_depth' must be int"),
        ({"input.no_such_key": 1}, "unknown parameter 'input.no_such_key'"),
        ({"window.length_s": float("nan")}, "'window.length_s' must be a finite number"),
        ({"camera.hfov_deg": float("inf")}, "'camera.hfov_deg' must be a finite number"),
    ],
)
def test_invalid_values_name_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        Config().replace(overrides)


def test_bad_parameter_files(tmp_path):
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError, match="not found"):
        ros_parameters_from_yaml(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("/**: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        ros_parameters_from_yaml(broken)
    other = tmp_path / "other.yaml"
    other.write_text("some_other_node:\n  ros__parameters:\n    x: 1\n")
    with pytest.raises(ConfigError, match="no 'ros__parameters'"):
        ros_parameters_from_yaml(other)


def test_cli_overrides_are_typed_by_the_declared_type():
    assert parse_override("input.qos_depth=4") == ("input.qos_depth", 4)
    assert parse_override("autostart=false") == ("autostart", False)
    assert parse_override("input.bag_topic=/cam/image") == ("input.bag_topic", "/cam/image")
    with pytest.raises(ConfigError, match="'input.qos_depth' must be int"):
        parse_override("input.qos_depth=four")
    with pytest.raises(ConfigError, match="NAME=VALUE"):
        parse_override("input.qos_depth")
