"""diagnostic_updater test double: Updater and DiagnosticStatusWrapper as documented for Humble and Jazzy."""

from __future__ import annotations

from typing import Any, Callable

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue


class DiagnosticStatusWrapper(DiagnosticStatus):
    def summary(self, *args: Any) -> None:
        if len(args) == 1:
            self.level, self.message = args[0].level, args[0].message
        else:
            self.level, self.message = args  # the level must be bytes (DiagnosticStatus.OK ...): checked

    def add(self, key: str, value: str) -> None:
        self.values.append(KeyValue(key=key, value=value))  # value must already be a str: checked


class Updater:
    def __init__(self, node: Any, period: float = 1.0):
        self.node = node
        self.verbose = False
        self.hwid = ""
        self._warned_no_hwid = False
        self.tasks: list[tuple[str, Callable]] = []
        self.publisher = node.create_publisher(DiagnosticArray, "/diagnostics", 1)
        # A second Updater on one node raises ParameterAlreadyDeclaredException here, as upstream.
        self.period = node.declare_parameter("diagnostic_updater.period", period).value
        if node.has_parameter("diagnostic_updater.use_fqn"):
            self.use_fqn = node.get_parameter("diagnostic_updater.use_fqn").value
        else:
            self.use_fqn = node.declare_parameter("diagnostic_updater.use_fqn", False).value
        self.timer = node.create_timer(self.period, self.update)

    def setHardwareID(self, hwid: str) -> None:  # noqa: N802
        self.hwid = hwid

    def add(self, name: str, fn: Callable) -> None:
        self.tasks.append((name, fn))
        starting = DiagnosticStatusWrapper(level=DiagnosticStatus.OK, name=name, message="Node starting up",
                                           hardware_id=self.hwid)
        self.publish([starting])

    def update(self) -> None:
        if not self.hwid and not self._warned_no_hwid:
            self.node.get_logger().warning("diagnostic_updater: No HW_ID was set.")
            self._warned_no_hwid = True
        statuses = []
        for name, fn in self.tasks:
            stat = DiagnosticStatusWrapper(level=DiagnosticStatus.ERROR, name=name, message="No message was set",
                                           hardware_id=self.hwid)
            statuses.append(fn(stat))  # a task returning None fails at publish, as upstream
        self.publish(statuses)

    force_update = update

    def publish(self, statuses: list[Any]) -> None:
        prefix = self.node.get_fully_qualified_name() if self.use_fqn else self.node.get_name()
        for status in statuses:
            if isinstance(status, DiagnosticStatus):
                status.name = f"{prefix}: {status.name}"
        array = DiagnosticArray()
        array.header.stamp = self.node.get_clock().now().to_msg()
        array.status = statuses
        self.publisher.publish(array)
