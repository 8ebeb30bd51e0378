"""launch.substitutions test double."""

from __future__ import annotations

import os
from typing import Any, Iterable

from launch import LaunchContext, Substitution


class SubstitutionFailure(RuntimeError):
    pass


class TextSubstitution(Substitution):
    def __init__(self, *, text: str):
        if not isinstance(text, str):
            raise TypeError("text must be a str")
        self.text = text

    def perform(self, context: LaunchContext) -> str:
        return self.text


class LaunchConfiguration(Substitution):
    def __init__(self, variable_name: Any, *, default: Any = None):
        self.variable_name = variable_name
        self.default = default

    def perform(self, context: LaunchContext) -> str:
        from launch.utilities import perform_substitutions

        name = perform_substitutions(context, self.variable_name)
        if name in context.launch_configurations:
            return context.launch_configurations[name]
        if self.default is None:
            raise SubstitutionFailure(f"launch configuration '{name}' does not exist")
        return perform_substitutions(context, self.default)


class PathJoinSubstitution(Substitution):
    def __init__(self, substitutions: Iterable[Any]):
        self.substitutions = list(substitutions)

    def perform(self, context: LaunchContext) -> str:
        from launch.utilities import perform_substitutions

        return os.path.join(*(perform_substitutions(context, part) for part in self.substitutions))
