"""rclpy.qos_event test double (the Humble module; Jazzy renamed it rclpy.event_handler)."""

from __future__ import annotations

from typing import Any, Callable


class SubscriptionEventCallbacks:
    def __init__(self, *, deadline: Callable | None = None, incompatible_qos: Callable | None = None,
                 liveliness: Callable | None = None, message_lost: Callable | None = None,
                 use_default_callbacks: bool = True):
        self.deadline = deadline
        self.incompatible_qos = incompatible_qos
        self.liveliness = liveliness
        self.message_lost = message_lost
        self.use_default_callbacks = use_default_callbacks


class PublisherEventCallbacks:
    def __init__(self, *, deadline: Callable | None = None, liveliness: Callable | None = None,
                 incompatible_qos: Callable | None = None, use_default_callbacks: bool = True):
        self.deadline = deadline
        self.liveliness = liveliness
        self.incompatible_qos = incompatible_qos
        self.use_default_callbacks = use_default_callbacks


class QoSRequestedIncompatibleQoSInfo:
    """What the incompatible-QoS event hands to the callback (read-only in rclpy)."""

    def __init__(self, total_count: int, total_count_change: int, last_policy_kind: Any):
        self.total_count = total_count
        self.total_count_change = total_count_change
        self.last_policy_kind = last_policy_kind
