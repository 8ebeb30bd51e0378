"""The launch files, loaded with a double of launch / launch_ros (ROS 2 cannot be installed here).

Only what the double can show: the declared arguments, the node and processes the files start, their
parameters and command lines. That `ros2 launch` really starts them needs a ROS 2 machine.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from launch_double import installed, load_launch_file, run

from motionllm_ros.config import parameter_specs

REPO_ROOT = Path(__file__).resolve().parents[1]
LAUNCH = REPO_ROOT / "launch"
SPECS = {spec.name: spec for spec in parameter_specs()}


@pytest.fixture(scope="module")
def launch():
    with installed():
        from launch.utilities import perform_substitutions
        from launch_ros import substitutions

        # The installed share folder holds config/ and launch/ as the source tree does (CMakeLists.txt).
        substitutions.PACKAGE_SHARES["motionllm_ros"] = str(REPO_ROOT)
        yield perform_substitutions


def arguments_of(description):
    from launch.actions import DeclareLaunchArgument

    return {entity.name: entity for entity in description.entities if isinstance(entity, DeclareLaunchArgument)}


def node_description():
    return load_launch_file(LAUNCH / "motionllm.launch.py").generate_launch_description()


def the_node(actions):
    from launch_ros.actions import LifecycleNode

    (node,) = [action for action in actions if isinstance(action, LifecycleNode)]
    return node


# ------------------------------------------------------------------------------------------- motionllm.launch
def test_node_launch_arguments(launch):
    arguments = arguments_of(node_description())
    assert list(arguments) == ["namespace", "params_file", "image_topic", "image_transport", "device", "autostart",
                               "use_sim_time", "log_level", "fastdds_profile"]
    for argument in arguments.values():
        assert argument.description and argument.description != "no description given"
    assert arguments["log_level"].default_value == "info"
    for name in ("namespace", "image_topic", "image_transport", "device", "autostart", "use_sim_time"):
        assert arguments[name].default_value == "", name  # empty: the parameter file decides
    context, _ = run(node_description(), {})
    assert Path(context.launch_configurations["params_file"]) == REPO_ROOT / "config" / "motionllm.yaml"


def test_choices_of_the_arguments_are_the_config_choices(launch):
    module = load_launch_file(LAUNCH / "motionllm.launch.py")
    arguments = arguments_of(module.generate_launch_description())
    for argument, (parameter, value_type, choices, _description) in module.PARAMETER_ARGUMENTS.items():
        if parameter == "use_sim_time":  # rclpy's own bool parameter
            assert value_type is bool
            continue
        spec = SPECS[parameter]
        assert value_type is spec.type, parameter
        if spec.choices is not None:
            assert arguments[argument].choices == ["", *spec.choices]
        elif spec.type is bool:
            assert {"true", "false"} <= set(arguments[argument].choices)


def test_node_started_with_defaults(launch):
    perform = launch
    context, actions = run(node_description(), {})
    node = the_node(actions)
    assert (node.package, node.executable, node.node_name) == ("motionllm_ros", "motionllm_node", "motionllm")
    assert perform(context, node.node_namespace) == ""
    assert node.remappings is None  # the image topic is a parameter, not a remap
    params_file, overrides = node.parameters
    assert Path(perform(context, params_file)) == REPO_ROOT / "config" / "motionllm.yaml"
    assert overrides == {}  # nothing given: the parameter file stands
    assert [perform(context, part) for part in node.ros_arguments] == ["--log-level", "info"]
    assert node.output == "screen"


def test_the_node_gets_the_shipped_fastdds_profile_unless_the_environment_names_one(launch, monkeypatch):
    for name in ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE"):
        monkeypatch.delenv(name, raising=False)
    shipped = str(REPO_ROOT / "config" / "fastdds_profile.xml")
    assert Path(shipped).is_file()
    for distro, variable in (("jazzy", "FASTRTPS_DEFAULT_PROFILES_FILE"), ("humble", "FASTRTPS_DEFAULT_PROFILES_FILE"),
                             ("kilted", "FASTDDS_DEFAULT_PROFILES_FILE")):
        monkeypatch.setenv("ROS_DISTRO", distro)  # one variable: Fast DDS 3 would load the file twice with both
        _, actions = run(node_description(), {})
        assert the_node(actions).additional_env == {variable: shipped}, distro
    _, actions = run(node_description(), {"fastdds_profile": ""})
    assert the_node(actions).additional_env is None  # Fast DDS's defaults
    monkeypatch.setenv("FASTRTPS_DEFAULT_PROFILES_FILE", "/etc/mine.xml")
    _, actions = run(node_description(), {})
    assert the_node(actions).additional_env is None  # the user's own profile stands


def test_given_arguments_override_typed_parameters(launch):
    perform = launch
    context, actions = run(node_description(), {
        "namespace": "robot1", "image_topic": "/front/image_raw", "image_transport": "compressed",
        "device": "cpu", "autostart": "false", "use_sim_time": "true", "log_level": "debug",
        "params_file": "/tmp/mine.yaml"})
    node = the_node(actions)
    assert perform(context, node.node_namespace) == "robot1"
    params_file, overrides = node.parameters
    assert perform(context, params_file) == "/tmp/mine.yaml"
    assert {name: (value.value, value.value_type) for name, value in overrides.items()} == {
        "input.image_topic": ("/front/image_raw", str),
        "input.image_transport": ("compressed", str),
        "device": ("cpu", str),
        "autostart": ("false", bool),
        "use_sim_time": ("true", bool),
    }
    assert [perform(context, part) for part in node.ros_arguments] == ["--log-level", "debug"]


def test_invalid_choice_is_refused(launch):
    with pytest.raises(RuntimeError, match="image_transport"):
        run(node_description(), {"image_transport": "theora"})


def test_the_executable_is_installed():
    script = REPO_ROOT / "scripts" / "motionllm_node"
    assert script.is_file() and os.access(script, os.X_OK)
    assert "motionllm_ros.ros.node import main" in script.read_text()
    cmake = (REPO_ROOT / "CMakeLists.txt").read_text()
    assert "scripts/motionllm_node" in cmake and "DIRECTORY launch config" in cmake


# ----------------------------------------------------------------------------------------- bag_replay.launch
def replay_description():
    return load_launch_file(LAUNCH / "bag_replay.launch.py").generate_launch_description()


def processes(actions):
    from launch.actions import ExecuteProcess

    return [action for action in actions if type(action) is ExecuteProcess]


def test_replay_arguments(launch):
    arguments = arguments_of(replay_description())
    assert set(arguments) == {"bag", "rate", "delay", "image_topic", "namespace", "params_file", "record",
                              "record_path"}
    assert arguments["bag"].default_value is None  # required
    assert (arguments["rate"].default_value, arguments["record"].default_value) == ("1.0", "false")
    with pytest.raises(RuntimeError, match="required argument 'bag'"):
        run(replay_description(), {})


def test_replay_plays_the_bag_with_clock_and_includes_the_node_on_sim_time(launch):
    from launch.actions import IncludeLaunchDescription

    perform = launch
    context, actions = run(replay_description(), {"bag": "/data/walk.mcap", "rate": "0.5",
                                                  "image_topic": "/camera/image_raw"})
    (play,) = processes(actions)
    command = [perform(context, part) for part in play.cmd]
    assert command == ["ros2", "bag", "play", "/data/walk.mcap", "--clock", "--rate", "0.5", "--delay", "2.0"]
    assert command.index("/data/walk.mcap") < command.index("--clock")  # --clock would take a value after it

    (include,) = [action for action in actions if isinstance(action, IncludeLaunchDescription)]
    included = Path(perform(context, include.launch_description_source.launch_file_path))
    assert included == LAUNCH / "motionllm.launch.py"
    forwarded = {name: perform(context, value) for name, value in include.launch_arguments}
    assert forwarded["use_sim_time"] == "true" and forwarded["image_topic"] == "/camera/image_raw"

    # What the included file then starts with those arguments.
    inner_context, inner_actions = run(load_launch_file(included).generate_launch_description(), forwarded)
    _params_file, overrides = the_node(inner_actions).parameters
    assert (overrides["use_sim_time"].value, overrides["use_sim_time"].value_type) == ("true", bool)
    assert overrides["input.image_topic"].value == "/camera/image_raw"


def test_replay_records_behavior_and_diagnostics_when_asked(launch):
    perform = launch
    context, actions = run(replay_description(), {"bag": "/data/walk", "record": "false"})
    assert len(processes(actions)) == 1  # only ros2 bag play
    context, actions = run(replay_description(), {"bag": "/data/walk", "record": "true", "namespace": "robot1",
                                                  "record_path": "/tmp/out"})
    record = [[perform(context, part) for part in process.cmd] for process in processes(actions)
              if process.cmd[:3] == ["ros2", "bag", "record"]]
    assert record == [["ros2", "bag", "record", "-o", "/tmp/out", "/robot1/motionllm/behavior", "/diagnostics"]]
    context, actions = run(replay_description(), {"bag": "/data/walk", "record": "true"})
    assert [process.cmd for process in processes(actions)][-1] == [
        "ros2", "bag", "record", "/motionllm/behavior", "/diagnostics"]
