"""Real ROS 2 for the node's tests: rclpy, Fast DDS and the generated messages, as `scripts/setup_ros.sh` installs
them from PyPI (Jazzy or Kilted), no test double.

A `RosHarness` is one rclpy context holding the node under test, spun by a MultiThreadedExecutor as `main()` spins
it, and a client node on an executor of its own that plays the robot's other processes: a camera, a planner
calling ~/query and ~/describe, a lifecycle manager calling ~/change_state. Both executors run on background
threads; the test thread waits for what arrives. Everything goes through DDS (rclpy has no intra-process path).

Isolation: every test process runs on its own ROS_DOMAIN_ID with discovery limited to this host
(`scripts/test_ros.sh` sets both; a run without them picks a domain from the process id), so parallel runs and
other machines never see each other.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("ROS_DOMAIN_ID", str(1 + os.getpid() % 100))
os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")

import rclpy  # noqa: E402  (after the environment above: it is read when the context starts)
from builtin_interfaces.msg import Time as TimeMsg  # noqa: E402
from lifecycle_msgs.msg import Transition  # noqa: E402
from lifecycle_msgs.srv import ChangeState, GetState  # noqa: E402
from rcl_interfaces.msg import Log  # noqa: E402
from rclpy.action import ActionClient  # noqa: E402
from rclpy.executors import MultiThreadedExecutor, SingleThreadedExecutor  # noqa: E402
from rclpy.node import Node  # noqa: E402
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402
from std_msgs.msg import Header  # noqa: E402

WAIT_S = 60.0  # generous: things normally arrive within a second or two; a hang fails instead of blocking
RELIABLE = QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)
BEST_EFFORT = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5, reliability=ReliabilityPolicy.BEST_EFFORT,
                         durability=DurabilityPolicy.VOLATILE)
LATCHED = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=10, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)  # what ~/behavior offers


def wait_for(predicate: Callable[[], Any], what: str, timeout: float = WAIT_S) -> Any:
    """Polls `predicate` until it returns something truthy, which is returned; fails after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.02)


def stamp(seconds: float) -> TimeMsg:
    return TimeMsg(sec=int(seconds), nanosec=int(round((seconds - int(seconds)) * 1e9)))


def image_msg(rgb: np.ndarray, seconds: float, frame_id: str = "camera") -> Image:
    """An rgb8 sensor_msgs/Image of `rgb` (H, W, 3) uint8, stamped `seconds` of data time."""
    height, width, _ = rgb.shape
    return Image(header=Header(stamp=stamp(seconds), frame_id=frame_id), height=height, width=width,
                 encoding="rgb8", is_bigendian=0, step=width * 3, data=rgb.tobytes())


def clip_frames(path: Path, scale: float = 0.25) -> list[tuple[float, np.ndarray]]:
    """(stamp [s], rgb) of a real clip, shrunk by `scale` so that raw images stay small on DDS."""
    import cv2

    from motionllm_ros.sources import open_source

    return [(frame.stamp, cv2.resize(frame.rgb, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA))
            for frame in open_source(str(path))]


class RosHarness:
    """One context: the node under test on a MultiThreadedExecutor, and `client`, a plain node on its own executor."""

    def __init__(self, executor_threads: int = 4):
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self._executor_threads = executor_threads
        self._executors: list[Any] = []
        self._threads: list[threading.Thread] = []
        self.nodes: list[Node] = []
        self.client = Node("motionllm_test_client", context=self.context)
        self._spin(self.client, SingleThreadedExecutor(context=self.context))
        self.rosout: list[Log] = []
        self.client.create_subscription(Log, "/rosout", self.rosout.append,
                                        QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE,
                                                   durability=DurabilityPolicy.TRANSIENT_LOCAL))

    def spin(self, node: Node) -> Node:
        """Spins the node under test as main() does."""
        self._spin(node, MultiThreadedExecutor(num_threads=self._executor_threads, context=self.context))
        return node

    def _spin(self, node: Node, executor: Any) -> None:
        executor.add_node(node)
        thread = threading.Thread(target=executor.spin, name=f"spin-{node.get_name()}", daemon=True)
        thread.start()
        self.nodes.append(node)
        self._executors.append(executor)
        self._threads.append(thread)

    def spinning(self, node: Node) -> bool:
        """True while the executor of `node` still runs (an exception out of a callback ends it)."""
        return self._threads[self.nodes.index(node)].is_alive()

    def close(self) -> None:
        for executor in self._executors:
            executor.shutdown(timeout_sec=5.0)
        for node in reversed(self.nodes):
            node.destroy_node()
        rclpy.try_shutdown(context=self.context)

    # ----------------------------------------------------------------------------------------- client side
    def collect(self, msg_type: Any, topic: str, qos: QoSProfile = RELIABLE) -> list[Any]:
        """Every message on `topic` from now on, appended as it arrives."""
        received: list[Any] = []
        self.client.create_subscription(msg_type, topic, received.append, qos)
        return received

    def logs(self, node: Node, level: int | None = None) -> list[str]:
        """What `node` logged, as /rosout carried it (level: rcl_interfaces/Log's, e.g. Log.WARN)."""
        name = node.get_fully_qualified_name().lstrip("/").replace("/", ".")
        return [entry.msg for entry in list(self.rosout) if entry.name == name and (level is None
                                                                                  or entry.level == level)]

    def call(self, srv_type: Any, name: str, request: Any, timeout: float = WAIT_S) -> Any:
        client = self.client.create_client(srv_type, name)
        try:
            wait_for(lambda: client.wait_for_service(timeout_sec=0.1), f"service {name}", timeout)
            future = client.call_async(request)
            wait_for(future.done, f"the response of {name}", timeout)
            return future.result()
        finally:
            self.client.destroy_client(client)

    def change_state(self, node: Node, transition_id: int) -> bool:
        request = ChangeState.Request(transition=Transition(id=transition_id))
        return self.call(ChangeState, f"{node.get_fully_qualified_name()}/change_state", request).success

    def state(self, node: Node) -> str:
        return self.state_of(node.get_fully_qualified_name())

    def state_of(self, node_name: str) -> str:
        """The lifecycle state of the node `node_name` (fully qualified), through its ~/get_state service."""
        return self.call(GetState, f"{node_name}/get_state", GetState.Request()).current_state.label

    def action_client(self, action_type: Any, name: str) -> ActionClient:
        client = ActionClient(self.client, action_type, name)
        wait_for(lambda: client.wait_for_server(timeout_sec=0.1), f"action server {name}")
        return client

    def wait_future(self, future: Any, what: str, timeout: float = WAIT_S) -> Any:
        wait_for(future.done, what, timeout)
        return future.result()
