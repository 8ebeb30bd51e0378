"""rclpy.time test double: integer nanoseconds, no `.seconds`, clock types must match."""

from __future__ import annotations

from typing import Any

from rclpy.duration import Duration


class Time:
    def __init__(self, *, seconds: float = 0, nanoseconds: int = 0, clock_type: Any = None):
        from rclpy.clock import ClockType  # clock.py imports this module

        if seconds < 0 or nanoseconds < 0:
            raise ValueError("Seconds and nanoseconds must not be negative")
        total = int(seconds * 1e9) + int(nanoseconds)
        if total >= 2**63:
            raise OverflowError("Total nanoseconds value is too high to fit into a 64-bit integer")
        self._nanoseconds = total
        self._clock_type = ClockType.SYSTEM_TIME if clock_type is None else clock_type

    @property
    def nanoseconds(self) -> int:
        return self._nanoseconds

    @property
    def clock_type(self) -> Any:
        return self._clock_type

    def seconds_nanoseconds(self) -> tuple[int, int]:
        return divmod(self._nanoseconds, 10**9)

    def to_msg(self) -> Any:
        from builtin_interfaces.msg import Time as TimeMsg

        sec, nanosec = self.seconds_nanoseconds()
        return TimeMsg(sec=sec, nanosec=nanosec)

    @classmethod
    def from_msg(cls, msg: Any, clock_type: Any = None) -> Time:
        from builtin_interfaces.msg import Time as TimeMsg
        from rclpy.clock import ClockType

        if not isinstance(msg, TimeMsg):
            raise TypeError("Must pass a builtin_interfaces.msg.Time object")
        return cls(seconds=msg.sec, nanoseconds=msg.nanosec,
                   clock_type=ClockType.ROS_TIME if clock_type is None else clock_type)

    def _same_clock(self, other: Any) -> None:
        if not isinstance(other, Time):
            raise TypeError(f"Can't compare Time with {type(other).__name__}")
        if other.clock_type != self._clock_type:
            raise TypeError("Can't compare times with different clock types")

    def __add__(self, other: Any) -> Time:
        if not isinstance(other, Duration):
            raise TypeError("Time can only be added to a Duration")
        return Time(nanoseconds=self._nanoseconds + other.nanoseconds, clock_type=self._clock_type)

    def __sub__(self, other: Any) -> Any:
        if isinstance(other, Time):
            self._same_clock(other)
            return Duration(nanoseconds=self._nanoseconds - other.nanoseconds)
        if isinstance(other, Duration):
            if other.nanoseconds > self._nanoseconds:
                raise ValueError("Subtracting the Duration would give a negative Time")
            return Time(nanoseconds=self._nanoseconds - other.nanoseconds, clock_type=self._clock_type)
        raise TypeError("Time can only be subtracted by a Time or Duration")

    def __eq__(self, other: Any) -> bool:
        self._same_clock(other)
        return self._nanoseconds == other.nanoseconds

    def __lt__(self, other: Any) -> bool:
        self._same_clock(other)
        return self._nanoseconds < other.nanoseconds

    def __le__(self, other: Any) -> bool:
        self._same_clock(other)
        return self._nanoseconds <= other.nanoseconds

    def __gt__(self, other: Any) -> bool:
        self._same_clock(other)
        return self._nanoseconds > other.nanoseconds

    def __ge__(self, other: Any) -> bool:
        self._same_clock(other)
        return self._nanoseconds >= other.nanoseconds

    __hash__ = None  # type: ignore[assignment]
