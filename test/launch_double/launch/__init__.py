"""launch test double: LaunchDescription, LaunchContext and the base classes."""

from __future__ import annotations

from typing import Any, Iterable


class LaunchContext:
    def __init__(self) -> None:
        self.launch_configurations: dict[str, str] = {}


class Substitution:
    def perform(self, context: LaunchContext) -> str:
        raise NotImplementedError


class Action:
    def __init__(self, *, condition: Any = None):
        self.condition = condition


class LaunchDescription:
    def __init__(self, initial_entities: Iterable[Any] | None = None, *, deprecated_reason: str | None = None):
        self.entities = list(initial_entities or [])

    def add_action(self, action: Any) -> None:
        self.entities.append(action)
