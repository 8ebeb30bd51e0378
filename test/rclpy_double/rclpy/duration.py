"""rclpy.duration test double: signed integer nanoseconds, no `.seconds`."""

from __future__ import annotations

from typing import Any


class Duration:
    def __init__(self, *, seconds: float = 0, nanoseconds: int = 0):
        total = int(seconds * 1e9) + int(nanoseconds)
        if not -(2**63) <= total < 2**63:
            raise OverflowError("Total nanoseconds value is too high to fit into a 64-bit signed integer")
        self._nanoseconds = total

    @property
    def nanoseconds(self) -> int:
        return self._nanoseconds

    def to_msg(self) -> Any:
        from builtin_interfaces.msg import Duration as DurationMsg

        sec, nanosec = divmod(self._nanoseconds, 10**9)
        return DurationMsg(sec=sec, nanosec=nanosec)

    def _other(self, other: Any) -> int:
        if not isinstance(other, Duration):
            raise TypeError(f"Can't compare Duration with {type(other).__name__}")
        return other.nanoseconds

    def __eq__(self, other: Any) -> bool:
        return self._nanoseconds == self._other(other)

    def __lt__(self, other: Any) -> bool:
        return self._nanoseconds < self._other(other)

    def __le__(self, other: Any) -> bool:
        return self._nanoseconds <= self._other(other)

    def __gt__(self, other: Any) -> bool:
        return self._nanoseconds > self._other(other)

    def __ge__(self, other: Any) -> bool:
        return self._nanoseconds >= self._other(other)

    __hash__ = None  # type: ignore[assignment]
