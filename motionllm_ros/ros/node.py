"""The `motionllm` lifecycle node: camera images in, `Frame`s out to a sink, /diagnostics about the input.

A thin adapter: the image callback converts one message into a `Frame`, hands it to the sink and returns; whatever
takes time happens behind the sink, on other threads. Transitions:

    configure   parameters -> a validated `Config`; subscribe to the camera with the configured QoS
    activate    frames flow to the sink
    deactivate  frames are counted as dropped while inactive and go nowhere
    cleanup     unsubscribe (parameters may then be changed and the node configured again)

Data time is the images' header stamps, never the time a callback happens to run, so live cameras, use_sim_time and
bag replay behave the same.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from typing import Any, Callable, Protocol

import diagnostic_updater
import rclpy
from diagnostic_msgs.msg import DiagnosticStatus
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.logging import get_logger
from rclpy.parameter import Parameter
from rclpy.qos import qos_policy_name_from_kind
from sensor_msgs.msg import CompressedImage, Image

try:  # Jazzy (where rclpy.qos_event still imports, with a deprecation warning)
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks

from motionllm_ros.config import NODE_NAME, Config, ConfigError, ParameterSpec, parameter_specs
from motionllm_ros.ros.conversions import ImageConverter, stamp_to_seconds
from motionllm_ros.ros.qos import describe_qos, image_qos, qos_mismatch_hint
from motionllm_ros.sources.base import BadFrame, Frame, SkipCounter

LOG = logging.getLogger("motionllm.ros")

STALE_AFTER_SEC = 2.0  # node-clock seconds without any image while active before /diagnostics warns
ALL_SKIPPED_WINDOW = 10  # /diagnostics reports an error when this many images in a row were all skipped
RATE_WINDOW = 30  # accepted frames whose header stamps give the input rate
DIAGNOSTICS_PERIOD_SEC = 1.0

# `autostart` acts once, at start-up; `input.bag_topic` is read by the offline CLI only.
READ_ONLY_PARAMETERS = frozenset({"autostart", "input.bag_topic"})

_ROS_TYPES = {bool: Parameter.Type.BOOL, int: Parameter.Type.INTEGER, float: Parameter.Type.DOUBLE,
              str: Parameter.Type.STRING}
_SPECS = {spec.name: spec for spec in parameter_specs()}
_LEVELS = {"ok": DiagnosticStatus.OK, "warn": DiagnosticStatus.WARN, "error": DiagnosticStatus.ERROR}


class FrameSink(Protocol):
    """Where accepted frames go. `submit` must return at once (enqueue, never compute): it runs in the callback."""

    def submit(self, frame: Frame) -> None: ...


# ------------------------------------------------------------------------------------------------ frame intake
@dataclass(frozen=True)
class IntakeSnapshot:
    received: int  # images that arrived while active
    accepted: int  # of those, turned into frames and submitted
    skipped: dict[str, int]  # reason -> images that could not become frames
    dropped_inactive: int  # images that arrived while the node was not active
    input_rate_hz: float | None  # accepted frames per second of data time (header stamps); None below 2 frames
    last_arrival: float | None  # node-clock seconds of the newest image since activation; None if none
    all_recent_skipped: bool  # the last ALL_SKIPPED_WINDOW images were all skipped


class FrameIntake:
    """Accounts for every image the node receives and passes the good ones on to `downstream`.

    It is itself a `FrameSink`, the one the image callback submits to, so that the counters stay right whatever
    consumes the frames: `MotionLLMNode(sink=engine)` is the whole change when the streaming engine arrives.
    Written by the image callback and read by the diagnostics timer, which run on different executor threads.
    """

    def __init__(self, downstream: FrameSink | None = None, logger: logging.Logger = LOG):
        self._downstream = downstream
        self._logger = logger
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        """Forget everything: a new configuration (maybe another topic) starts from zero."""
        with self._lock:
            self._skipped = SkipCounter(self._logger)
            self._received = self._accepted = self._dropped_inactive = 0
            self._stamps: deque[float] = deque(maxlen=RATE_WINDOW)  # s, data time of the newest accepted frames
            self._recent: deque[bool] = deque(maxlen=ALL_SKIPPED_WINDOW)  # True = accepted
            self._last_arrival: float | None = None

    def restart_window(self) -> None:
        """On activation: rate, recency and silence are measured from now on; totals are kept."""
        with self._lock:
            self._stamps.clear()
            self._recent.clear()
            self._last_arrival = None

    def arrived(self, at: float) -> None:
        """An image arrived while active, at node-clock time `at` [s]; `submit` or `skip` follows."""
        with self._lock:
            self._received += 1
            self._last_arrival = at

    def submit(self, frame: Frame) -> None:
        with self._lock:
            self._accepted += 1
            self._recent.append(True)
            if self._stamps and frame.stamp < self._stamps[-1]:
                self._stamps.clear()  # data time went backwards (a bag started over): measure afresh
            if not self._stamps or frame.stamp > self._stamps[-1]:
                self._stamps.append(frame.stamp)
        if self._downstream is not None:
            self._downstream.submit(frame)

    def skip(self, error: BadFrame, where: str, stamp: float | None) -> None:
        with self._lock:
            self._skipped.skip(error, where, stamp)
            self._recent.append(False)

    def drop_inactive(self) -> None:
        with self._lock:
            self._dropped_inactive += 1

    def snapshot(self) -> IntakeSnapshot:
        with self._lock:
            span = self._stamps[-1] - self._stamps[0] if len(self._stamps) >= 2 else 0.0
            return IntakeSnapshot(
                received=self._received,
                accepted=self._accepted,
                skipped=dict(self._skipped.counts),
                dropped_inactive=self._dropped_inactive,
                input_rate_hz=(len(self._stamps) - 1) / span if span > 0 else None,
                last_arrival=self._last_arrival,
                all_recent_skipped=len(self._recent) == ALL_SKIPPED_WINDOW and not any(self._recent),
            )


def input_status(snapshot: IntakeSnapshot, *, active: bool, now: float, active_since: float | None,
                 topic: str) -> tuple[str, str]:
    """('ok' | 'warn' | 'error', message) for the image input; `now` and `active_since` in node-clock seconds."""
    if not active:
        return "ok", "not active"
    if snapshot.all_recent_skipped:
        reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(snapshot.skipped.items()))
        return "error", f"the last {ALL_SKIPPED_WINDOW} images on {topic} were all skipped ({reasons})"
    since = snapshot.last_arrival if snapshot.last_arrival is not None else active_since
    silence = max(0.0, now - since) if since is not None else 0.0  # a clock jump back is not silence
    if silence > STALE_AFTER_SEC:
        if snapshot.last_arrival is None:
            return "warn", (f"no image on {topic} in the {silence:.1f} s since activation: check the topic, "
                            f"input.image_transport and input.qos_reliability")
        return "warn", f"no image on {topic} for {silence:.1f} s"
    if snapshot.input_rate_hz is None:
        return "ok", "waiting for images"
    return "ok", f"receiving {snapshot.input_rate_hz:.1f} Hz"


# ---------------------------------------------------------------------------------------------------- the node
def parameter_descriptor(spec: ParameterSpec) -> ParameterDescriptor:
    """The ROS parameter descriptor of one config field: help, choices, range, read-only."""
    description = spec.help
    constraints = ""
    if spec.choices is not None:
        constraints = "one of: " + ", ".join(str(choice) for choice in spec.choices)
        description = f"{description} ({constraints})"
    descriptor = ParameterDescriptor(name=spec.name, type=_ROS_TYPES[spec.type].value, description=description,
                                     additional_constraints=constraints,
                                     read_only=spec.name in READ_ONLY_PARAMETERS)
    if spec.min is not None or spec.max is not None:
        if spec.type is int:
            descriptor.integer_range = [IntegerRange(
                from_value=int(spec.min) if spec.min is not None else -(2**63),
                to_value=int(spec.max) if spec.max is not None else 2**63 - 1, step=0)]
        elif spec.type is float:
            descriptor.floating_point_range = [FloatingPointRange(
                from_value=float(spec.min) if spec.min is not None else -float("inf"),
                to_value=float(spec.max) if spec.max is not None else float("inf"), step=0.0)]
    return descriptor


class MotionLLMNode(LifecycleNode):
    """Lifecycle node `motionllm`. Parameters: every field of `Config` (see `motionllm params`)."""

    def __init__(self, sink: FrameSink | None = None, **node_kwargs: Any):
        super().__init__(NODE_NAME, **node_kwargs)
        self.config: Config | None = None  # set by on_configure
        self.intake = FrameIntake(downstream=sink)
        self.converter = ImageConverter(log=self.get_logger().info)
        # Tracked here because rclpy has no public getter for the lifecycle state.
        self._state = "unconfigured"
        self._active_since: float | None = None  # node-clock seconds
        self._subscription: Any = None
        self._qos: Any = None
        self._topic = ""
        self._expected_type = ""  # e.g. "sensor_msgs/msg/Image"
        # The image callback and its QoS events get their own group, so that with the MultiThreadedExecutor they
        # never wait behind the default group (lifecycle services, parameter services, the diagnostics timer).
        self._input_group = MutuallyExclusiveCallbackGroup()

        for spec in parameter_specs():
            self.declare_parameter(spec.name, spec.default, parameter_descriptor(spec))
        # Registered after declaring: a bad value from a parameter file must not stop the process in the
        # constructor, but fail `configure` with a message (a lifecycle node can then be fixed and configured).
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self._diagnostics = diagnostic_updater.Updater(self, period=DIAGNOSTICS_PERIOD_SEC)
        self._diagnostics.setHardwareID("none")
        self._diagnostics.add("image input", self._diagnose_input)

    # --------------------------------------------------------------------------------------------- lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            config = Config().replace({name: self.get_parameter(name).value for name in _SPECS})
        except ConfigError as error:
            self.get_logger().error(f"cannot configure: {error}")
            return TransitionCallbackReturn.FAILURE
        result = super().on_configure(state)
        if result == TransitionCallbackReturn.SUCCESS:
            self.config = config
            self.intake.reset()
            self._subscribe(config)
            self._state = "inactive"
        return result

    def on_activate(self, state: LifecycleState) -> TransitionCallbackReturn:
        # The base class activates the managed entities (lifecycle publishers): without it they drop every message.
        result = super().on_activate(state)
        if result == TransitionCallbackReturn.SUCCESS:
            self.intake.restart_window()
            self._active_since = self._now()
            self._state = "active"
        return result

    def on_deactivate(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._state = "inactive"
        return super().on_deactivate(state)

    def on_cleanup(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._unsubscribe()
        self.config = None
        self._state = "unconfigured"
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._unsubscribe()
        self._state = "finalized"
        return super().on_shutdown(state)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        # rclpy swallows the exception that led here; what remains to do is to get back to a clean unconfigured
        # (the base class's SUCCESS), or to finalized if a managed entity cannot recover.
        self.get_logger().error("a lifecycle transition failed with an error; cleaning up")
        self._unsubscribe()
        self.config = None
        self._state = "unconfigured"
        return super().on_error(state)

    def start_if_autostart(self) -> bool:
        """Configure and activate now if the `autostart` parameter is true; True when the node ended up active.

        main() calls this after construction and before spinning, rather than from a one-shot timer: a timer on
        the node clock does not fire under use_sim_time until /clock arrives, and before spinning no executor
        thread can run a callback while the transitions create the subscription. (launch_ros can drive the
        transitions from outside, but its LifecycleNode(autostart=...) exists only in Jazzy.)
        """
        if not self.get_parameter("autostart").value:
            return False
        for name, trigger in (("configure", self.trigger_configure), ("activate", self.trigger_activate)):
            if trigger() != TransitionCallbackReturn.SUCCESS:
                self.get_logger().error(f"autostart: {name} failed; the node stays {self._state}")
                return False
        return True

    # ------------------------------------------------------------------------------------------- parameters
    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        for parameter in parameters:
            spec = _SPECS.get(parameter.name)
            if spec is None:  # rclpy's own (use_sim_time) and diagnostic_updater's
                continue
            if self._state != "unconfigured":
                return SetParametersResult(successful=False, reason=(
                    f"{parameter.name} is read when the node is configured: deactivate and clean up the node, "
                    f"set it, then configure again"))
            try:
                spec.validate(parameter.value)
            except ConfigError as error:
                return SetParametersResult(successful=False, reason=str(error))
        return SetParametersResult(successful=True, reason="")

    # ------------------------------------------------------------------------------------------------ input
    def _subscribe(self, config: Config) -> None:
        self._unsubscribe()
        if config.input.image_transport == "compressed":
            msg_type, topic, callback = CompressedImage, config.input.image_topic + "/compressed", self._on_compressed
        else:
            msg_type, topic, callback = Image, config.input.image_topic, self._on_image
        self._qos = image_qos(config.input)
        self._subscription = self.create_subscription(
            msg_type, topic, callback, self._qos, callback_group=self._input_group,
            event_callbacks=SubscriptionEventCallbacks(incompatible_qos=self._on_incompatible_qos))
        self._topic = self._subscription.topic_name
        self._expected_type = f"sensor_msgs/msg/{msg_type.__name__}"
        self._diagnostics.setHardwareID(self._topic)
        self.get_logger().info(f"subscribed to {self._topic} ({self._expected_type}, {describe_qos(self._qos)})")
        self._check_publishers()

    def _unsubscribe(self) -> None:
        if self._subscription is not None:
            self.destroy_subscription(self._subscription)
            self._subscription = None

    def _check_publishers(self) -> None:
        """Logs every visible publisher of our topic that can never deliver to us (wrong QoS or type)."""
        publishers = self.get_publishers_info_by_topic(self._topic)
        if not publishers:
            self.get_logger().info(f"no publisher on {self._topic} yet")
        for info in publishers:
            who = f"{info.node_namespace.rstrip('/')}/{info.node_name}"
            if info.topic_type != self._expected_type:
                self.get_logger().warning(
                    f"{who} publishes {info.topic_type} on {self._topic}, this node subscribes "
                    f"{self._expected_type}: check input.image_transport")
            hint = qos_mismatch_hint(self._qos, info.qos_profile)
            if hint is not None:
                self.get_logger().warning(
                    f"{who} offers {describe_qos(info.qos_profile)} on {self._topic}: {hint}")

    def _on_incompatible_qos(self, info: Any) -> None:
        self.get_logger().warning(
            f"a publisher on {self._topic} offers a QoS incompatible with this subscription "
            f"({describe_qos(self._qos)}): {qos_policy_name_from_kind(info.last_policy_kind)} policy "
            f"({info.total_count} incompatible so far)")
        self._check_publishers()

    def _on_image(self, msg: Image) -> None:
        self._take(msg, self.converter.image_to_rgb)

    def _on_compressed(self, msg: CompressedImage) -> None:
        self._take(msg, self.converter.compressed_to_rgb)

    def _take(self, msg: Any, to_rgb: Callable[[Any], Any]) -> None:
        try:
            self._take_unguarded(msg, to_rgb)
        except Exception as error:  # an exception escaping a callback stops the executor, i.e. the whole node
            self.get_logger().error(f"image callback failed: {type(error).__name__}: {error}",
                                    throttle_duration_sec=5.0)

    def _take_unguarded(self, msg: Any, to_rgb: Callable[[Any], Any]) -> None:
        if self._state != "active":
            self.intake.drop_inactive()
            return
        arrival = self._now()
        self.intake.arrived(arrival)
        stamp = stamp_to_seconds(msg.header.stamp)
        if stamp == 0.0:
            # Some drivers leave the stamp empty. The node clock is the best remaining data time: it follows
            # /clock under use_sim_time, like the stamps of a replayed bag would.
            self.get_logger().warning(f"images on {self._topic} have zero header stamps: using their arrival time "
                                      f"on the node clock instead", once=True)
            stamp = arrival
        try:
            rgb = to_rgb(msg)
        except BadFrame as error:
            self.intake.skip(error, self._topic, stamp)
            return
        except Exception as error:  # e.g. an OpenCV error on a payload nobody anticipated: counted like the rest
            self.intake.skip(BadFrame("conversion_error", f"{type(error).__name__}: {error}"), self._topic, stamp)
            return
        self.intake.submit(Frame(stamp, rgb, msg.header.frame_id))

    # ---------------------------------------------------------------------------------------------- helpers
    def _now(self) -> float:
        """Node-clock seconds (ROS time: /clock under use_sim_time)."""
        return self.get_clock().now().nanoseconds * 1e-9

    def _diagnose_input(self, stat: Any) -> Any:
        snapshot = self.intake.snapshot()
        level, message = input_status(snapshot, active=self._state == "active", now=self._now(),
                                      active_since=self._active_since, topic=self._topic)
        stat.summary(_LEVELS[level], message)
        stat.add("state", self._state)
        stat.add("topic", self._topic)
        stat.add("image conversion", self.converter.backend or "not decided yet")
        rate = snapshot.input_rate_hz
        stat.add("input rate [Hz, data time]", f"{rate:.2f}" if rate is not None else "unknown")
        stat.add("received", str(snapshot.received))
        stat.add("accepted", str(snapshot.accepted))
        stat.add("dropped while inactive", str(snapshot.dropped_inactive))
        stat.add("skipped", str(sum(snapshot.skipped.values())))
        for reason, count in sorted(snapshot.skipped.items()):
            stat.add(f"skipped: {reason}", str(count))
        return stat  # diagnostic_updater publishes what the task returns


class RosLogHandler(logging.Handler):
    """Forwards Python `logging` records (the ROS-free core logs that way) to an rcutils logger (one str each)."""

    def __init__(self, ros_logger: Any):
        super().__init__()
        self._ros_logger = ros_logger

    def emit(self, record: logging.LogRecord) -> None:
        text = self.format(record)
        if record.levelno >= logging.CRITICAL:
            self._ros_logger.fatal(text)
        elif record.levelno >= logging.ERROR:
            self._ros_logger.error(text)
        elif record.levelno >= logging.WARNING:
            self._ros_logger.warning(text)
        elif record.levelno >= logging.INFO:
            self._ros_logger.info(text)
        else:
            self._ros_logger.debug(text)


def main(args: list[str] | None = None) -> int:
    """`ros2 run motionllm_ros motionllm_node [--ros-args ...]`. Returns the exit status."""
    rclpy.init(args=args)
    project_logger = logging.getLogger("motionllm")
    handler: RosLogHandler | None = None
    node: MotionLLMNode | None = None
    try:
        node = MotionLLMNode()
        handler = RosLogHandler(node.get_logger())
        project_logger.addHandler(handler)
        project_logger.setLevel(logging.DEBUG)  # the ROS logger's level (--log-level) does the filtering
        node.start_if_autostart()
        executor = MultiThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except ParameterException as error:  # a parameter override of the wrong type or out of range
        get_logger(NODE_NAME).fatal(f"cannot start: {error}")
        return 2
    except (KeyboardInterrupt, ExternalShutdownException):  # Ctrl-C, or SIGTERM from launch
        pass
    finally:
        if handler is not None:
            project_logger.removeHandler(handler)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()  # after a signal the context is already shut down: shutdown() would raise
    return 0
