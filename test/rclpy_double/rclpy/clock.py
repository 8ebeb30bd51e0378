"""rclpy.clock test double. A node's ROSClock follows set_ros_time_override() while use_sim_time is true."""

from __future__ import annotations

import time
from enum import Enum

from rclpy.time import Time


class ClockType(Enum):
    UNINITIALIZED = 0
    ROS_TIME = 1
    SYSTEM_TIME = 2
    STEADY_TIME = 3


class Clock:
    def __init__(self, *, clock_type: ClockType = ClockType.SYSTEM_TIME):
        if not isinstance(clock_type, ClockType):
            raise TypeError("Clock type must be a ClockType enum")
        self._clock_type = clock_type

    @property
    def clock_type(self) -> ClockType:
        return self._clock_type

    def now(self) -> Time:
        ns = time.monotonic_ns() if self._clock_type == ClockType.STEADY_TIME else time.time_ns()
        return Time(nanoseconds=ns, clock_type=self._clock_type)


class ROSClock(Clock):
    def __init__(self) -> None:
        super().__init__(clock_type=ClockType.ROS_TIME)
        self._ros_time_is_active = False
        self._ros_time_ns = 0  # what /clock said last; 0 until the first message, as in rclpy

    @property
    def ros_time_is_active(self) -> bool:
        return self._ros_time_is_active

    def _set_ros_time_is_active(self, enabled: bool) -> None:
        self._ros_time_is_active = enabled

    def set_ros_time_override(self, time_: Time) -> None:
        if not isinstance(time_, Time) or time_.clock_type != ClockType.ROS_TIME:
            raise TypeError("Time must be a ROS_TIME rclpy.time.Time")
        self._ros_time_ns = time_.nanoseconds

    def now(self) -> Time:
        if self._ros_time_is_active:
            return Time(nanoseconds=self._ros_time_ns, clock_type=ClockType.ROS_TIME)
        return super().now()
