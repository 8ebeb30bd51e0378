"""rclpy.qos test double (Humble enums and the presets the node may use)."""

from __future__ import annotations

from enum import IntEnum
from typing import Any

from rclpy.duration import Duration


class HistoryPolicy(IntEnum):
    SYSTEM_DEFAULT = 0
    KEEP_LAST = 1
    KEEP_ALL = 2
    UNKNOWN = 3


class ReliabilityPolicy(IntEnum):
    SYSTEM_DEFAULT = 0
    RELIABLE = 1
    BEST_EFFORT = 2
    UNKNOWN = 3


class DurabilityPolicy(IntEnum):
    SYSTEM_DEFAULT = 0
    TRANSIENT_LOCAL = 1
    VOLATILE = 2
    UNKNOWN = 3


class LivelinessPolicy(IntEnum):
    SYSTEM_DEFAULT = 0
    AUTOMATIC = 1
    MANUAL_BY_TOPIC = 3
    UNKNOWN = 4


QoSHistoryPolicy, QoSReliabilityPolicy = HistoryPolicy, ReliabilityPolicy
QoSDurabilityPolicy, QoSLivelinessPolicy = DurabilityPolicy, LivelinessPolicy


class QoSPolicyKind(IntEnum):
    INVALID = 1 << 0
    DURABILITY = 1 << 1
    DEADLINE = 1 << 2
    LIVELINESS = 1 << 3
    RELIABILITY = 1 << 4
    HISTORY = 1 << 5
    LIFESPAN = 1 << 6
    DEPTH = 1 << 7
    LIVELINESS_LEASE_DURATION = 1 << 8
    AVOID_ROS_NAMESPACE_CONVENTIONS = 1 << 9


def qos_policy_name_from_kind(policy_kind: Any) -> str:
    return QoSPolicyKind(policy_kind).name


class InvalidQoSProfileException(Exception):
    def __init__(self, *args: Any):
        super().__init__("Invalid QoSProfile", *args)


class QoSProfile:
    _POLICIES = {"history": HistoryPolicy, "reliability": ReliabilityPolicy, "durability": DurabilityPolicy,
                 "liveliness": LivelinessPolicy}
    _DURATIONS = ("lifespan", "deadline", "liveliness_lease_duration")
    _KEYS = {*_POLICIES, *_DURATIONS, "depth", "avoid_ros_namespace_conventions"}

    def __init__(self, **kwargs: Any):
        assert all(key in self._KEYS for key in kwargs), f"Invalid arguments passed to constructor: {kwargs}"
        if "history" not in kwargs:
            if "depth" not in kwargs:
                raise InvalidQoSProfileException("History and/or depth settings are required.")
            kwargs["history"] = HistoryPolicy.KEEP_LAST
        if kwargs["history"] == HistoryPolicy.KEEP_LAST and "depth" not in kwargs:
            raise InvalidQoSProfileException("History set to KEEP_LAST without a depth setting.")
        defaults: dict[str, Any] = {"depth": 0, "reliability": ReliabilityPolicy.RELIABLE,
                                    "durability": DurabilityPolicy.VOLATILE,
                                    "liveliness": LivelinessPolicy.SYSTEM_DEFAULT,
                                    "avoid_ros_namespace_conventions": False,
                                    **{name: Duration() for name in self._DURATIONS}}
        for key, value in {**defaults, **kwargs}.items():
            setattr(self, key, value)

    def __setattr__(self, key: str, value: Any) -> None:
        if key in self._POLICIES:
            value = self._POLICIES[key](value)  # the enum or its int, as rclpy's setters accept
        elif key in self._DURATIONS:
            assert isinstance(value, Duration), f"{key} must be a Duration"
        elif key == "depth":
            assert isinstance(value, int) and not isinstance(value, bool), "depth must be an int"
        object.__setattr__(self, key, value)

    def __eq__(self, other: Any) -> bool:
        if not isinstance(other, QoSProfile):
            return False
        return all(getattr(self, key) == getattr(other, key) for key in self._KEYS)

    __hash__ = None  # type: ignore[assignment]


qos_profile_sensor_data = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=5,
                                     reliability=ReliabilityPolicy.BEST_EFFORT, durability=DurabilityPolicy.VOLATILE)
qos_profile_system_default = QoSProfile(history=HistoryPolicy.SYSTEM_DEFAULT,
                                        reliability=ReliabilityPolicy.SYSTEM_DEFAULT,
                                        durability=DurabilityPolicy.SYSTEM_DEFAULT)
qos_profile_services_default = QoSProfile(depth=10)
# rcl_action's status default: the latest status of every goal, kept for late joiners.
qos_profile_action_status_default = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1,
                                               reliability=ReliabilityPolicy.RELIABLE,
                                               durability=DurabilityPolicy.TRANSIENT_LOCAL)
