"""launch.actions test double: the actions our launch files use, with their documented signatures."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from launch import Action, Substitution


def _is_substitutions(value: Any) -> bool:
    if isinstance(value, (str, Substitution)):
        return True
    return isinstance(value, (list, tuple)) and all(isinstance(item, (str, Substitution)) for item in value)


class DeclareLaunchArgument(Action):
    def __init__(self, name: str, *, default_value: Any = None, description: str | None = None,
                 choices: list[str] | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        if default_value is not None and not _is_substitutions(default_value):
            raise TypeError(f"default_value of '{name}' must be a str or Substitution(s), got {default_value!r}")
        if choices is not None and isinstance(default_value, str) and default_value not in choices:
            raise RuntimeError(f"Provided default_value '{default_value}' is not in choices {choices}")
        self.name = name
        self.default_value = default_value
        self.description = "no description given" if description is None else description
        self.choices = choices


class ExecuteProcess(Action):
    def __init__(self, *, cmd: Iterable[Any], prefix: Any = None, name: Any = None, cwd: Any = None,
                 env: Any = None, additional_env: Any = None, shell: bool = False, sigterm_timeout: Any = None,
                 sigkill_timeout: Any = None, emulate_tty: bool = False, output: str = "log",
                 output_format: str = "[{this.process_description.final_name}] {line}",
                 cached_output: bool = False, log_cmd: bool = False, on_exit: Any = None, respawn: bool = False,
                 respawn_delay: float | None = None, **kwargs: Any):
        super().__init__(**kwargs)
        self.cmd = list(cmd)
        for part in self.cmd:
            if not _is_substitutions(part):
                raise TypeError(f"cmd items must be str or Substitution(s), got {part!r}")
        self.name, self.cwd, self.env, self.additional_env = name, cwd, env, additional_env
        self.shell, self.output, self.emulate_tty, self.respawn = shell, output, emulate_tty, respawn


class IncludeLaunchDescription(Action):
    def __init__(self, launch_description_source: Any, *, launch_arguments: Iterable[tuple[Any, Any]] | None = None,
                 **kwargs: Any):
        super().__init__(**kwargs)
        self.launch_description_source = launch_description_source
        self.launch_arguments = list(launch_arguments or [])


class OpaqueFunction(Action):
    def __init__(self, *, function: Callable, args: Iterable[Any] | None = None, kwargs: dict | None = None,
                 **left_over_kwargs: Any):
        super().__init__(**left_over_kwargs)
        self.function = function
        self.args = list(args or [])
        self.kwargs = dict(kwargs or {})
