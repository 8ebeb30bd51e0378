"""The `motionllm` lifecycle node: camera images in, behaviour descriptions out, answers on request.

A thin adapter around the streaming engine (`runtime.build_engine`, the same one `motionllm run` drives): the
image callback converts one message into a `Frame`, submits it to the engine and returns; perception and the
describer run on the engine's worker threads. Transitions:

    configure   parameters -> a validated `Config`; load the models and start the engine (idle); subscribe to
                the camera with the configured QoS. A missing model file fails the transition, naming the parameter.
    activate    frames flow to the engine; ~/behavior publishes; ~/query and ~/describe answer
    deactivate  frames are counted as dropped while inactive and go nowhere; queries are refused
    cleanup     unsubscribe, stop the engine and free the models (parameters may then be changed and the node
                configured again)

Interfaces: ~/behavior (BehaviorDescription, reliable, transient local, depth 10), ~/smpl_pose (SmplPose, sensor
data QoS, one per processed frame with a tracked person; output.smpl_pose), ~/skeleton (MarkerArray for RViz, in
the image's optical frame; output.skeleton_markers), ~/query (QueryBehavior service; with allow_cached false and
a language model, a fresh answer within query.timeout_s), ~/describe (DescribeBehavior action), /diagnostics.
Callback groups: images, queries and the action each have their own, so with the MultiThreadedExecutor none waits
behind another or behind the default group (lifecycle and parameter services, the diagnostics timer).

Data time is the images' header stamps, never the time a callback happens to run, so live cameras, use_sim_time and
bag replay behave the same.
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import threading
import time
import warnings
from collections import OrderedDict
from typing import Any, Callable

import rclpy
from builtin_interfaces.msg import Duration as DurationMsg
from builtin_interfaces.msg import Time as TimeMsg
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import Point
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.clock import Clock, ClockType
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.lifecycle import LifecycleNode, LifecycleState, TransitionCallbackReturn
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import qos_policy_name_from_kind, qos_profile_sensor_data
from rclpy.utilities import remove_ros_args
from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header
from visualization_msgs.msg import Marker, MarkerArray

try:  # Jazzy (where rclpy.qos_event still imports, with a deprecation warning)
    from rclpy.event_handler import SubscriptionEventCallbacks
except ImportError:  # Humble
    from rclpy.qos_event import SubscriptionEventCallbacks

from motionllm_ros.action import DescribeBehavior
from motionllm_ros.config import NODE_NAME, Config, ConfigError, ParameterSpec, parameter_specs
from motionllm_ros.engine import Description, StreamingEngine
from motionllm_ros.msg import BehaviorDescription, SmplPose
from motionllm_ros.models_cache import default_pose_model
from motionllm_ros.perception.camera import Intrinsics
from motionllm_ros.ros.answers import (Answer, FreshAnswerer, answer, can_answer_fresh, failure, window_to_answer,
                                       word_by_word)
from motionllm_ros.ros.conversions import (ImageConverter, behavior_description_msg, behavior_result,
                                           camera_info_topic, delete_skeleton_markers, seconds_to_time,
                                           skeleton_markers, smpl_pose_msg, smpl_result, stamp_to_seconds)
from motionllm_ros.ros.intake import FrameIntake, input_status
from motionllm_ros.ros.tf_orientation import tf_camera_orientation
from motionllm_ros.ros.qos import behavior_qos, describe_qos, image_qos, qos_mismatch_hint, skeleton_qos
from motionllm_ros.runtime import build_engine, close_engine
from motionllm_ros.sources.base import BadFrame, Frame
from motionllm_ros.srv import QueryBehavior


DIAGNOSTICS_PERIOD_SEC = 1.0
# A run of zero-stamped images this long means the driver never stamps: its images then take their arrival time.
ZERO_STAMP_RUN = 10
# ~/describe streams its answer as feedback. Before the first message it waits (at most this long) for the
# client's feedback subscription to be matched, and it spaces messages by at least FEEDBACK_MIN_INTERVAL_S: the
# client's feedback reader keeps only the newest 10 (rclpy's default depth), and feedback must not overtake or
# trail the result, which travels on another channel.
FEEDBACK_MATCH_TIMEOUT_S = 2.0
FEEDBACK_MIN_INTERVAL_S = 0.02
# rclpy's default is one thread per CPU core, 2 on a small robot computer: too few when a ~/query waits for a fresh
# answer and a ~/describe streams while images keep arriving and the lifecycle services must still respond.
EXECUTOR_THREADS = 4
# Seconds a Python thread may hold the GIL before it must offer it (CPython's default is 0.005). With the default,
# the engine's pure-Python work on its worker threads kept the executor from taking images for up to 0.2 s, the
# subscription's keep-last queue overflowed, and the node took only 89-97% of the images that Fast DDS had
# delivered (its lost-sample count stayed 0). At 0.5 ms every image was taken in repeated runs, and perception got
# through more frames too (the delivery bench, README "Image delivery over DDS").
GIL_SWITCH_INTERVAL_S = 0.0005

# `autostart` acts once, at start-up; `input.bag_topic` is read by the offline CLI only.
READ_ONLY_PARAMETERS = frozenset({"autostart", "input.bag_topic"})

_ROS_TYPES = {bool: Parameter.Type.BOOL, int: Parameter.Type.INTEGER, float: Parameter.Type.DOUBLE,
              str: Parameter.Type.STRING}
_SPECS = {spec.name: spec for spec in parameter_specs()}
_LEVELS = {"ok": DiagnosticStatus.OK, "warn": DiagnosticStatus.WARN, "error": DiagnosticStatus.ERROR}


# config, on_result, on_person -> a running engine whose `perception` holds the models; `runtime.build_engine` in
# production. on_person(frame, scene) gets every processed frame's SceneFrame on the engine's perception worker.
# camera_orientation (keyword, camera.ego_motion tf): stamp -> the camera's rotation from TF, or None when unknown.
EngineFactory = Callable[..., StreamingEngine]


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
    """Lifecycle node `motionllm`. Parameters: every field of `Config` (see `motionllm params`).

    `engine_factory` builds the models and the engine at configure; `runtime.build_engine` unless a test or an
    embedding application brings its own.
    """

    def __init__(self, engine_factory: EngineFactory = build_engine, **node_kwargs: Any):
        super().__init__(NODE_NAME, **node_kwargs)
        self.config: Config | None = None  # set by on_configure
        self.engine: StreamingEngine | None = None  # from configure to cleanup; holds the models
        self._engine_factory = engine_factory
        self.intake = FrameIntake()  # connected to the engine at configure
        self.converter = ImageConverter(log=self.get_logger().info)
        # Tracked here because rclpy has no public getter for the lifecycle state.
        self._state = "unconfigured"
        self._active_since: float | None = None  # node-clock seconds
        self._subscription: Any = None
        self._qos: Any = None
        self._topic = ""
        self._expected_type = ""  # e.g. "sensor_msgs/msg/Image"
        self._camera_info_subscription: Any = None
        self._calibration: tuple[Any, ...] | None = None  # (k..., width, height) of the camera_info in use
        # The image callback and its QoS events get their own group, so that with the MultiThreadedExecutor they
        # never wait behind the default group (lifecycle services, parameter services, the diagnostics timer).
        self._input_group = MutuallyExclusiveCallbackGroup()
        # What ~/behavior sent, for the evidence of answers: (window_end, track_id) -> latency_sec. Written by the
        # engine's model thread, read by the query and action callbacks.
        self._sent_latency: OrderedDict[tuple[float, int | None], float] = OrderedDict()
        self._sent_capacity = 1  # as many as the engine's history holds (engine.history)
        self._sent_lock = threading.Lock()
        self._last_processing_s: float | None = None  # wall seconds from the window's last frame to its result
        self._errors_reported = 0  # engine stage errors already reported on /diagnostics
        self._fresh_answer = FreshAnswerer()  # ~/query with allow_cached false and a language model
        self._warned_publishers: set[tuple[str, str, str]] = set()  # (node, problem, topic) already logged
        self._zero_stamps_in_a_row = 0  # images with an empty header stamp since the last stamped one
        self._image_frame_id = ""  # of the newest image: the frame TF looks up (camera.ego_motion tf)
        self._ego_unknown_reported = 0  # frames whose camera motion was unknown, as of the last /diagnostics

        for spec in parameter_specs():
            self.declare_parameter(spec.name, spec.default, parameter_descriptor(spec))
        # Registered after declaring: a bad value from a parameter file must not stop the process in the
        # constructor, but fail `configure` with a message (a lifecycle node can then be fixed and configured).
        self.add_on_set_parameters_callback(self._on_set_parameters)

        # A lifecycle publisher: silent until activated. Results are published from the engine's model thread:
        # rclpy's publish() may be called from any thread (rcl_publish is thread-safe).
        self._behavior_publisher = self.create_lifecycle_publisher(BehaviorDescription, "~/behavior", behavior_qos())
        # Per-frame outputs, published from the engine's perception worker. Created here whatever output.* says, so
        # the node's topics do not change between configurations; a disabled one never publishes. ~/smpl_pose is
        # a sensor stream (best effort, a late message is worthless); ~/skeleton is reliable because RViz's marker
        # display subscribes reliable by default and a best-effort publisher would never match it.
        self._smpl_publisher = self.create_lifecycle_publisher(SmplPose, "~/smpl_pose", qos_profile_sensor_data)
        self._skeleton_publisher = self.create_lifecycle_publisher(MarkerArray, "~/skeleton", skeleton_qos())
        self._skeleton_shown = False  # markers of a fit are on display: the next frame without one deletes them
        # Answers read the engine's history and never wait on the models; each interface has its own group so a
        # long stream on ~/describe never holds up ~/query. Reentrant for the action: its cancel requests must be
        # handled while a goal executes.
        self._query_service = self.create_service(QueryBehavior, "~/query", self._on_query,
                                                  callback_group=MutuallyExclusiveCallbackGroup())
        self._describe_server = ActionServer(
            self, DescribeBehavior, "~/describe", self._execute_describe, callback_group=ReentrantCallbackGroup(),
            goal_callback=self._on_describe_goal, cancel_callback=self._on_describe_cancel)

        # /diagnostics, as diagnostic_updater would publish it (which is not on PyPI): one status, published on a
        # steady-clock timer so that it keeps coming while /clock is paused under use_sim_time.
        self._diagnostics_publisher = self.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._diagnostics_timer = self.create_timer(DIAGNOSTICS_PERIOD_SEC, self._publish_diagnostics,
                                                    clock=Clock(clock_type=ClockType.STEADY_TIME))
        self._guard_change_state()

    def _guard_change_state(self) -> None:
        """Answers an invalid transition request on ~/change_state with success=false, on every distribution.

        rclpy before Kilted lets the RCLError of a transition that the current state does not have ("Transition
        is not registered") escape the service callback, which stops the executor: one wrong request from a
        planner would take the node down (ros2/rclpy#1209). The state machine has not moved when that is raised.
        """
        service = getattr(self, "_service_change_state", None)
        if service is None:  # enable_communication_interface=False
            return
        handle = service.callback

        def change_state(request: Any, response: Any) -> Any:
            try:
                return handle(request, response)
            except Exception as error:  # _rclpy.RCLError, which rclpy does not export
                self.get_logger().warning(
                    f"refused lifecycle transition {request.transition.id} '{request.transition.label}' in state "
                    f"{self._state}: {str(error).splitlines()[0]}")
                response.success = False
                return response

        service.callback = change_state

    # --------------------------------------------------------------------------------------------- lifecycle
    def on_configure(self, state: LifecycleState) -> TransitionCallbackReturn:
        try:
            config = Config().replace({name: self.get_parameter(name).value for name in _SPECS})
        except ConfigError as error:
            self.get_logger().error(f"cannot configure: {error}")
            return TransitionCallbackReturn.FAILURE
        try:
            # Loads the models: the slow part of bringing the node up, done here so activation is instant.
            # The engine's workers start now and idle until activation sends frames.
            orientation = None
            if config.camera.ego_motion == "tf":
                try:
                    orientation = tf_camera_orientation(self, config.camera.fixed_frame, lambda: self._image_frame_id)
                except ImportError as error:
                    raise ConfigError(f"camera.ego_motion is 'tf' but tf2_ros cannot be imported ({error}): it comes "
                                      f"with a ROS 2 installation, not with the PyPI wheels; use 'image' there")
            engine = self._engine_factory(config, self._publish_result, self._publish_person,
                                          camera_orientation=orientation)
        except Exception as error:  # model errors name their parameter (pose.model, smpl.model)
            # Caught rather than left to rclpy, which would swallow the message and go through on_error.
            self.get_logger().error(f"cannot configure: {error}")
            return TransitionCallbackReturn.FAILURE
        result = super().on_configure(state)
        if result != TransitionCallbackReturn.SUCCESS:
            close_engine(engine, flush=False)
            return result
        self.config, self.engine = config, engine
        with self._sent_lock:
            self._sent_latency.clear()
            self._sent_capacity = config.engine.history
            self._last_processing_s = None
        self._errors_reported = 0
        self.intake.reset()
        self.intake.connect(engine)
        self._subscribe(config)
        self.get_logger().info(
            f"models loaded (pose.model {config.pose.model or f'{default_pose_model()} (the cached default)'}, "
            f"smpl.model {config.smpl.model or 'built-in synthetic'});"
            f" {'lossless' if config.engine.lossless else 'live'} engine, {config.window.length_s:g} s windows "
            f"every {config.window.stride_s:g} s of data time")
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
        self._free_engine()
        self.config = None
        self._state = "unconfigured"
        return super().on_cleanup(state)

    def on_shutdown(self, state: LifecycleState) -> TransitionCallbackReturn:
        self._unsubscribe()
        self._free_engine()
        self._state = "finalized"
        return super().on_shutdown(state)

    def on_error(self, state: LifecycleState) -> TransitionCallbackReturn:
        # rclpy swallows the exception that led here; what remains to do is to get back to a clean unconfigured
        # (the base class's SUCCESS), or to finalized if a managed entity cannot recover.
        self.get_logger().error("a lifecycle transition failed with an error; cleaning up")
        self._unsubscribe()
        self._free_engine()
        self.config = None
        self._state = "unconfigured"
        return super().on_error(state)

    def destroy_node(self) -> None:
        # Ctrl-C ends the process without a shutdown transition: the engine's threads and the models go here.
        # Also called by rclpy (Kilted) on a node whose constructor raised, e.g. on a bad parameter override.
        if hasattr(self, "engine"):
            self._free_engine()
        if hasattr(self, "_describe_server"):
            self._describe_server.destroy()
        super().destroy_node()

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

    def _free_engine(self) -> None:
        engine, self.engine = self.engine, None
        self.intake.connect(None)
        if engine is not None:
            # Windows still queued are described and sent to the publisher, which is inactive by now and drops
            # them; a partial last window is not cut (flush=False).
            close_engine(engine, flush=False)
            if self.context.ok():  # after Ctrl-C rosout cannot publish any more
                self.get_logger().info("engine stopped, models freed")

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
            event_callbacks=SubscriptionEventCallbacks(incompatible_qos=self._on_incompatible_qos,
                                                       message_lost=self._on_message_lost))
        self._topic = self._subscription.topic_name
        self._expected_type = f"sensor_msgs/msg/{msg_type.__name__}"
        self.get_logger().info(f"subscribed to {self._topic} ({self._expected_type}, {describe_qos(self._qos)})")
        self._check_publishers()
        if config.input.camera_info:
            # Same QoS as the images: camera drivers publish both alike. Resolved from the image topic as given
            # (relative names stay relative, so the node's namespace and remappings apply to both).
            self._camera_info_subscription = self.create_subscription(
                CameraInfo, camera_info_topic(config.input.image_topic), self._on_camera_info, self._qos,
                callback_group=self._input_group)

    def _unsubscribe(self) -> None:
        for subscription in (self._subscription, self._camera_info_subscription):
            if subscription is not None:
                self.destroy_subscription(subscription)
        self._subscription = self._camera_info_subscription = None
        self._calibration = None

    def _on_camera_info(self, msg: CameraInfo) -> None:
        try:
            self._take_camera_info(msg)
        except Exception as error:  # an exception escaping a callback stops the executor, i.e. the whole node
            self.get_logger().error(f"camera_info callback failed: {type(error).__name__}: {error}",
                                    throttle_duration_sec=5.0)

    def _take_camera_info(self, msg: CameraInfo) -> None:
        """Hands a new calibration to perception (distances, speeds); an uncalibrated one is ignored, once said."""
        engine = self.engine
        calibration = (*msg.k, msg.width, msg.height)
        if engine is None or calibration == self._calibration:
            return
        topic = self._camera_info_subscription.topic_name
        try:
            intrinsics = Intrinsics.from_camera_info_k(msg.k, msg.width, msg.height)
        except ValueError as error:  # CameraModelError: fx = 0 (uncalibrated), a K without 9 values
            self.get_logger().warning(f"camera_info on {topic} is not usable ({error}): distances and speeds use "
                                      f"camera.hfov_deg", once=True)
            return
        engine.perception.set_intrinsics(intrinsics)
        self._calibration = calibration
        self.get_logger().info(f"camera intrinsics from {topic}: fx {intrinsics.fx:.1f} fy {intrinsics.fy:.1f} "
                               f"cx {intrinsics.cx:.1f} cy {intrinsics.cy:.1f} for {msg.width}x{msg.height}")

    def _check_publishers(self) -> bool:
        """Logs, once each, the visible publishers of our topic that can never deliver to us (wrong QoS or type).
        True when one was found (logged now or before)."""
        publishers = self.get_publishers_info_by_topic(self._topic)
        if not publishers:
            self.get_logger().info(f"no publisher on {self._topic} yet")
        found = False
        for info in publishers:
            who = f"{info.node_namespace.rstrip('/')}/{info.node_name}"
            problems = []
            if info.topic_type != self._expected_type:
                problems.append(f"{who} publishes {info.topic_type} on {self._topic}, this node subscribes "
                                f"{self._expected_type}: check input.image_transport")
            hint = qos_mismatch_hint(self._qos, info.qos_profile)
            if hint is not None:
                problems.append(f"{who} offers {describe_qos(info.qos_profile, offered=True)} on {self._topic}, "
                                f"this node requests {describe_qos(self._qos)}: {hint}")
            for problem in problems:
                found = True
                if (who, problem, self._topic) not in self._warned_publishers:
                    self._warned_publishers.add((who, problem, self._topic))
                    self.get_logger().warning(problem)
        return found

    def _on_incompatible_qos(self, info: Any) -> None:
        # The publisher that caused it is normally in the graph by now and is named by _check_publishers; the
        # event alone is logged only when it is not (yet).
        if not self._check_publishers():
            self.get_logger().warning(
                f"a publisher on {self._topic} offers a QoS incompatible with this subscription "
                f"({describe_qos(self._qos)}): {qos_policy_name_from_kind(info.last_policy_kind)} policy",
                throttle_duration_sec=10.0)

    def _on_message_lost(self, info: Any) -> None:
        self.intake.lost_by_dds(info.total_count_change)

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
        stamp = stamp_to_seconds(msg.header.stamp)
        self.intake.arrived(arrival, stamp)
        if stamp == 0.0:
            # Some drivers send a first image or two unstamped, then stamp the rest: giving those the arrival time
            # would put them ahead of the stamped images that follow (which carry the capture time), so data time
            # would seem to go back and the windows and tracks would restart. They are skipped and counted. A
            # driver that never stamps is recognised after ZERO_STAMP_RUN images, and from then on the node clock
            # is the data time (it follows /clock under use_sim_time, as a replayed bag's stamps would).
            self._zero_stamps_in_a_row += 1
            if self._zero_stamps_in_a_row < ZERO_STAMP_RUN:
                self.intake.skip(BadFrame("zero_stamp", "the image's header stamp is zero"), self._topic, None)
                return
            self.get_logger().warning(f"images on {self._topic} have zero header stamps: using their arrival time "
                                      f"on the node clock instead", once=True)
            stamp = arrival
        else:
            self._zero_stamps_in_a_row = 0
        try:
            rgb = to_rgb(msg)
        except BadFrame as error:
            self.intake.skip(error, self._topic, stamp)
            return
        except Exception as error:  # e.g. an OpenCV error on a payload nobody anticipated: counted like the rest
            self.intake.skip(BadFrame("conversion_error", f"{type(error).__name__}: {error}"), self._topic, stamp)
            return
        self._image_frame_id = msg.header.frame_id
        self.intake.submit(Frame(stamp, rgb, msg.header.frame_id))

    # ---------------------------------------------------------------------------------------------- results
    def _publish_result(self, description: Description) -> None:
        """The engine's on_result, run on its model thread. An exception here is logged and counted by the engine
        (errors.output, on /diagnostics) and the next window proceeds."""
        result = behavior_result(description)
        # Node clock minus data time, as BehaviorDescription.latency_sec documents (both are data time under
        # use_sim_time).
        latency = self._now() - result.window_end
        self._behavior_publisher.publish(self._behavior_msg(result, latency))
        with self._sent_lock:
            self._sent_latency[(description.window_end, description.track_id)] = latency
            while len(self._sent_latency) > self._sent_capacity:
                self._sent_latency.popitem(last=False)
            self._last_processing_s = description.latency_s

    def _publish_person(self, frame: Frame, scene: Any) -> None:
        """The engine's on_person, run on its perception worker for every processed frame (a SceneFrame):
        ~/smpl_pose for every fitted person (a failed fit is sent with valid false), ~/skeleton with everybody's
        valid fit, and one DELETEALL when nobody's fit is valid any more. An exception here is logged and counted
        by the engine (errors.output)."""
        config = self.config
        if config is None:  # a frame still in the engine while cleanup runs
            return
        pitch = math.radians(config.smpl.camera_pitch_deg)
        results = [r for person in scene.people if (r := smpl_result(person, frame.frame_id, pitch)) is not None]
        if config.output.smpl_pose:
            for result in results:
                self._smpl_publisher.publish(smpl_pose_msg(result, msg_type=SmplPose, header_type=Header,
                                                           time_type=TimeMsg))
        if not config.output.skeleton_markers:
            return
        valid = [result for result in results if result.valid]
        if valid:
            self._skeleton_publisher.publish(skeleton_markers(
                valid, array_type=MarkerArray, marker_type=Marker, point_type=Point, header_type=Header,
                time_type=TimeMsg, duration_type=DurationMsg))
            self._skeleton_shown = True
        elif self._skeleton_shown:
            self._skeleton_publisher.publish(delete_skeleton_markers(
                frame.stamp, frame.frame_id, array_type=MarkerArray, marker_type=Marker, header_type=Header,
                time_type=TimeMsg))
            self._skeleton_shown = False

    def _behavior_msg(self, result: Any, latency: float) -> BehaviorDescription:
        return behavior_description_msg(result, latency, msg_type=BehaviorDescription, header_type=Header,
                                        time_type=TimeMsg)

    def _evidence(self, descriptions: tuple[Description, ...]) -> list[BehaviorDescription]:
        """The descriptions behind an answer as the messages ~/behavior sent (or would have, if inactive then)."""
        now = self._now()
        with self._sent_lock:
            sent = dict(self._sent_latency)
        return [self._behavior_msg(behavior_result(d), sent.get((d.window_end, d.track_id), now - d.window_end))
                for d in descriptions]

    def _answer(self, question: str, track_id: int, lookback_sec: float, fresh: bool = False) -> Answer:
        engine, config = self.engine, self.config
        if self._state != "active" or engine is None or config is None:
            return failure(f"the node is {self._state}, not active: it answers once activated")
        if fresh and can_answer_fresh(engine):
            # Waits here, on this executor thread, for at most query.timeout_s while the model answers on a worker
            # thread. No other callback waits with it: ~/query has a callback group of its own, and the
            # MultiThreadedExecutor runs the images, ~/describe, the lifecycle and parameter services and the
            # diagnostics timer (other groups) on its other threads. Only a second ~/query waits, as long at most.
            return self._fresh_answer(engine, question, track_id, lookback_sec, config.query.timeout_s)
        return answer(engine, question, track_id, lookback_sec)

    def _on_query(self, request: Any, response: Any) -> Any:
        """~/query: from the history at once, or with `allow_cached` false and a language model loaded, a fresh
        answer on the latest window within query.timeout_s; the response object must be returned in every case."""
        try:
            result = self._answer(request.question, request.track_id, float(request.lookback_sec),
                                  fresh=not request.allow_cached)
            response.success = result.success
            response.message = result.message
            response.answer = result.text
            response.evidence = self._evidence(result.evidence)
            if result.success:
                response.stamp = seconds_to_time(result.stamp, TimeMsg)
        except Exception as error:  # an exception escaping a service callback stops the executor
            self.get_logger().error(f"~/query failed: {type(error).__name__}: {error}")
            response = QueryBehavior.Response(success=False, message=f"query failed: {type(error).__name__}: {error}")
        return response

    def _on_describe_goal(self, goal: Any) -> GoalResponse:
        if self._state != "active":
            self.get_logger().info(f"~/describe goal rejected: the node is {self._state}, not active")
            return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _on_describe_cancel(self, goal_handle: Any) -> CancelResponse:
        return CancelResponse.ACCEPT  # rclpy's default rejects every cancel request

    def _execute_describe(self, goal_handle: Any) -> Any:
        """~/describe: with a language model, a fresh answer about the latest window, streamed as feedback one
        message per generated token; with the primitives, the query's answer streamed one message per word. A
        cancel stops the generation at the next token (or word) and the result holds the text so far. Every path
        sets a terminal state and returns a Result."""
        try:
            request = goal_handle.request
            engine = self.engine
            found = self._answer(request.question, request.track_id, float(request.lookback_sec))
            if not found.success or engine is None:
                goal_handle.abort()
                return DescribeBehavior.Result(success=False, message=found.message)
            evidence = self._evidence(found.evidence)
            stream = FeedbackStream(self, goal_handle)
            if can_answer_fresh(engine):
                text, message, cancelled = self._generate_streamed(engine, request, stream)
            else:
                text, message, cancelled = found.text, found.message, False
                for partial in word_by_word(found.text):
                    if goal_handle.is_cancel_requested:
                        cancelled = True
                        break
                    stream.send(partial)
            stream.finish()
            if cancelled:
                goal_handle.canceled()
                return DescribeBehavior.Result(success=False, message="cancelled", answer=stream.text,
                                               evidence=evidence)
            if text is None:
                goal_handle.abort()
                return DescribeBehavior.Result(success=False, message=message, evidence=evidence)
            goal_handle.succeed()
            return DescribeBehavior.Result(success=True, message=message, answer=text, evidence=evidence)
        except Exception as error:
            self.get_logger().error(f"~/describe failed: {type(error).__name__}: {error}")
            if goal_handle.is_active:
                goal_handle.abort()
            return DescribeBehavior.Result(success=False, message=f"describe failed: {type(error).__name__}: {error}")

    def _generate_streamed(self, engine: StreamingEngine, request: Any,
                           stream: FeedbackStream) -> tuple[str | None, str, bool]:
        """The language model's answer about the latest window, each token's text sent on `stream` as it comes.
        -> (answer, or None when there is none; message; whether the goal's cancel stopped it)."""
        window, why = window_to_answer(engine, request.track_id)
        if window is None:
            return None, why, False
        cancel = threading.Event()

        def on_text(text: str) -> None:
            if stream.goal.is_cancel_requested:
                cancel.set()  # the generation stops before its next token
                return
            stream.send(text)

        result = engine.describer.answer(window, request.question or engine.describer.question, cancel=cancel,
                                         on_text=on_text)
        return (result.answer, f"fresh answer by {engine.describer.model_id} on the window "
                f"{window.start:.3f}..{window.end:.3f} s", result.stop_reason == "cancelled")

    # ---------------------------------------------------------------------------------------------- helpers
    def _now(self) -> float:
        """Node-clock seconds (ROS time: /clock under use_sim_time)."""
        return self.get_clock().now().nanoseconds * 1e-9

    def _publish_diagnostics(self) -> None:
        try:
            status = self._diagnose_input()
        except Exception as error:  # never let a diagnostics bug stop the executor
            status = DiagnosticStatus(level=DiagnosticStatus.ERROR, name=f"{self.get_name()}: image input",
                                      message=f"diagnostics failed: {type(error).__name__}: {error}")
        array = DiagnosticArray(status=[status])
        array.header.stamp = self.get_clock().now().to_msg()
        self._diagnostics_publisher.publish(array)

    def _diagnose_input(self) -> DiagnosticStatus:
        """The status of the image input and the engine, as diagnostic_updater would name and fill it."""
        snapshot = self.intake.snapshot()
        level, message = input_status(snapshot, active=self._state == "active", now=self._now(),
                                      active_since=self._active_since, topic=self._topic)
        engine = self.engine
        stats = engine.stats() if engine is not None else {}
        errors = {key.split(".", 1)[1]: count for key, count in stats.items() if key.startswith("errors.")}
        new_errors = sum(errors.values()) - self._errors_reported
        self._errors_reported += new_errors
        if new_errors > 0:
            stages = ", ".join(f"{stage} {count}" for stage, count in sorted(errors.items()))
            message = f"{message}; {new_errors} engine error(s) since the last report (so far: {stages})"
            level = "warn" if level == "ok" else level
        camera_motion, unknown = self._camera_motion(engine)
        if unknown > self._ego_unknown_reported:
            message = (f"{message}; the camera's own motion was unknown in {unknown - self._ego_unknown_reported} "
                       f"frame(s) since the last report: locomotion, turning and jumps are not judged there")
            level = "warn" if level == "ok" else level
        self._ego_unknown_reported = unknown
        values: list[tuple[str, str]] = []  # (key, value) in the order shown

        def add(key: str, value: str) -> None:
            values.append((key, value))

        add("state", self._state)
        add("topic", self._topic)
        add("image conversion", self._conversion_in_use())
        add("camera intrinsics", "camera_info" if self._calibration is not None else "camera.hfov_deg")
        add("camera motion", camera_motion)
        rate = snapshot.input_rate_hz
        add("input rate [Hz, data time]", f"{rate:.2f}" if rate is not None else "unknown")
        add("received", str(snapshot.received))
        if snapshot.transport is not None:
            received, expected = snapshot.transport
            add("transport loss [recent images]",
                f"{snapshot.transport_loss:.1%} ({expected - received} of {expected})")
        else:
            add("transport loss [recent images]", "unknown")
        add("lost (reported by DDS)", str(snapshot.lost_by_dds))
        add("accepted", str(snapshot.accepted))
        add("dropped while inactive", str(snapshot.dropped_inactive))
        add("skipped", str(sum(snapshot.skipped.values())))
        for reason, count in sorted(snapshot.skipped.items()):
            add(f"skipped: {reason}", str(count))
        add("models", "loaded" if engine is not None else "not loaded")
        if engine is not None:
            add("engine mode", "lossless" if engine.params.lossless else "live")
            for key, name in (("processed", "frames processed"), ("dropped_frames", "frames dropped (engine busy)"),
                              ("windows", "windows"), ("dropped_windows", "windows dropped (model busy)"),
                              ("described", "described")):
                add(name, str(stats.get(key, 0)))
            add("people", self._people(engine))
            for stage, count in sorted(errors.items()):
                add(f"errors: {stage}", str(count))
            with self._sent_lock:
                last = next(reversed(self._sent_latency.values()), None)
                processing = self._last_processing_s
            add("last latency [s, node clock - window end]", f"{last:.3f}" if last is not None else "none yet")
            add("last processing time [s, wall, last frame - result]",
                f"{processing:.3f}" if processing is not None else "none yet")
        return DiagnosticStatus(level=_LEVELS[level], name=f"{self.get_name()}: image input", message=message,
                                hardware_id=self._topic or "none",
                                values=[KeyValue(key=key, value=value) for key, value in values])

    def _camera_motion(self, engine: StreamingEngine | None) -> tuple[str, int]:
        """('<camera.ego_motion>: N frames known, M unknown', M) from perception's counters (camera.ego_motion)."""
        config = self.config
        if engine is None or config is None:
            return "not configured", 0
        if config.camera.ego_motion == "none":
            return "none: the camera is taken as still", 0
        counters = getattr(engine.perception, "ego_counters", {})
        known, unknown = (counters.get(f"{config.camera.ego_motion}.{kind}", 0) for kind in ("known", "unknown"))
        return f"{config.camera.ego_motion}: {known} frames known, {unknown} unknown", unknown

    @staticmethod
    def _people(engine: StreamingEngine) -> str:
        """'fits 120 (valid 110), not fitted over pose.max_people 4, skipped as ambiguous 2': what perception did
        with the people it saw, from its counters (a person per frame each)."""
        fits = getattr(engine.perception, "counters", {})
        pose = getattr(getattr(engine.perception, "pose", None), "counters", {})
        return (f"fits {fits.get('fitted', 0)} (valid {fits.get('valid', 0)}), not fitted over "
                f"pose.max_people {fits.get('over_cap', 0)}, skipped as ambiguous {pose.get('ambiguous_people', 0)}")

    def _conversion_in_use(self) -> str:
        if self.config is not None and self.config.input.image_transport == "compressed":
            return "OpenCV imdecode (JPEG/PNG)"
        return self.converter.backend or "not decided yet (no raw image so far)"


class FeedbackStream:
    """Sends one goal's partial answers as DescribeBehavior feedback, in order, none lost, none after the result.

    Feedback is a topic while the result is a service response: a message sent before the client's feedback
    subscription is matched is lost, one sent just before the result can be taken after it (and the client then
    drops it), and rclpy's client keeps only the newest 10. So the stream waits (at most FEEDBACK_MATCH_TIMEOUT_S)
    for a subscriber of the action's feedback topic, spaces messages by FEEDBACK_MIN_INTERVAL_S, and `finish`
    leaves one more interval before the result. A language model on a robot generates far slower than that.
    """

    def __init__(self, node: Node, goal: Any):
        self.goal = goal
        self.text = ""  # the newest partial text sent
        self._sent = 0
        self._last_sent = 0.0  # time.monotonic() of the newest message
        topic = f"{node.get_fully_qualified_name()}/describe/_action/feedback"
        deadline = time.monotonic() + FEEDBACK_MATCH_TIMEOUT_S
        while node.count_subscribers(topic) == 0 and time.monotonic() < deadline:
            time.sleep(0.01)

    def send(self, partial_text: str) -> None:
        self._pace()
        self._sent += 1
        self.goal.publish_feedback(DescribeBehavior.Feedback(partial_text=partial_text, tokens_generated=self._sent))
        self.text = partial_text

    def finish(self) -> None:
        if self._sent:
            self._pace()

    def _pace(self) -> None:
        wait = self._last_sent + FEEDBACK_MIN_INTERVAL_S - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last_sent = time.monotonic()


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


# motionllm_node's own options: the arguments of launch/motionllm.launch.py, for running the node without `launch`
# (which is not on PyPI). option -> (ROS parameter, its type); each is passed on as `-p parameter:=value`, after the
# parameter file, so it wins over it.
NODE_OPTIONS = {"image_topic": ("input.image_topic", str), "image_transport": ("input.image_transport", str),
                "device": ("device", str), "autostart": ("autostart", bool), "use_sim_time": ("use_sim_time", bool)}


def node_arguments(argv: list[str]) -> list[str]:
    """`motionllm_node [options] [--ros-args ...]` -> the command line rclpy.init takes: the options turned into
    ROS arguments (namespace remap, parameter file, parameters, log level) ahead of the given ROS arguments."""
    parser = argparse.ArgumentParser(
        prog="motionllm_node", description="The motionllm lifecycle node. The options are the arguments of "
        "motionllm.launch.py; anything after --ros-args is passed to ROS 2 as usual.")
    parser.add_argument("--namespace", default="", help="namespace of the node")
    parser.add_argument("--params-file", help="ROS 2 parameter file (e.g. config/motionllm.yaml); default: the "
                        "parameters' own defaults, which are that file's")
    for option, (parameter, value_type) in NODE_OPTIONS.items():
        spec = _SPECS.get(parameter)  # use_sim_time is rclpy's own
        choices = ["true", "false"] if value_type is bool else (list(spec.choices) if spec and spec.choices else None)
        parser.add_argument("--" + option.replace("_", "-"), choices=choices, help=f"sets {parameter}")
    parser.add_argument("--log-level", choices=["debug", "info", "warn", "error", "fatal"])
    options = parser.parse_args(remove_ros_args(argv)[1:])
    ros_args = []
    if options.namespace:
        ros_args += ["-r", f"__ns:=/{options.namespace.strip('/')}"]
    if options.params_file:
        ros_args += ["--params-file", options.params_file]
    for option, (parameter, value_type) in NODE_OPTIONS.items():
        value = getattr(options, option)
        if value is not None:
            # A string parameter is quoted so that ROS's YAML parsing keeps it a string ('1234', 'true').
            ros_args += ["-p", f"{parameter}:={value}" if value_type is bool else f"{parameter}:='{value}'"]
    if options.log_level:
        ros_args += ["--log-level", options.log_level]
    given = argv[argv.index("--ros-args"):] if "--ros-args" in argv else []  # ROS's own, after ours: they win
    return [argv[0], *(["--ros-args", *ros_args] if ros_args else []), *given]


def main(args: list[str] | None = None) -> int:
    """`motionllm_node [options] [--ros-args ...]`, also `ros2 run motionllm_ros motionllm_node`. Returns the exit
    status: 0 after a normal shutdown (Ctrl-C, SIGTERM), 2 for a bad option or parameter, 1 when ROS 2 itself cannot
    start (each with one line on stderr saying why)."""
    argv = node_arguments(list(sys.argv if args is None else args))
    project_logger = logging.getLogger("motionllm")
    handler: RosLogHandler | None = None
    node: MotionLLMNode | None = None
    try:
        try:
            rclpy.init(args=argv)
            with warnings.catch_warnings():  # rclpy's own "Failed to fini rosout publisher" after a failed start
                warnings.simplefilter("ignore", RuntimeWarning)
                node = MotionLLMNode()
        except ParameterException as error:  # a parameter override of the wrong type or out of range
            print(f"motionllm_node: cannot start: {error}", file=sys.stderr)
            return 2
        except Exception as error:  # rclpy's RCLError: an rmw or DDS set-up that fails (e.g. data sharing for
            # ROS 2's unbounded types in a Fast DDS profile the rmw applies; a profile that does not parse is only
            # logged by Fast DDS, which then runs on its defaults)
            first_line = (str(error).strip().splitlines() or [type(error).__name__])[0]
            print(f"motionllm_node: cannot start ROS 2 ({type(error).__name__}): {first_line}", file=sys.stderr)
            return 1
        handler = RosLogHandler(node.get_logger())
        project_logger.addHandler(handler)
        project_logger.setLevel(logging.DEBUG)  # the ROS logger's level (--log-level) does the filtering
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        node.start_if_autostart()
        executor = MultiThreadedExecutor(num_threads=EXECUTOR_THREADS)
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):  # Ctrl-C, or SIGTERM from launch
        pass
    finally:
        # After a signal the context is shut down and rosout can no longer publish: the engine is stopped
        # without logging through ROS (that would print "Failed to publish log message to rosout").
        if handler is not None:
            project_logger.removeHandler(handler)
        if node is not None:
            node.destroy_node()
        rclpy.try_shutdown()  # after a signal the context is already shut down: shutdown() would raise
    return 0
