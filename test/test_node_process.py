"""motionllm_node as a process, the way a robot starts it: its options, Ctrl-C, and a ROS 2 that cannot start.
Real ROS 2 (scripts/test_ros.sh); skipped without rclpy and the generated messages."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("rclpy", reason="needs ROS 2's rclpy: bash scripts/setup_ros.sh, then bash scripts/test_ros.sh")
pytest.importorskip("motionllm_ros.msg", reason="needs the generated messages: colcon build (scripts/setup_ros.sh)")

from ros_harness import RosHarness, wait_for  # noqa: E402

from motionllm_ros.ros.node import node_arguments  # noqa: E402

NODE_SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "motionllm_node"


def test_options_become_ros_arguments_ahead_of_the_given_ones():
    argv = node_arguments(["motionllm_node", "--namespace", "robot", "--params-file", "p.yaml", "--image-topic",
                           "/cam/image", "--autostart", "false", "--log-level", "warn", "--ros-args", "-p",
                           "device:=cpu"])
    assert argv == ["motionllm_node", "--ros-args", "-r", "__ns:=/robot", "--params-file", "p.yaml", "-p",
                    "input.image_topic:='/cam/image'", "-p", "autostart:=false", "--log-level", "warn",
                    "--ros-args", "-p", "device:=cpu"]
    assert node_arguments(["motionllm_node"]) == ["motionllm_node"]
    with pytest.raises(SystemExit):
        node_arguments(["motionllm_node", "--image-transport-typo", "raw"])


def start_node(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(NODE_SCRIPT), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})})


@pytest.fixture
def harness():
    bed = RosHarness()
    yield bed
    bed.close()


def test_ctrl_c_shuts_the_node_down_quietly(harness, pose_model_path):
    process = start_node("--namespace", "sigint", "--image-topic", "/sigint_camera/image",
                         "--ros-args", "-p", f"pose.model:={pose_model_path}")
    try:
        # Started with autostart, by its options: active, in its namespace, on the given topic.
        subscribers = wait_for(lambda: [(info.node_namespace, info.node_name) for info in harness.client
                                        .get_subscriptions_info_by_topic("/sigint_camera/image")
                                        if info.node_name != "_NODE_NAME_UNKNOWN_"],  # not discovered yet
                               "the node's image subscription")
        assert subscribers == [("/sigint", "motionllm")]
        assert wait_for(lambda: harness.state_of("/sigint/motionllm") == "active", "the node to be active")
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 0, stderr
    assert "Traceback" not in stderr and "Failed to publish log message" not in stderr, stderr


def test_a_ros_2_that_cannot_start_gives_one_line_and_exit_1(tmp_path, pose_model_path):
    # A Fast DDS profile asking data sharing for every writer: refused for ROS 2's unbounded message types.
    profile = tmp_path / "data_sharing.xml"
    profile.write_text('<?xml version="1.0" encoding="UTF-8" ?>\n'
                       '<dds xmlns="http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles"><profiles>'
                       '<data_writer profile_name="writer" is_default_profile="true"><qos><data_sharing>'
                       '<kind>ON</kind></data_sharing></qos></data_writer></profiles></dds>\n')
    process = start_node("--ros-args", "-p", f"pose.model:={pose_model_path}",
                         env={"FASTRTPS_DEFAULT_PROFILES_FILE": str(profile), "FASTDDS_DEFAULT_PROFILES_FILE":
                              str(profile), "RMW_FASTRTPS_USE_QOS_FROM_XML": "1"})
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 1, stderr
    assert "Traceback" not in stderr and "RuntimeWarning" not in stderr, stderr
    assert stderr.strip().splitlines()[-1].startswith("motionllm_node: cannot start ROS 2 (RCLError): ")


def test_a_bad_parameter_gives_one_line_and_exit_2():
    process = start_node("--ros-args", "-p", "input.qos_depth:=0")
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 2, stderr
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].startswith("motionllm_node: cannot start: ")
