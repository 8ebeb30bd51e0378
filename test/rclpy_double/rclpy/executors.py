"""rclpy.executors test double. spin() runs every timer once, then acts as Ctrl-C does in rclpy: the context is
shut down and KeyboardInterrupt raised; exceptions from callbacks propagate, as they do out of rclpy's spin()."""

from __future__ import annotations

from typing import Any

import rclpy


class ExternalShutdownException(Exception):
    pass


class Executor:
    def __init__(self, *, context: Any = None):
        self._context = context or rclpy.get_default_context()
        self._nodes: list[Any] = []

    @property
    def context(self) -> Any:
        return self._context

    def add_node(self, node: Any) -> bool:
        if node in self._nodes:
            return False
        self._nodes.append(node)
        return True

    def remove_node(self, node: Any) -> None:
        if node in self._nodes:
            self._nodes.remove(node)

    def get_nodes(self) -> list[Any]:
        return list(self._nodes)

    def spin(self) -> None:
        if not self._context.ok():
            raise ExternalShutdownException()
        for node in self._nodes:
            for timer in list(node.timers):
                timer.fire()
        self._context.shutdown()  # rclpy's SIGINT handler shuts every context down...
        raise KeyboardInterrupt  # ...and chains to Python's, in the main thread

    def shutdown(self, timeout_sec: float | None = None) -> bool:
        self._nodes.clear()
        return True


class SingleThreadedExecutor(Executor):
    pass


class MultiThreadedExecutor(Executor):
    def __init__(self, num_threads: int | None = None, *, context: Any = None):
        super().__init__(context=context)
        self.num_threads = num_threads
