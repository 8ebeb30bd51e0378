"""rclpy.context test double. The context also stands in for the ROS graph: every publisher of its nodes."""

from __future__ import annotations

from typing import Any


class Context:
    def __init__(self) -> None:
        self._ok = False
        self.args: list[str] | None = None
        self.publishers: list[Any] = []  # of every node in this context, for get_publishers_info_by_topic

    def init(self, args: list[str] | None = None) -> None:
        if self._ok:
            raise RuntimeError("Context.init() must only be called once")
        self._ok, self.args, self.publishers = True, args, []

    def ok(self) -> bool:
        return self._ok

    def shutdown(self) -> None:
        if not self._ok:
            raise RuntimeError("Failed to shutdown: rcl_shutdown already called on the given context")
        self._ok = False
