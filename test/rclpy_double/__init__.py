"""A minimal test double of rclpy, for the node's tests on machines where ROS 2 cannot be installed.

This folder holds stand-ins for the top-level packages the node imports (rclpy, sensor_msgs, std_msgs,
builtin_interfaces, rcl_interfaces, diagnostic_msgs, diagnostic_updater). It is put on sys.path only inside
`installed()`, by the tests that need it, never globally. Written from the documented Humble/Jazzy signatures;
it reproduces what the node could get wrong:

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
- exceptions raised in callbacks propagate (as they do out of spin()).

Test hooks that are not rclpy API: `Subscription.deliver(msg)` (the executor calling the callback),
`Timer.fire()`, `Publisher.published` (what was published), `RcutilsLogger.records` (what was logged), and
`Executor.spin()`, which runs every timer once and then behaves like Ctrl-C (context shut down,
KeyboardInterrupt). Services and actions are not included: the node has none yet.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

from stand_in import stand_in

FOLDER = Path(__file__).resolve().parent
PACKAGES = ("rclpy", "sensor_msgs", "std_msgs", "builtin_interfaces", "rcl_interfaces", "diagnostic_msgs",
            "diagnostic_updater", "double_messages")


def installed(*dependents: str) -> contextlib.AbstractContextManager[None]:
    """The double importable as rclpy & co. while inside (see stand_in)."""
    return stand_in(FOLDER, PACKAGES, dependents)
