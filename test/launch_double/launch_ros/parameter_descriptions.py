"""launch_ros.parameter_descriptions test double."""

from __future__ import annotations

from typing import Any

ALLOWED_VALUE_TYPES = (None, int, float, bool, str)  # (List[...] variants exist upstream; not used here)


class ParameterValue:
    def __init__(self, value: Any, *, value_type: Any = None):
        if value_type not in ALLOWED_VALUE_TYPES:
            raise TypeError(f"value_type {value_type!r} not allowed")
        self.value = value
        self.value_type = value_type
