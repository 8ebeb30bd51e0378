"""The lifecycle node, run against the rclpy test double (rclpy cannot be installed here).

What the double cannot show, a real ROS 2 run must: rmw QoS matching and the incompatible-QoS event firing,
multi-threaded executor scheduling, signal handling, launch_ros starting the process.
"""

from __future__ import annotations

import array
import logging
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
from rclpy_double import installed

from motionllm_ros.config import parameter_specs

WIDTH, HEIGHT = 8, 6
RGB = np.random.default_rng(3).integers(0, 256, size=(HEIGHT, WIDTH, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def ros():
    """The double as rclpy & co., and the node module imported against it (both forgotten after this module)."""
    with installed("motionllm_ros.ros.node", "motionllm_ros.ros.qos"):
        import rclpy
        from builtin_interfaces.msg import Time as TimeMsg
        from diagnostic_msgs.msg import DiagnosticStatus
        from rclpy.clock import ClockType
        from rclpy.exceptions import ParameterException
        from rclpy.lifecycle import TransitionCallbackReturn
        from rclpy.logging import LoggingSeverity, get_logger
        from rclpy.parameter import Parameter
        from rclpy.qos import (DurabilityPolicy, HistoryPolicy, QoSPolicyKind, ReliabilityPolicy,
                               qos_profile_sensor_data)
        from rclpy.qos_event import QoSRequestedIncompatibleQoSInfo
        from rclpy.time import Time
        from sensor_msgs.msg import CompressedImage, Image
        from std_msgs.msg import Header

        from motionllm_ros.ros import node as node_module

        yield SimpleNamespace(**locals())


@pytest.fixture
def ros_context(ros):
    ros.rclpy.init()
    yield ros
    ros.rclpy.try_shutdown()


class ListSink:
    """A downstream sink that keeps what it is given (what the streaming engine will receive)."""

    def __init__(self):
        self.frames = []

    def submit(self, frame):
        self.frames.append(frame)


def make_node(ros, sink=None, namespace=None, **overrides):
    parameters = [ros.Parameter(name.replace("__", "."), value=value) for name, value in overrides.items()]
    return ros.node_module.MotionLLMNode(sink=sink, namespace=namespace, parameter_overrides=parameters)


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
    (subscription,) = node.subscriptions
    return subscription


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


# -------------------------------------------------------------------------------------------------- parameters
def test_every_config_parameter_is_declared_with_its_type_default_and_help(ros_context):
    ros = ros_context
    node = make_node(ros)
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
    node = make_node(ros, input__image_transport="theora")
    assert node.trigger_configure() == ros.TransitionCallbackReturn.FAILURE
    assert node._state_machine.current_state == (1, "unconfigured")
    (error,) = logged(node, ros.LoggingSeverity.ERROR)
    assert "input.image_transport" in error and "theora" in error
    assert node.subscriptions == []


def test_runtime_parameter_changes_are_validated_and_only_taken_while_unconfigured(ros_context):
    ros = ros_context
    node = make_node(ros)
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


# ------------------------------------------------------------------------------------------------ subscription
def test_raw_subscription_is_best_effort_depth_1_in_its_own_group(ros_context):
    ros = ros_context
    node = make_node(ros, input__image_topic="/front/image")
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
    node = make_node(ros, namespace="robot", input__image_topic="camera/image", input__image_transport="compressed",
                     input__qos_reliability="reliable", input__qos_depth=2)
    node.trigger_configure()
    subscription = image_subscription(node)
    assert subscription.topic_name == "/robot/camera/image/compressed"
    assert subscription.msg_type is ros.CompressedImage
    assert (subscription.qos_profile.reliability, subscription.qos_profile.depth) == (
        ros.ReliabilityPolicy.RELIABLE, 2)


def test_publishers_that_can_never_deliver_are_named_at_configure(ros_context):
    ros = ros_context
    camera = ros.rclpy.node.Node("camera_driver", namespace="sensors")
    camera.create_publisher(ros.Image, "/camera/image_raw", ros.qos_profile_sensor_data)  # best effort
    camera.create_publisher(ros.CompressedImage, "/camera/image_raw", 1)
    node = make_node(ros, input__qos_reliability="reliable")
    node.trigger_configure()
    warnings = logged(node, ros.LoggingSeverity.WARN)
    assert any("/sensors/camera_driver" in text and "best_effort" in text and "input.qos_reliability" in text
               for text in warnings)
    assert any("sensor_msgs/msg/CompressedImage" in text and "input.image_transport" in text for text in warnings)


def test_best_effort_subscription_raises_no_qos_warning(ros_context):
    ros = ros_context
    camera = ros.rclpy.node.Node("camera_driver")
    camera.create_publisher(ros.Image, "/camera/image_raw", ros.qos_profile_sensor_data)
    node = make_node(ros)
    node.trigger_configure()
    assert logged(node, ros.LoggingSeverity.WARN) == []


def test_incompatible_qos_event_is_logged(ros_context):
    ros = ros_context
    node = make_node(ros, input__qos_reliability="reliable")
    node.trigger_configure()
    event = ros.QoSRequestedIncompatibleQoSInfo(total_count=2, total_count_change=1,
                                                last_policy_kind=ros.QoSPolicyKind.RELIABILITY)
    image_subscription(node).event_callbacks.incompatible_qos(event)
    (warning,) = logged(node, ros.LoggingSeverity.WARN)
    assert "RELIABILITY" in warning and "/camera/image_raw" in warning and "reliability=reliable" in warning


# ------------------------------------------------------------------------------------------------------ images
def test_images_end_up_accepted_or_skipped_by_reason(ros_context):
    ros = ros_context
    sink = ListSink()
    node = make_node(ros, sink=sink)
    assert node.start_if_autostart()
    deliver = image_subscription(node).deliver
    deliver(image(ros, sec=10, nanosec=250_000_000))
    deliver(image(ros, height=480, width=640, step=1920, data=bytes(30)))  # 30 bytes claiming 640x480 rgb8
    deliver(image(ros, encoding="rgb7"))
    deliver(image(ros, encoding="yuv422", width=3, step=6, data=bytes(36)))  # OpenCV refuses an odd width
    snapshot = node.intake.snapshot()
    assert (snapshot.received, snapshot.accepted) == (4, 1)
    assert snapshot.skipped == {"size_mismatch": 1, "unknown_encoding": 1, "conversion_error": 1}
    (frame,) = sink.frames
    assert frame.stamp == 10.25 and frame.frame_id == "camera"  # data time is the header stamp
    np.testing.assert_array_equal(frame.rgb, RGB)


def test_compressed_images_good_and_truncated(ros_context):
    ros = ros_context
    sink = ListSink()
    node = make_node(ros, sink=sink, input__image_transport="compressed")
    node.start_if_autostart()
    ok, jpeg = cv2.imencode(".jpg", RGB[:, :, ::-1])
    image_subscription(node).deliver(compressed(ros, jpeg.tobytes()))
    image_subscription(node).deliver(compressed(ros, jpeg.tobytes()[:10]))  # a 10-byte truncated JPEG
    snapshot = node.intake.snapshot()
    assert (snapshot.accepted, snapshot.skipped) == (1, {"truncated_jpeg": 1})
    assert sink.frames[0].rgb.shape == (HEIGHT, WIDTH, 3)


def test_the_callback_never_raises(ros_context):
    ros = ros_context

    class BrokenSink:
        def submit(self, frame):
            raise RuntimeError("queue gone")

    node = make_node(ros, sink=BrokenSink())
    node.start_if_autostart()
    image_subscription(node).deliver(image(ros))  # the double propagates callback exceptions, as spin() does
    (error,) = logged(node, ros.LoggingSeverity.ERROR)
    assert "queue gone" in error


def test_images_while_inactive_are_counted_and_dropped(ros_context):
    ros = ros_context
    sink = ListSink()
    node = make_node(ros, sink=sink)
    node.trigger_configure()
    image_subscription(node).deliver(image(ros))
    node.trigger_activate()
    node.trigger_deactivate()
    image_subscription(node).deliver(image(ros))
    snapshot = node.intake.snapshot()
    assert (snapshot.dropped_inactive, snapshot.received, sink.frames) == (2, 0, [])


def test_zero_stamps_fall_back_to_the_node_clock_which_follows_sim_time(ros_context):
    ros = ros_context
    sink = ListSink()
    node = make_node(ros, sink=sink, use_sim_time=True)
    set_sim_time(ros, node, 42.5)
    node.start_if_autostart()
    image_subscription(node).deliver(image(ros, sec=0, nanosec=0))
    image_subscription(node).deliver(image(ros, sec=0, nanosec=0))
    assert [frame.stamp for frame in sink.frames] == [42.5, 42.5]
    assert len([text for text in logged(node) if "zero header stamps" in text]) == 1


# ------------------------------------------------------------------------------------------------- diagnostics
def test_diagnostics_ok_warn_and_error(ros_context):
    ros = ros_context
    node = make_node(ros, use_sim_time=True)
    set_sim_time(ros, node, 100.0)
    level, message, values = diagnostics(node)
    assert (level, message, values["state"]) == (ros.DiagnosticStatus.OK, "not active", "unconfigured")

    node.start_if_autostart()
    for i in range(10):  # 10 Hz in data time, whatever the node clock says
        image_subscription(node).deliver(image(ros, sec=1000 + i // 10, nanosec=(i % 10) * 100_000_000))
    level, message, values = diagnostics(node)
    assert level == ros.DiagnosticStatus.OK and message == "receiving 10.0 Hz"
    assert (values["received"], values["accepted"], values["skipped"]) == ("10", "10", "0")
    assert values["input rate [Hz, data time]"] == "10.00" and values["image conversion"] == "numpy"

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
    node = make_node(ros, use_sim_time=True)
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
    node = make_node(ros)
    assert node.start_if_autostart() and node._state_machine.current_state == (3, "active")
    manual = make_node(ros, autostart=False)
    assert not manual.start_if_autostart() and manual._state_machine.current_state == (1, "unconfigured")
    assert manual.subscriptions == []


def test_lifecycle_transitions(ros_context):
    ros = ros_context
    node = make_node(ros)
    # A lifecycle publisher on the node shows whether the base class's on_activate/on_deactivate ran.
    publisher = node.create_lifecycle_publisher(ros.DiagnosticStatus, "~/probe", 1)
    node.trigger_configure()
    subscription = image_subscription(node)
    node.trigger_activate()
    assert publisher.is_activated
    node.trigger_deactivate()
    assert not publisher.is_activated
    node.trigger_cleanup()
    assert node.subscriptions == [] and subscription.destroyed and node.config is None
    node.trigger_configure()
    node.trigger_activate()
    assert node.trigger_shutdown() == ros.TransitionCallbackReturn.SUCCESS
    assert node._state_machine.current_state == (4, "finalized") and node.subscriptions == []


def test_main_runs_until_ctrl_c_and_shuts_down_cleanly(ros):
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
