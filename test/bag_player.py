"""Plays a rosbag2 recording onto real ROS 2 topics at its recorded rate, with /clock: what `ros2 bag play --clock`
does (rosbag2_py, and so `ros2 bag`, are not on PyPI). Read with `rosbags`; each message's serialized bytes are
published as they were recorded, through rclpy's own deserialisation into the message class of its type.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Any

from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message
from rosbags.highlevel import AnyReader
from rosgraph_msgs.msg import Clock

# What `ros2 bag play` offers by default: reliable, volatile, keeping what it plays (here, all of it).
PLAY_QOS = QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE,
                      durability=DurabilityPolicy.VOLATILE)


def message_class(msgtype: str) -> Any:
    """'sensor_msgs/msg/Image' -> the rclpy message class."""
    package, kind, name = msgtype.split("/")
    return getattr(importlib.import_module(f"{package}.{kind}"), name)


def read_bag(path: Path, topics: set[str]) -> list[tuple[str, int, Any]]:
    """(topic, log time [ns], rclpy message) of `topics`, in recorded order."""
    with AnyReader([path]) as reader:
        connections = [c for c in reader.connections if c.topic in topics]
        return [(connection.topic, timestamp, deserialize_message(raw, message_class(connection.msgtype)))
                for connection, timestamp, raw in reader.messages(connections=connections)]


class BagPlayer:
    """Publishes recorded messages from `node` on their topics, and the recording's log time on /clock."""

    def __init__(self, node: Node, messages: list[tuple[str, int, Any]]):
        self.messages = messages
        self._clock = node.create_publisher(Clock, "/clock", 10)
        self._publishers = {topic: node.create_publisher(type(message), topic, PLAY_QOS)
                            for topic, _, message in messages}

    def publisher(self, topic: str) -> Any:
        return self._publishers[topic]

    def play(self, rate: float = 1.0) -> None:
        """Publishes every message when its recorded time comes (`rate` 2: twice as fast), /clock before each."""
        if not self.messages:
            return
        first_ns = self.messages[0][1]
        start = time.monotonic()
        for topic, timestamp, message in self.messages:
            delay = (timestamp - first_ns) * 1e-9 / rate - (time.monotonic() - start)
            if delay > 0:
                time.sleep(delay)
            self._clock.publish(Clock(clock=_time(timestamp)))
            self._publishers[topic].publish(message)


def _time(nanoseconds: int) -> Any:
    from builtin_interfaces.msg import Time

    return Time(sec=nanoseconds // 1_000_000_000, nanosec=nanoseconds % 1_000_000_000)
