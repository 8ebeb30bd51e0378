"""The lifecycle node, run against the rclpy test double (rclpy cannot be installed here).

Two engines: the real one (`runtime.build_engine`, MediaPipe + SMPL fit + primitives) where a test needs what the
models see, with the real pose model and a real clip; and, for the wiring alone (parameters, QoS, intake,
lifecycle, faults), a real StreamingEngine whose perception stage stands in for MediaPipe: it sees nobody and
keeps the frames it was given, so those tests run without the model file.

What the double cannot show, a real ROS 2 run must: rmw QoS matching and the incompatible-QoS event firing,
multi-threaded executor scheduling, the action protocol on the wire (cancel arriving while a goal executes),
signal handling, launch_ros starting the process.
"""

from __future__ import annotations

import array
import logging
import threading
import time
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from rclpy_double import installed

from motionllm_ros.behavior.describer import PrimitivesDescriber
from motionllm_ros.config import parameter_specs
from motionllm_ros.engine import StreamingEngine
from motionllm_ros.ros.conversions import seconds_to_time, stamp_to_seconds
from motionllm_ros.runtime import engine_params

WIDTH, HEIGHT = 8, 6
RGB = np.random.default_rng(3).integers(0, 256, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)
RESULT_TIMEOUT_S = 120.0  # generous: a result is normally there within seconds; a hang fails instead of blocking


@pytest.fixture(scope="module")
def ros():
    """The double as rclpy & co., and the node module imported against it (both forgotten after this module)."""
    with installed("motionllm_ros.ros.node", "motionllm_ros.ros.qos"):
        import rclpy
        from builtin_interfaces.msg import Time as TimeMsg
        from diagnostic_msgs.msg import DiagnosticStatus
        from double_messages import STORE
        from rclpy.action import CancelResponse
        from rclpy.action.server import STATUS_ABORTED, STATUS_CANCELED, STATUS_SUCCEEDED
        from rclpy.clock import ClockType
        from rclpy.context import Context
        from rclpy.exceptions import ParameterException
        from rclpy.lifecycle import TransitionCallbackReturn
        from rclpy.logging import LoggingSeverity, get_logger
        from rclpy.parameter import Parameter
        from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSPolicyKind, ReliabilityPolicy,
                               qos_profile_sensor_data)
        from rclpy.qos_event import QoSRequestedIncompatibleQoSInfo
        from rclpy.time import Time
        from sensor_msgs.msg import CameraInfo, CompressedImage, Image
        from std_msgs.msg import Header
        from visualization_msgs.msg import Marker, MarkerArray

        from motionllm_ros.action import DescribeBehavior
        from motionllm_ros.msg import BehaviorDescription, SmplPose
        from motionllm_ros.ros import node as node_module
        from motionllm_ros.srv import QueryBehavior

        yield SimpleNamespace(**locals())


@pytest.fixture
def ros_context(ros):
    ros.rclpy.init()
    ros.nodes = []
    yield ros
    for node in ros.nodes:  # stops the engines' worker threads
        node.destroy_node()
    ros.rclpy.try_shutdown()


class NobodyPerception:
    """Stands in for MediaPipe and the SMPL fit (the engine's Perception protocol): sees nobody in any frame, keeps
    the frames it was given, raises on the stamps in `fail_at` (an injected stage fault)."""

    def __init__(self, fail_at=()):
        self.frames = []  # (stamp, rgb)
        self.fail_at = set(fail_at)
        self.closed = False
        self.intrinsics = []  # every calibration handed over (camera_info)

    def set_intrinsics(self, intrinsics):
        self.intrinsics.append(intrinsics)

    def process(self, rgb, stamp):
        if stamp in self.fail_at:
            raise RuntimeError(f"injected fault at {stamp}")
        self.frames.append((stamp, rgb))
        return SimpleNamespace(valid=False, reason="no_person", track_id=None, joints=np.full((22, 3), np.nan),
                               joint_seen=np.zeros(22, bool))

    def close(self):
        self.closed = True


class ScriptedPerception:
    """Stands in for MediaPipe and the SMPL fit: frame i gets `script[i % len(script)]`, one of "fit" (track 7,
    a valid fit: the synthetic SMPL body standing 3 m in front of the camera), "no_fit" (track 7, the fit failed)
    or "nobody"."""

    def __init__(self, script):
        from motionllm_ros.perception.smpl import default_smpl_model

        self.script = list(script)
        self.model = default_smpl_model()
        self.calls = 0

    def process(self, rgb, stamp):
        from motionllm_ros.perception.pipeline import PersonFrame

        kind = self.script[self.calls % len(self.script)]
        self.calls += 1
        if kind == "fit":
            transl = np.array([0.0, 0.0, -3.0]) - self.model.rest_joints()[0]
            joints = self.model.forward_kinematics(None, np.zeros(3), np.zeros(69), transl).joints[:22]
            return PersonFrame(stamp, True, None, 7, 1, np.zeros(3), np.zeros(69), np.zeros(10), transl, joints,
                               0.01, np.ones(22, bool))
        nan3 = np.full(3, np.nan)
        return PersonFrame(stamp, False, "too_few_keypoints" if kind == "no_fit" else "no_person",
                           7 if kind == "no_fit" else None, int(kind == "no_fit"), nan3, np.full(69, np.nan),
                           np.zeros(10), nan3, np.full((22, 3), np.nan), float("nan"))


def engine_on(perception, describer=None):
    """An engine factory for the node: the real engine on `perception` with `describer` (the primitives unless
    given), parameters from the config."""
    def factory(config, on_result, on_person):
        return StreamingEngine(perception, describer or PrimitivesDescriber(), engine_params(config),
                               on_result=on_result, on_person=on_person)
    return factory


def make_node(ros, perception=None, namespace=None, context=None, describer=None, **overrides):
    """A node with `overrides` as parameter overrides (`a__b=1` sets a.b), lossless unless said otherwise. With
    `perception`, the engine runs on it; without, the node builds the real one from pose.model."""
    overrides.setdefault("engine__lossless", True)
    parameters = [ros.Parameter(name.replace("__", "."), value=value) for name, value in overrides.items()]
    kwargs = {"engine_factory": engine_on(perception, describer)} if perception is not None else {}
    node = ros.node_module.MotionLLMNode(namespace=namespace, context=context, parameter_overrides=parameters,
                                         **kwargs)
    if context is None:
        ros.nodes.append(node)
    return node


def stop_engine(node):
    """Deactivate and clean up: the engine finishes the frames it was given (lossless) and stops."""
    node.trigger_deactivate()
    node.trigger_cleanup()


def logged(node, severity=None):
    return [text for level, text in node.get_logger().records if severity is None or level == severity]


def image(ros, sec=10, nanosec=0, encoding="rgb8", height=HEIGHT, width=WIDTH, step=WIDTH * 3,
          data=RGB.tobytes()):
    """A sensor_msgs/Image as rclpy delivers it (data is array('B'))."""
    return ros.Image(header=ros.Header(stamp=ros.TimeMsg(sec=sec, nanosec=nanosec), frame_id="camera"),
                     height=height, width=width, encoding=encoding, step=step, data=array.array("B", data))


def compressed(ros, data, sec=10):
    return ros.CompressedImage(header=ros.Header(stamp=ros.TimeMsg(sec=sec, nanosec=0), frame_id="camera"),
                               format="jpeg", data=array.array("B", data))


def image_subscription(node):
    (subscription,) = [s for s in node.subscriptions if not s.topic_name.endswith("/camera_info")]
    return subscription


def camera_info_subscription(node):
    (subscription,) = [s for s in node.subscriptions if s.topic_name.endswith("/camera_info")]
    return subscription


def camera_info(ros, k=(500.0, 0.0, 320.0, 0.0, 510.0, 240.0, 0.0, 0.0, 1.0), width=640, height=480):
    return ros.CameraInfo(header=ros.Header(stamp=ros.TimeMsg(sec=10, nanosec=0), frame_id="camera"),
                          width=width, height=height, k=np.array(k, dtype=np.float64))


def behavior_publisher(node):
    (publisher,) = [p for p in node.publishers if p.topic_name.endswith("/behavior")]
    return publisher


def publisher_of(node, suffix):
    (publisher,) = [p for p in node.publishers if p.topic_name.endswith(suffix)]
    return publisher


def query_service(node):
    (service,) = node.services
    return service


def describe_server(node):
    (server,) = node.waitables
    return server


def diagnostics(node):
    """Runs the diagnostics timer as the executor would; returns (level, message, values) of our status."""
    for timer in node.timers:
        timer.fire()
    publisher = next(p for p in node.publishers if p.topic_name == "/diagnostics")
    (status,) = publisher.published[-1].status
    assert status.name == "motionllm: image input"
    return status.level, status.message, {kv.key: kv.value for kv in status.values}


def set_sim_time(ros, node, seconds):
    node.get_clock().set_ros_time_override(ros.Time(seconds=seconds, clock_type=ros.ClockType.ROS_TIME))


def query(ros, node, question="", track_id=-1, lookback_sec=0.0, allow_cached=True):
    return query_service(node).call(ros.QueryBehavior.Request(question=question, track_id=track_id,
                                                              lookback_sec=lookback_sec, allow_cached=allow_cached))


def describe(ros, node, question="", track_id=-1, lookback_sec=0.0, on_feedback=None):
    goal = ros.DescribeBehavior.Goal(question=question, track_id=track_id, lookback_sec=lookback_sec)
    return describe_server(node).send_goal(goal, on_feedback=on_feedback)


# -------------------------------------------------------------------------------------------------- parameters
def test_every_config_parameter_is_declared_with_its_type_default_and_help(ros_context):
    ros = ros_context
    node = ros.node_module.MotionLLMNode()
    types = {bool: ros.Parameter.Type.BOOL, int: ros.Parameter.Type.INTEGER, float: ros.Parameter.Type.DOUBLE,
             str: ros.Parameter.Type.STRING}
    for spec in parameter_specs():
        parameter = node.get_parameter(spec.name)
        assert parameter.value == spec.default and parameter.type_ == types[spec.type], spec.name
        descriptor = node.describe_parameter(spec.name)
        assert spec.help in descriptor.description
        if spec.choices:
            for choice in spec.choices:
                assert str(choice) in descriptor.description and str(choice) in descriptor.additional_constraints
        if spec.min is not None and spec.max is not None:
            ranges = descriptor.integer_range if spec.type is int else descriptor.floating_point_range
            assert (ranges[0].from_value, ranges[0].to_value) == (spec.min, spec.max), spec.name
    depth = node.describe_parameter("input.qos_depth").integer_range[0]
    assert (depth.from_value, depth.to_value) == (1, 100)
    assert node.describe_parameter("autostart").read_only
    assert not node.describe_parameter("input.image_topic").read_only


def test_parameter_of_wrong_type_or_range_is_refused_at_start(ros_context):
    ros = ros_context
    with pytest.raises(ros.ParameterException, match="input.qos_depth"):
        make_node(ros, input__qos_depth=1.0)  # a double into an integer parameter
    with pytest.raises(ros.ParameterException, match="out of range"):
        make_node(ros, input__qos_depth=0)


def test_configure_with_a_bad_parameter_fails_and_names_it(ros_context):
    ros = ros_context
    node = make_node(ros, NobodyPerception(), input__image_transport="theora")
    assert node.trigger_configure() == ros.TransitionCallbackReturn.FAILURE
    assert node._state_machine.current_state == (1, "unconfigured")
    (error,) = logged(node, ros.LoggingSeverity.ERROR)
    assert "input.image_transport" in error and "theora" in error
    assert node.subscriptions == [] and node.engine is None


def test_runtime_parameter_changes_are_validated_and_only_taken_while_unconfigured(ros_context):
    ros = ros_context
    node = make_node(ros, NobodyPerception())
    (result,) = node.set_parameters([ros.Parameter("input.image_transport", value="theora")])
    assert not result.successful and "input.image_transport" in result.reason
    (result,) = node.set_parameters([ros.Parameter("autostart", value=False)])
    assert not result.successful  # read-only
    assert node.trigger_configure() == ros.TransitionCallbackReturn.SUCCESS
    (result,) = node.set_parameters([ros.Parameter("input.image_transport", value="compressed")])
    assert not result.successful and "configure" in result.reason
    node.trigger_cleanup()
    (result,) = node.set_parameters([ros.Parameter("input.image_transport", value="compressed")])
    assert result.successful
    node.trigger_configure()
    assert image_subscription(node).topic_name == "/camera/image_raw/compressed"


# ------------------------------------------------------------------------------------------------------ models
@pytest.mark.parametrize("parameter, value", [("pose__model", "/nonexistent/pose_landmarker_full.task"),
                                              ("pose__model", "")])
def test_configure_without_the_pose_model_fails_naming_pose_model(ros_context, parameter, value):
    ros = ros_context
    node = make_node(ros, **{parameter: value})
    assert node.trigger_configure() == ros.TransitionCallbackReturn.FAILURE
    assert node._state_machine.current_state == (1, "unconfigured")
    (error,) = logged(node, ros.LoggingSeverity.ERROR)
    assert "pose.model" in error and error.startswith("cannot configure")
    assert node.engine is None and node.subscriptions == []
    assert diagnostics(node)[2]["models"] == "not loaded"
    assert not node.start_if_autostart()  # autostart fails the same way and says so
    assert any("autostart: configure failed" in text for text in logged(node, ros.LoggingSeverity.ERROR))


def test_configure_with_a_missing_smpl_model_fails_naming_smpl_model(ros_context, pose_model_path, tmp_path):
    ros = ros_context
    node = make_node(ros, pose__model=str(pose_model_path), smpl__model=str(tmp_path / "SMPL_NEUTRAL.pkl"))
    assert node.trigger_configure() == ros.TransitionCallbackReturn.FAILURE
    (error,) = logged(node, ros.LoggingSeverity.ERROR)
    assert "smpl.model" in error and "SMPL_NEUTRAL.pkl" in error
    assert node.engine is None


def test_models_load_at_configure_and_are_freed_at_cleanup(ros_context, pose_model_path):
    ros = ros_context
    node = make_node(ros, pose__model=str(pose_model_path))
    assert node.trigger_configure() == ros.TransitionCallbackReturn.SUCCESS
    engine = node.engine
    assert engine is not None and engine.params.lossless  # engine.lossless is true in make_node
    assert diagnostics(node)[2]["models"] == "loaded"
    assert any("models loaded" in text and str(pose_model_path) in text for text in logged(node))
    node.trigger_cleanup()
    assert node.engine is None and diagnostics(node)[2]["models"] == "not loaded"
    assert not any(worker.is_alive() for worker in engine._workers)


def test_cleanup_and_shutdown_close_the_engine_and_its_perception(ros_context):
    ros = ros_context
    for last_transition in ("cleanup", "shutdown"):
        perception = NobodyPerception()
        node = make_node(ros, perception)
        node.start_if_autostart()
        engine = node.engine
        node.trigger_deactivate()
        getattr(node, f"trigger_{last_transition}")()
        assert node.engine is None and perception.closed, last_transition
        assert not any(worker.is_alive() for worker in engine._workers)


def test_live_mode_unless_engine_lossless(ros_context):
    ros = ros_context
    node = make_node(ros, NobodyPerception(), engine__lossless=False, engine__frame_queue=3)
    node.trigger_configure()
    assert not node.engine.params.lossless and node.engine.params.frame_queue == 3
    lossless = make_node(ros, NobodyPerception(), engine__lossless=True)
    lossless.trigger_configure()
    assert lossless.engine.params.lossless


def test_destroy_node_frees_the_engine(ros_context):
    ros = ros_context
    perception = NobodyPerception()
    node = make_node(ros, perception)
    node.start_if_autostart()
    node.destroy_node()  # what main() does after Ctrl-C, without any transition
    assert node.engine is None and perception.closed and node.waitables == []


# ------------------------------------------------------------------------------------------------ subscription
def test_raw_subscription_is_best_effort_depth_1_in_its_own_group(ros_context):
    ros = ros_context
    node = make_node(ros, NobodyPerception(), input__image_topic="/front/image")
    node.trigger_configure()
    subscription = image_subscription(node)
    assert subscription.topic_name == "/front/image" and subscription.msg_type is ros.Image
    qos = subscription.qos_profile
    assert (qos.history, qos.depth, qos.reliability, qos.durability) == (
        ros.HistoryPolicy.KEEP_LAST, 1, ros.ReliabilityPolicy.BEST_EFFORT, ros.DurabilityPolicy.VOLATILE)
    assert subscription.callback_group is not node.default_callback_group
    assert subscription.event_callbacks.incompatible_qos is not None


def test_compressed_reliable_subscription_in_a_namespace(ros_context):
    ros = ros_context
    node = make_node(ros, NobodyPerception(), namespace="robot", input__image_topic="camera/image",
                     input__image_transport="compressed", input__qos_reliability="reliable", input__qos_depth=2)
    node.trigger_configure()
    subscription = image_subscription(node)
    assert subscription.topic_name == "/robot/camera/image/compressed"
    assert subscription.msg_type is ros.CompressedImage
    assert (subscription.qos_profile.reliability, subscription.qos_profile.depth) == (
        ros.ReliabilityPolicy.RELIABLE, 2)


def test_camera_info_beside_the_images_sets_the_calibration_once(ros_context):
    ros = ros_context
    perception = NobodyPerception()
    node = make_node(ros, perception, namespace="robot", input__image_topic="head/image_raw",
                     input__image_transport="compressed")
    node.trigger_configure()
    info = camera_info_subscription(node)
    # image_transport's convention, whatever the transport: camera_info in the image topic's namespace.
    assert info.topic_name == "/robot/head/camera_info" and info.msg_type is ros.CameraInfo
    assert info.qos_profile == image_subscription(node).qos_profile
    assert diagnostics(node)[2]["camera intrinsics"] == "camera.hfov_deg"
    info.deliver(camera_info(ros))
    info.deliver(camera_info(ros))  # drivers repeat it with every image: handed over once
    (intrinsics,) = perception.intrinsics
    assert (intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy, intrinsics.width, intrinsics.height) == (
        500.0, 510.0, 320.0, 240.0, 640, 480)
    assert diagnostics(node)[2]["camera intrinsics"] == "camera_info"
    info.deliver(camera_info(ros, width=1280, height=960, k=(1000.0, 0, 640, 0, 1020, 480, 0, 0, 1)))
    assert [i.width for i in perception.intrinsics] == [640, 1280]  # a new calibration is taken
    assert any("camera intrinsics from /robot/head/camera_info: fx 1000.0" in text for text in logged(node))


def test_uncalibrated_camera_info_is_ignored_with_one_warning(ros_context):
    ros = ros_context
    perception = NobodyPerception()
    node = make_node(ros, perception)
    node.trigger_configure()
    for _ in range(3):
        camera_info_subscription(node).deliver(camera_info(ros, k=(0.0,) * 9))
    assert perception.intrinsics == []
    warnings = [text for text in logged(node, ros.LoggingSeverity.WARN) if "camera_info" in text]
    assert len(warnings) == 1 and "fx = 0 (uncalibrated camera)" in warnings[0] and "camera.hfov_deg" in warnings[0]


def test_camera_info_can_be_turned_off(ros_context):
    ros = ros_context
    node = make_node(ros, NobodyPerception(), input__camera_info=False)
    node.trigger_configure()
    assert [s.topic_name for s in node.subscriptions] == ["/camera/image_raw"]


def test_publishers_that_can_never_deliver_are_named_at_configure(ros_context):
    ros = ros_context
    camera = ros.rclpy.node.Node("camera_driver", namespace="sensors")
    camera.create_publisher(ros.Image, "/camera/image_raw", ros.qos_profile_sensor_data)  # best effort
    camera.create_publisher(ros.CompressedImage, "/camera/image_raw", 1)
    node = make_node(ros, NobodyPerception(), input__qos_reliability="reliable")
    node.trigger_configure()
    warnings = logged(node, ros.LoggingSeverity.WARN)
    assert any("/sensors/camera_driver" in text and "best_effort" in text and "input.qos_reliability" in text
               for text in warnings)
    assert any("sensor_msgs/msg/CompressedImage" in text and "input.image_transport" in text for text in warnings)


def test_best_effort_subscription_raises_no_qos_warning(ros_context):
    ros = ros_context
    camera = ros.rclpy.node.Node("camera_driver")
    camera.create_publisher(ros.Image, "/camera/image_raw", ros.qos_profile_sensor_data)
    node = make_node(ros, NobodyPerception())
    node.trigger_configure()
    assert logged(node, ros.LoggingSeverity.WARN) == []


def test_incompatible_qos_event_is_logged(ros_context):
    ros = ros_context
    node = make_node(ros, NobodyPerception(), input__qos_reliability="reliable")
    node.trigger_configure()
    event = ros.QoSRequestedIncompatibleQoSInfo(total_count=2, total_count_change=1,
                                                last_policy_kind=ros.QoSPolicyKind.RELIABILITY)
    image_subscription(node).event_callbacks.incompatible_qos(event)
    (warning,) = logged(node, ros.LoggingSeverity.WARN)
    assert "RELIABILITY" in warning and "/camera/image_raw" in warning and "reliability=reliable" in warning


# ----------------------------------------------------------------------------------- behavior, query, describe
def test_outputs_are_named_typed_and_in_their_own_callback_groups(ros_context):
    ros = ros_context
    node = make_node(ros, NobodyPerception(), namespace="robot")
    publisher = behavior_publisher(node)
    assert publisher.topic_name == "/robot/motionllm/behavior" and publisher.msg_type is ros.BehaviorDescription
    qos = publisher.qos_profile
    assert (qos.history, qos.depth, qos.reliability, qos.durability) == (
        ros.HistoryPolicy.KEEP_LAST, 10, ros.ReliabilityPolicy.RELIABLE, ros.DurabilityPolicy.TRANSIENT_LOCAL)
    service, server = query_service(node), describe_server(node)
    assert service.srv_name == "/robot/motionllm/query" and service.srv_type is ros.QueryBehavior
    assert server.action_name == "/robot/motionllm/describe"
    groups = [node.default_callback_group, service.callback_group, server.callback_group]
    node.trigger_configure()
    groups.append(image_subscription(node).callback_group)
    assert len({id(group) for group in groups}) == 4
    assert not publisher.is_activated  # a lifecycle publisher: silent until activation


def test_query_and_describe_refuse_while_not_active_or_before_any_description(ros_context):
    ros = ros_context
    node = make_node(ros, NobodyPerception())
    response = query(ros, node)
    assert not response.success and "unconfigured" in response.message and response.answer == ""
    assert (response.stamp.sec, response.stamp.nanosec, response.evidence) == (0, 0, [])
    assert describe(ros, node) is None  # goal rejected
    node.trigger_configure()
    assert not query(ros, node).success and describe(ros, node) is None
    node.trigger_activate()
    response = query(ros, node)
    assert not response.success and "no description yet" in response.message
    handle = describe(ros, node)
    assert handle.status == ros.STATUS_ABORTED and not handle.result.success
    assert "no description yet" in handle.result.message and handle.feedback == []


def test_engine_faults_are_counted_and_do_not_break_callbacks(ros_context):
    ros = ros_context
    perception = NobodyPerception(fail_at={101.0})
    node = make_node(ros, perception, use_sim_time=True, window__length_s=2.0, window__stride_s=1.0)
    set_sim_time(ros, node, 110.0)
    node.start_if_autostart()
    for i in range(50):  # 10 Hz from 100.0 to 104.9 s: windows end at 102, 103 and 104 s
        stamp = seconds_to_time(100.0 + i / 10, ros.TimeMsg)
        image_subscription(node).deliver(image(ros, sec=stamp.sec, nanosec=stamp.nanosec))
    publisher = behavior_publisher(node)
    assert publisher.wait_for_published(3, RESULT_TIMEOUT_S)
    assert [stamp_to_seconds(msg.window_end) for msg in publisher.published] == [102.0, 103.0, 104.0]
    first = publisher.published[0]
    assert first.track_id == ros.BehaviorDescription.TRACK_NONE and first.num_frames == 19  # one frame failed
    assert first.description == "nobody tracked in this window" and list(first.labels) == []
    assert first.latency_sec == pytest.approx(110.0 - 102.0)
    level, message, values = diagnostics(node)
    assert level == ros.DiagnosticStatus.WARN and "1 engine error(s)" in message and "perception 1" in message
    assert values["errors: perception"] == "1" and values["described"] == "3" and values["windows"] == "3"
    assert diagnostics(node)[0] == ros.DiagnosticStatus.OK  # reported once, not forever

    node.engine.close()  # the engine stops under the node (as in a cleanup racing a callback)
    image_subscription(node).deliver(image(ros, sec=105))  # the double re-raises what the callback does not catch
    assert any("queue is closed" in text for text in logged(node, ros.LoggingSeverity.ERROR))
    assert query(ros, node).success  # the history is still there to answer from


# ------------------------------------------------------------------------------- the real engine on a real clip
CLIP = "video/dribble_single_person.mp4"  # one person, 40 frames at 12 fps, 1080x1920 portrait
RECORDED_AT = 1000.0  # s, data time of the clip's first frame, as if it had been recorded then (a zero stamp
# would mean "no stamp" to the node)
SIM_NOW = 1010.0  # s, the node's clock (use_sim_time) while the results are published


@pytest.fixture(scope="module")
def replayed(ros, test_data, pose_model_path):
    """A node with the real models, after the clip was delivered frame by frame through the image subscription
    (sensor_msgs/Image rgb8, header stamps: the clip's, from RECORDED_AT) and its windows were published. Its own
    context, so that the function-scoped tests around it keep theirs."""
    from motionllm_ros.sources import open_source

    context = ros.Context()
    ros.rclpy.init(context=context)
    node = make_node(ros, context=context, pose__model=str(pose_model_path), use_sim_time=True,
                     window__length_s=2.0, window__stride_s=1.0)
    set_sim_time(ros, node, SIM_NOW)
    assert node.start_if_autostart()
    stamps = []
    for frame in open_source(str(test_data / CLIP)):
        stamps.append(RECORDED_AT + frame.stamp)
        header = ros.Header(stamp=seconds_to_time(stamps[-1], ros.TimeMsg), frame_id="camera")
        height, width, _ = frame.rgb.shape
        image_subscription(node).deliver(ros.Image(header=header, height=height, width=width, encoding="rgb8",
                                                   step=width * 3, data=array.array("B", frame.rgb.tobytes())))
    # Windows of 2 s every 1 s of data time from the first stamp; the last one ends at or before the last frame.
    expected_ends = list(np.arange(stamps[0] + 2.0, stamps[-1] + 1e-9, 1.0))
    assert behavior_publisher(node).wait_for_published(len(expected_ends), RESULT_TIMEOUT_S)
    yield SimpleNamespace(node=node, stamps=stamps, expected_ends=expected_ends,
                          published=list(behavior_publisher(node).published))
    node.destroy_node()
    ros.rclpy.try_shutdown(context=context)


def test_behavior_descriptions_from_real_frames(ros, replayed):
    assert len(replayed.stamps) == 40 and replayed.stamps[0] == RECORDED_AT
    assert [stamp_to_seconds(msg.window_end) for msg in replayed.published] == pytest.approx(replayed.expected_ends)
    for msg in replayed.published:
        end = stamp_to_seconds(msg.window_end)
        assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == (msg.window_end.sec, msg.window_end.nanosec)
        assert msg.header.frame_id == "camera"
        assert stamp_to_seconds(msg.window_start) == pytest.approx(end - 2.0)
        # Frames in (start, end]: 2 s at 12 fps.
        assert msg.num_frames == sum(end - 2.0 < stamp <= end + 1e-9 for stamp in replayed.stamps) == 24
        assert msg.track_id >= 0  # the one person was tracked
        assert msg.model_id == ros.BehaviorDescription.MODEL_ID_PRIMITIVES and msg.description
        assert len(msg.labels) == len(msg.scores) >= 1 and all(0.0 <= score <= 1.0 for score in msg.scores)
        assert msg.confidence == pytest.approx(max(msg.scores))
        assert msg.latency_sec == pytest.approx(SIM_NOW - end)  # node clock minus data time
        assert isinstance(msg.scores, array.array) and msg.scores.typecode == "f"  # Humble's float32[]
    values = diagnostics(replayed.node)[2]
    # The last window was cut by the first frame after its end (the 38th); later ones may still be in the queue.
    assert 38 <= int(values["frames processed"]) <= 40 and values["models"] == "loaded"
    assert (values["frames dropped (engine busy)"], values["windows dropped (model busy)"]) == ("0", "0")
    assert not any(key.startswith("errors:") for key in values)
    assert float(values["last latency [s, node clock - window end]"]) == pytest.approx(
        SIM_NOW - replayed.expected_ends[-1], abs=1e-3)


def test_query_answers_with_the_latest_description_and_its_evidence(ros, replayed):
    response = query(ros, replayed.node)
    newest = replayed.published[-1]
    assert response.success and response.message == "" and response.answer == newest.description
    assert (response.stamp.sec, response.stamp.nanosec) == (newest.window_end.sec, newest.window_end.nanosec)
    # lookback 0 = one window (2 s) back from the newest window end; evidence is what ~/behavior sent.
    newest_end = stamp_to_seconds(newest.window_end)
    expected = [msg for msg in replayed.published if stamp_to_seconds(msg.window_end) >= newest_end - 2.0]
    assert [(e.window_end, e.description, list(e.labels), e.latency_sec, e.track_id) for e in response.evidence] == [
        (m.window_end, m.description, list(m.labels), m.latency_sec, m.track_id) for m in expected]
    by_track = query(ros, replayed.node, track_id=newest.track_id, lookback_sec=100.0)
    assert by_track.success and len(by_track.evidence) == len(replayed.published)


def test_a_question_is_answered_from_the_labels_without_a_language_model(ros, replayed):
    label = replayed.published[-1].labels[0]
    response = query(ros, replayed.node, question=f"Is the person {label.replace('_', ' ')}?", lookback_sec=100.0)
    assert response.success and "no language model" in response.message
    assert label in response.answer and response.answer.startswith("Seen:")
    response = query(ros, replayed.node, question="Is anybody juggling?", lookback_sec=100.0)
    assert response.success and response.answer.startswith("No behaviour primitive")


def test_query_about_an_unknown_track_or_a_bad_request_fails_with_a_reason(ros, replayed):
    response = query(ros, replayed.node, track_id=99)
    assert not response.success and "track 99" in response.message and response.evidence == []
    assert not query(ros, replayed.node, track_id=-2).success
    response = query(ros, replayed.node, lookback_sec=-1.0)
    assert not response.success and "lookback_sec" in response.message


def test_describe_streams_the_answer_word_by_word(ros, replayed):
    handle = describe(ros, replayed.node)
    text = replayed.published[-1].description
    assert handle.status == ros.STATUS_SUCCEEDED and handle.result.success and handle.result.answer == text
    partials = [feedback.partial_text for feedback in handle.feedback]
    assert partials[-1] == text and len(partials) == len(text.split())
    assert all(text.startswith(partial) for partial in partials)
    assert [feedback.tokens_generated for feedback in handle.feedback] == list(range(1, len(partials) + 1))
    assert handle.result.evidence and handle.result.evidence[-1].description == text


def test_describe_can_be_cancelled_and_returns_the_text_so_far(ros, replayed):
    def cancel_after_two_words(handle, feedback):
        if feedback.tokens_generated == 2:
            assert handle.request_cancel() == ros.CancelResponse.ACCEPT

    handle = describe(ros, replayed.node, on_feedback=cancel_after_two_words)
    assert handle.status == ros.STATUS_CANCELED
    assert not handle.result.success and handle.result.message == "cancelled"
    assert handle.result.answer == handle.feedback[-1].partial_text == " ".join(
        replayed.published[-1].description.split()[:2])
    assert len(handle.feedback) == 2


# ------------------------------------------------------------------------------------------------------ images
def test_images_end_up_accepted_or_skipped_by_reason(ros_context):
    ros = ros_context
    perception = NobodyPerception()
    node = make_node(ros, perception)
    assert node.start_if_autostart()
    deliver = image_subscription(node).deliver
    deliver(image(ros, sec=10, nanosec=250_000_000))
    deliver(image(ros, height=480, width=640, step=1920, data=bytes(30)))  # 30 bytes claiming 640x480 rgb8
    deliver(image(ros, encoding="rgb7"))
    deliver(image(ros, encoding="yuv422", width=3, step=6, data=bytes(36)))  # OpenCV refuses an odd width
    snapshot = node.intake.snapshot()
    assert (snapshot.received, snapshot.accepted) == (4, 1)
    assert snapshot.skipped == {"size_mismatch": 1, "unknown_encoding": 1, "conversion_error": 1}
    stop_engine(node)
    ((stamp, rgb),) = perception.frames
    assert stamp == 10.25  # data time is the header stamp
    np.testing.assert_array_equal(rgb, RGB)


def test_compressed_images_good_and_truncated(ros_context):
    ros = ros_context
    perception = NobodyPerception()
    node = make_node(ros, perception, input__image_transport="compressed")
    node.start_if_autostart()
    ok, jpeg = cv2.imencode(".jpg", RGB[:, :, ::-1])
    image_subscription(node).deliver(compressed(ros, jpeg.tobytes()))
    image_subscription(node).deliver(compressed(ros, jpeg.tobytes()[:10]))  # a 10-byte truncated JPEG
    snapshot = node.intake.snapshot()
    assert (snapshot.accepted, snapshot.skipped) == (1, {"truncated_jpeg": 1})
    stop_engine(node)
    assert perception.frames[0][1].shape == (HEIGHT, WIDTH, 3)


def test_images_while_inactive_are_counted_and_dropped(ros_context):
    ros = ros_context
    perception = NobodyPerception()
    node = make_node(ros, perception)
    node.trigger_configure()
    image_subscription(node).deliver(image(ros))
    node.trigger_activate()
    node.trigger_deactivate()
    image_subscription(node).deliver(image(ros))
    snapshot = node.intake.snapshot()
    node.trigger_cleanup()
    assert (snapshot.dropped_inactive, snapshot.received, perception.frames) == (2, 0, [])


def test_zero_stamps_fall_back_to_the_node_clock_which_follows_sim_time(ros_context):
    ros = ros_context
    perception = NobodyPerception()
    node = make_node(ros, perception, use_sim_time=True)
    set_sim_time(ros, node, 42.5)
    node.start_if_autostart()
    image_subscription(node).deliver(image(ros, sec=0, nanosec=0))
    image_subscription(node).deliver(image(ros, sec=0, nanosec=0))
    stop_engine(node)
    assert [stamp for stamp, _ in perception.frames] == [42.5, 42.5]
    assert len([text for text in logged(node) if "zero header stamps" in text]) == 1


# ------------------------------------------------------------------------------------------------- diagnostics
def test_diagnostics_ok_warn_and_error(ros_context):
    ros = ros_context
    node = make_node(ros, NobodyPerception(), use_sim_time=True)
    set_sim_time(ros, node, 100.0)
    level, message, values = diagnostics(node)
    assert (level, message, values["state"], values["models"]) == (
        ros.DiagnosticStatus.OK, "not active", "unconfigured", "not loaded")

    node.start_if_autostart()
    for i in range(10):  # 10 Hz in data time, whatever the node clock says
        image_subscription(node).deliver(image(ros, sec=1000 + i // 10, nanosec=(i % 10) * 100_000_000))
    level, message, values = diagnostics(node)
    assert level == ros.DiagnosticStatus.OK and message == "receiving 10.0 Hz"
    assert (values["received"], values["accepted"], values["skipped"]) == ("10", "10", "0")
    assert values["input rate [Hz, data time]"] == "10.00" and values["image conversion"] == "numpy"
    assert (values["models"], values["engine mode"], values["windows"]) == ("loaded", "lossless", "0")
    assert values["last latency [s, node clock - window end]"] == "none yet"

    set_sim_time(ros, node, 102.5)  # 2.5 s of node-clock time without an image
    level, message, _ = diagnostics(node)
    assert level == ros.DiagnosticStatus.WARN and "no image on /camera/image_raw for 2.5 s" in message

    for _ in range(10):
        image_subscription(node).deliver(image(ros, data=bytes(10)))
    level, message, values = diagnostics(node)
    assert level == ros.DiagnosticStatus.ERROR and "size_mismatch 10" in message
    assert values["skipped: size_mismatch"] == "10" and values["received"] == "20"


def test_diagnostics_warn_when_nothing_arrived_since_activation(ros_context):
    ros = ros_context
    node = make_node(ros, NobodyPerception(), use_sim_time=True)
    set_sim_time(ros, node, 5.0)
    node.start_if_autostart()
    set_sim_time(ros, node, 6.0)
    assert diagnostics(node)[:2] == (ros.DiagnosticStatus.OK, "waiting for images")
    set_sim_time(ros, node, 8.0)
    level, message, _ = diagnostics(node)
    assert level == ros.DiagnosticStatus.WARN and "since activation" in message and "qos_reliability" in message


def test_rate_restarts_when_data_time_goes_back(ros):
    intake = ros.node_module.FrameIntake()
    frame = ros.node_module.Frame
    for stamp in (50.0, 50.5, 51.0, 10.0, 10.25):  # a bag starting over
        intake.submit(frame(stamp, RGB, "camera"))
    assert intake.snapshot().input_rate_hz == pytest.approx(4.0)


# -------------------------------------------------------------------------------------------------- lifecycle
def test_autostart_activates_and_can_be_turned_off(ros_context):
    ros = ros_context
    node = make_node(ros, NobodyPerception())
    assert node.start_if_autostart() and node._state_machine.current_state == (3, "active")
    manual = make_node(ros, NobodyPerception(), autostart=False)
    assert not manual.start_if_autostart() and manual._state_machine.current_state == (1, "unconfigured")
    assert manual.subscriptions == [] and manual.engine is None


def test_lifecycle_transitions(ros_context):
    ros = ros_context
    node = make_node(ros, NobodyPerception())
    publisher = behavior_publisher(node)  # shows whether the base class's on_activate/on_deactivate ran
    node.trigger_configure()
    subscription = image_subscription(node)
    node.trigger_activate()
    assert publisher.is_activated
    node.trigger_deactivate()
    assert not publisher.is_activated
    node.trigger_cleanup()
    assert node.subscriptions == [] and subscription.destroyed and node.config is None and node.engine is None
    node.trigger_configure()
    node.trigger_activate()
    assert node.trigger_shutdown() == ros.TransitionCallbackReturn.SUCCESS
    assert node._state_machine.current_state == (4, "finalized") and node.subscriptions == []
    assert node.engine is None


def test_main_runs_until_ctrl_c_and_shuts_down_cleanly(ros):
    # No pose.model: autostart's configure fails (logged), the node keeps spinning for a fixed configuration.
    status = ros.node_module.main(["motionllm_node", "--ros-args", "-p", "input.image_topic:=/cam/image"])
    assert status == 0
    assert not ros.rclpy.ok()  # the double's spin() acted as Ctrl-C; try_shutdown() did not raise


def test_main_exits_2_on_a_parameter_that_cannot_be_declared(ros):
    status = ros.node_module.main(["motionllm_node", "--ros-args", "-p", "input.qos_depth:=500"])
    assert status == 2
    assert "out of range" in ros.get_logger("motionllm").records[-1][1]
    assert not ros.rclpy.ok()


def test_python_logging_reaches_the_ros_logger(ros):
    ros_logger = ros.rclpy.logging.RcutilsLogger("probe")
    logger = logging.getLogger("motionllm.test_probe")
    handler = ros.node_module.RosLogHandler(ros_logger)
    logger.addHandler(handler)
    try:
        logger.warning("skipping frame from %s", "/cam")
    finally:
        logger.removeHandler(handler)
    assert ros_logger.records == [(ros.LoggingSeverity.WARN, "skipping frame from /cam")]


# ------------------------------------------------------------------------------------ answers (ROS-free logic)
def history_engine(descriptions, history=600):
    """A real engine (stopped) whose history holds `descriptions`, as if it had produced them."""
    from motionllm_ros.engine import EngineParams

    engine = StreamingEngine(NobodyPerception(), PrimitivesDescriber(),
                             EngineParams(window_s=2.0, stride_s=1.0, lossless=True, history=history))
    engine.close()
    engine.history.extend(descriptions)
    return engine


def described(end, track_id, labels=(), num_valid=20, text=None):
    from motionllm_ros.engine import Description

    return Description(end - 2.0, end, "camera", track_id, 24, num_valid, text or f"window to {end}", tuple(labels),
                       tuple(0.9 for _ in labels), 0.9 if labels else 0.0, "primitives", 0.05)


def test_the_most_salient_track_is_the_one_seen_in_most_frames():
    from motionllm_ros.ros.answers import answer

    engine = history_engine([described(10.0, 1, num_valid=20), described(10.0, 2, num_valid=5),
                             described(11.0, 2, num_valid=10), described(11.0, 1, num_valid=2)])
    result = answer(engine, "", -1, 0.0)
    assert result.success and [d.track_id for d in result.evidence] == [1, 1] and result.text == "window to 11.0"
    assert result.stamp == 11.0
    assert [d.window_end for d in answer(engine, "", 2, 0.0).evidence] == [10.0, 11.0]
    nobody = history_engine([described(5.0, None, num_valid=0, text="nobody tracked in this window")])
    result = answer(nobody, "", -1, 0.0)
    assert result.success and result.text == "nobody tracked in this window" and result.evidence[0].track_id is None


def test_question_words_meet_label_words_by_stem():
    from motionllm_ros.ros.answers import NO_LANGUAGE_MODEL, answer

    engine = history_engine([described(10.0, 0, ["waving_right_hand", "pointing_left_arm", "standing"]),
                             described(11.0, 0, ["left_arm_raised", "falling", "running"])])
    cases = {"Is she waving at the robot?": {"waving_right_hand"},
             "Is his left arm raised?": {"left_arm_raised"},  # not pointing_left_arm: 'left arm' only says where
             "Did somebody fall?": {"falling"},
             "who runs": {"running"},
             "Is anyone sitting?": set()}
    for question, expected in cases.items():
        result = answer(engine, question, -1, 0.0)
        assert result.success and result.message == NO_LANGUAGE_MODEL, question
        found = {label for label in ("waving_right_hand", "pointing_left_arm", "standing", "left_arm_raised",
                                     "falling", "running") if label in result.text.split("Latest")[0]}
        assert found == expected, question
        assert result.text.endswith("Latest description (window ending at 11.000 s): window to 11.0.")


def test_a_full_history_clips_a_longer_look_back_and_says_so():
    from motionllm_ros.ros.answers import answer

    engine = history_engine([described(float(end), 0) for end in range(10, 13)], history=3)
    assert "clipped to the 2.0 s" in answer(engine, "", 0, 10.0).message
    assert answer(engine, "", 0, 1.5).message == ""  # the dropped window ended 3 s before the newest: not needed
    assert answer(history_engine([described(float(end), 0) for end in range(10, 13)]), "", 0, 10.0).message == ""


def test_word_by_word_prefixes():
    from motionllm_ros.ros.answers import word_by_word

    assert word_by_word("one person  walking, waving") == ["one", "one person", "one person  walking,",
                                                          "one person  walking, waving"]
    assert word_by_word("") == []


# ------------------------------------------------------------------------------------- ~/smpl_pose, ~/skeleton
def run_script(ros, script, **overrides):
    """A node whose perception follows `script`, one image per entry (stamps 20.0, 20.1, ...); returns the node
    once the engine has processed every image (lossless)."""
    node = make_node(ros, ScriptedPerception(script), **overrides)
    node.start_if_autostart()
    for i in range(len(script)):
        image_subscription(node).deliver(image(ros, sec=20, nanosec=i * 100_000_000))
    node.engine.close()  # processes what was queued, with the publishers still active
    return node


def test_smpl_pose_per_frame_with_a_target_and_a_skeleton_that_is_deleted_when_lost(ros_context):
    ros = ros_context
    node = run_script(ros, ["fit", "fit", "no_fit", "nobody", "nobody", "fit"])
    smpl = publisher_of(node, "/smpl_pose")
    assert smpl.topic_name == "/motionllm/smpl_pose" and smpl.msg_type is ros.SmplPose
    assert smpl.qos_profile.reliability == ros.ReliabilityPolicy.BEST_EFFORT  # sensor data
    # One message per frame with a target (tracked, fitted or not), stamped and framed like its image.
    assert [(round(stamp_to_seconds(m.header.stamp), 6), m.header.frame_id, m.valid, m.track_id)
            for m in smpl.published] == [(20.0, "camera", True, 7), (20.1, "camera", True, 7),
                                         (20.2, "camera", False, 7), (20.5, "camera", True, 7)]
    pelvis = np.reshape(smpl.published[0].joints, (22, 3))[0]
    np.testing.assert_allclose(pelvis, [0.0, 0.0, -3.0], atol=1e-6)  # 3 m in front, in the turned camera frame

    skeleton = publisher_of(node, "/skeleton")
    assert skeleton.topic_name == "/motionllm/skeleton" and skeleton.msg_type is ros.MarkerArray
    assert skeleton.qos_profile.reliability == ros.ReliabilityPolicy.RELIABLE  # RViz's default
    actions = [[marker.action for marker in array.markers] for array in skeleton.published]
    add, delete_all = ros.Marker.ADD, ros.Marker.DELETEALL
    assert actions == [[add, add], [add, add], [delete_all], [add, add]]  # deleted once, when the fit is lost
    joints = skeleton.published[0].markers[1]
    assert joints.header.frame_id == "camera" and (joints.points[0].z, joints.points[0].y) == pytest.approx(
        (3.0, 0.0), abs=1e-6)  # optical frame: z forward
    assert stamp_to_seconds(skeleton.published[2].markers[0].header.stamp) == pytest.approx(20.2)


def test_smpl_pose_and_skeleton_can_be_turned_off(ros_context):
    ros = ros_context
    node = run_script(ros, ["fit", "no_fit", "fit"], output__smpl_pose=False, output__skeleton_markers=False)
    assert publisher_of(node, "/smpl_pose").published == publisher_of(node, "/skeleton").published == []
    assert node.engine.stats()["processed"] == 3


def test_smpl_pose_follows_the_camera_pitch(ros_context):
    ros = ros_context
    node = run_script(ros, ["fit"], smpl__camera_pitch_deg=30.0)
    (msg,) = publisher_of(node, "/smpl_pose").published
    # Upright in the levelled frame; a camera looking 30 deg down sees the body's up axis lean towards it.
    from motionllm_ros.perception.smpl import axis_angle_to_matrix

    up = axis_angle_to_matrix(np.asarray(msg.global_orient, float)) @ [0.0, 1.0, 0.0]
    np.testing.assert_allclose(up, [0.0, np.cos(np.radians(30)), np.sin(np.radians(30))], atol=1e-6)


def test_smpl_pose_from_real_frames(ros, replayed):
    engine = replayed.node.engine
    deadline = time.monotonic() + RESULT_TIMEOUT_S  # frames after the last window's end may still be in process
    while engine.stats().get("processed", 0) < len(replayed.stamps) and time.monotonic() < deadline:
        time.sleep(0.01)
    published = list(publisher_of(replayed.node, "/smpl_pose").published)
    stamps = [stamp_to_seconds(msg.header.stamp) for msg in published]
    assert len(published) >= 30  # the player is in view in nearly every frame of the clip
    assert stamps == sorted(stamps)
    assert all(min(abs(stamp - image_stamp) for image_stamp in replayed.stamps) < 1e-6 for stamp in stamps)
    valid = [msg for msg in published if msg.valid]
    assert valid and all(np.isfinite(msg.joints).all() and msg.header.frame_id == "camera" for msg in valid)
    # The person stands in front of the camera: the pelvis has z < 0 in the turned camera frame.
    assert all(np.reshape(msg.joints, (22, 3))[0, 2] < 0 for msg in valid)
    skeleton = publisher_of(replayed.node, "/skeleton").published
    assert sum(len(array.markers) == 2 for array in skeleton) == len(valid)


# ----------------------------------------------------------------------------------- ~/query with a fresh answer
class ScriptedLanguageModel(PrimitivesDescriber):
    """Stands in for MotionLLM's ModelDescriber (which needs weights): windows are described by the primitives,
    and `answer(window, question, cancel)` answers once `release` is set, or gives up when cancelled."""

    model_id = "scripted-llm"

    def __init__(self):
        super().__init__()
        self.release = threading.Event()
        self.cancelled = threading.Event()

    def answer(self, window, question, cancel=None):
        while not self.release.wait(0.005):
            if cancel is not None and cancel.is_set():
                self.cancelled.set()
                return SimpleNamespace(answer="", stop_reason="cancelled")
        return SimpleNamespace(answer=f"{question} ({len(window.samples)} frames up to {window.end:g} s)",
                               stop_reason="eos")


def node_with_windows(ros, describer, **overrides):
    """An active node whose engine has described windows ending at 12 and 13 s (images at 10 Hz from 10 s)."""
    if not hasattr(StreamingEngine, "latest_window"):
        pytest.skip("needs StreamingEngine.latest_window() (engine.py, the lead's)")
    node = make_node(ros, NobodyPerception(), describer=describer, window__length_s=2.0, window__stride_s=1.0,
                     **overrides)
    node.start_if_autostart()
    for i in range(35):
        stamp = seconds_to_time(10.0 + i / 10, ros.TimeMsg)
        image_subscription(node).deliver(image(ros, sec=stamp.sec, nanosec=stamp.nanosec))
    assert behavior_publisher(node).wait_for_published(2, RESULT_TIMEOUT_S)
    return node


def test_fresh_query_runs_the_model_on_the_latest_window(ros_context):
    ros = ros_context
    model = ScriptedLanguageModel()
    model.release.set()
    node = node_with_windows(ros, model)
    response = query(ros, node, question="What now?", allow_cached=False)
    assert response.success and response.answer == "What now? (20 frames up to 13 s)"
    assert "fresh answer by scripted-llm" in response.message
    assert stamp_to_seconds(response.stamp) == 13.0 and stamp_to_seconds(response.evidence[-1].window_end) == 13.0
    cached = query(ros, node, question="What now?", allow_cached=True)  # from the labels in the history
    assert cached.success and cached.answer.startswith("No behaviour primitive")


def test_fresh_query_times_out_cancels_the_model_and_says_so(ros_context):
    ros = ros_context
    model = ScriptedLanguageModel()  # never released: a generation slower than the timeout
    node = node_with_windows(ros, model, query__timeout_s=0.1)
    response = query(ros, node, question="What now?", allow_cached=False)
    assert not response.success and "query.timeout_s" in response.message and response.answer == ""
    assert model.cancelled.wait(RESULT_TIMEOUT_S)  # the generation was stopped, the model is free again


def test_fresh_query_without_a_language_model_answers_from_the_history(ros_context):
    ros = ros_context
    node = node_with_windows(ros, PrimitivesDescriber())
    fresh, cached = (query(ros, node, allow_cached=allow) for allow in (False, True))
    assert fresh.success and (fresh.answer, fresh.message) == (cached.answer, cached.message)
