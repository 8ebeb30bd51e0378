"""A minimal test double of rclpy, for the node's tests on machines where ROS 2 cannot be installed.

This folder holds stand-ins for the top-level packages the node imports (rclpy, sensor_msgs, std_msgs,
builtin_interfaces, rcl_interfaces, diagnostic_msgs, diagnostic_updater, geometry_msgs, visualization_msgs), and
`installed()` adds the interface modules that colcon would generate for this package (motionllm_ros.msg, .srv,
.action) from our own msg/, srv/ and action/ files. All of it is importable only inside `installed()`, by the
tests that need it, never globally.
Written from the documented Humble/Jazzy signatures; it reproduces what the node could get wrong:

- messages are the rosbags typestore's Humble classes, made to behave like rclpy's generated ones: keyword
  constructors with defaults, unknown fields refused, and Humble's field checks on every assignment (no int in a
  float field, no numpy array in a uint8[] field, byte constants as bytes);
- create_subscription / create_publisher without a qos_profile fail; publish() checks the message type;
- parameters are statically typed (no int -> float coercion, [] -> BYTE_ARRAY), undeclared names raise
  ParameterNotDeclaredException, descriptors' ranges and read_only apply, on-set callbacks must return a
  SetParametersResult and run newest first;
- Time / Duration have no `.seconds`, mixing clock types raises TypeError;
- the logger takes one str and only the documented keyword filters;
- lifecycle transitions follow the state machine, exceptions in transition callbacks become ERROR -> on_error,
  lifecycle publishers stay inactive until the base class's on_activate runs;
- exceptions raised in subscription, timer and service callbacks propagate (as they do out of spin());
- a service callback must return an instance of the service's Response;
- an action server rejects cancel requests unless given a cancel callback, and its goal handles only take the
  state transitions rcl_action allows (canceled() only after an accepted cancel request); an exception in the
  execute callback is logged and the goal aborted with an empty Result, a goal left active is aborted.

Test hooks that are not rclpy API: `Subscription.deliver(msg)` (the executor calling the callback),
`Timer.fire()`, `Publisher.published` (what was published) and `Publisher.wait_for_published(count, timeout)`
(for messages published from other threads), `Service.call(request)` (a client's request),
`ActionServer.send_goal(goal, on_feedback)` and `ServerGoalHandle.request_cancel()` (a client's goal and cancel
requests, run in the caller's thread), `RcutilsLogger.records` (what was logged), and `Executor.spin()`, which
runs every timer once and then behaves like Ctrl-C (context shut down, KeyboardInterrupt).
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Iterator

from stand_in import stand_in

FOLDER = Path(__file__).resolve().parent
PACKAGES = ("rclpy", "sensor_msgs", "std_msgs", "builtin_interfaces", "rcl_interfaces", "diagnostic_msgs",
            "diagnostic_updater", "geometry_msgs", "visualization_msgs", "double_messages")
INTERFACE_MODULES = ("motionllm_ros.msg", "motionllm_ros.srv", "motionllm_ros.action")


@contextlib.contextmanager
def installed(*dependents: str) -> Iterator[None]:
    """The double importable as rclpy & co., and our generated interfaces as motionllm_ros.msg/srv/action, while
    inside (see stand_in); all of them forgotten on exit."""
    with stand_in(FOLDER, PACKAGES, dependents + INTERFACE_MODULES):
        from double_messages import interface_modules

        sys.modules.update(interface_modules())
        yield
