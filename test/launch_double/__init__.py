"""A minimal test double of the `launch` and `launch_ros` Python APIs (Humble/Jazzy signatures), enough to load our
launch files, call generate_launch_description() and look at what it declares and starts.

Put on sys.path only inside `installed()`. Actions record their keyword arguments as attributes; constructors keep
the documented signatures (keyword-only arguments, LifecycleNode's required name and namespace, a default outside
`choices` refused, `parameters` a list), so a call that real launch would reject fails here too.
`run(description, arguments)` plays the part of `ros2 launch`: it resolves the launch arguments (a missing required
one or a value outside `choices` is an error), calls OpaqueFunctions and returns the resulting actions.
FindPackageShare resolves through `launch_ros.substitutions.PACKAGE_SHARES`, which the test fills.
"""

from __future__ import annotations

import contextlib
import importlib.util
from pathlib import Path
from types import ModuleType
from typing import Any

from stand_in import stand_in

FOLDER = Path(__file__).resolve().parent
PACKAGES = ("launch", "launch_ros")


def installed() -> contextlib.AbstractContextManager[None]:
    return stand_in(FOLDER, PACKAGES)


def load_launch_file(path: Path) -> ModuleType:
    """Imports a *.launch.py file as launch does (by path, with __file__ set)."""
    spec = importlib.util.spec_from_file_location(path.name.replace(".", "_"), path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run(description: Any, arguments: dict[str, str]) -> tuple[Any, list[Any]]:
    """(the LaunchContext, the actions other than argument declarations) of `description` given `arguments`."""
    from launch import LaunchContext
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch.utilities import perform_substitutions

    context = LaunchContext()
    context.launch_configurations.update(arguments)
    actions: list[Any] = []
    pending = list(description.entities)
    while pending:
        entity = pending.pop(0)
        if isinstance(entity, DeclareLaunchArgument):
            if entity.name not in context.launch_configurations:
                if entity.default_value is None:
                    raise RuntimeError(f"Included launch description missing required argument '{entity.name}'")
                context.launch_configurations[entity.name] = perform_substitutions(context, entity.default_value)
            value = context.launch_configurations[entity.name]
            if entity.choices is not None and value not in entity.choices:
                raise RuntimeError(f"Argument '{entity.name}' provided value '{value}' is not valid: "
                                   f"choices {entity.choices}")
        elif isinstance(entity, OpaqueFunction):
            pending[:0] = entity.function(context, *entity.args, **entity.kwargs) or []
        else:
            actions.append(entity)
    return context, actions
