"""rclpy.parameter test double: static types inferred from values, as rclpy does."""

from __future__ import annotations

import array
from enum import Enum
from typing import Any


class Parameter:
    class Type(Enum):
        NOT_SET = 0
        BOOL = 1
        INTEGER = 2
        DOUBLE = 3
        STRING = 4
        BYTE_ARRAY = 5
        BOOL_ARRAY = 6
        INTEGER_ARRAY = 7
        DOUBLE_ARRAY = 8
        STRING_ARRAY = 9

        @classmethod
        def from_parameter_value(cls, value: Any) -> Parameter.Type:
            if value is None:
                return cls.NOT_SET
            if isinstance(value, bool):
                return cls.BOOL
            if isinstance(value, int):  # numpy ints are not ints: TypeError below, as in rclpy
                return cls.INTEGER
            if isinstance(value, float):
                return cls.DOUBLE
            if isinstance(value, str):
                return cls.STRING
            if isinstance(value, (list, tuple, array.array)):
                # all() of an empty list is True: [] is a BYTE_ARRAY, as in rclpy.
                for kind, item_type in ((cls.BYTE_ARRAY, bytes), (cls.BOOL_ARRAY, bool), (cls.INTEGER_ARRAY, int),
                                        (cls.DOUBLE_ARRAY, float), (cls.STRING_ARRAY, str)):
                    if all(isinstance(item, item_type) for item in value):
                        return kind
            raise TypeError(f"The given value is not one of the allowed types '{value!r}'.")

        def check(self, value: Any) -> bool:
            if self is Parameter.Type.NOT_SET:
                return value is None
            try:
                return Parameter.Type.from_parameter_value(value) is self or (
                    self is Parameter.Type.INTEGER and isinstance(value, bool))
            except TypeError:
                return False

    def __init__(self, name: str, type_: Parameter.Type | None = None, value: Any = None):
        if type_ is None:
            type_ = Parameter.Type.from_parameter_value(value)
        if not isinstance(type_, Parameter.Type):
            raise TypeError("type must be an instance of Parameter.Type")
        if not type_.check(value):
            raise ValueError(f"Type {type_} and value {value} do not agree")
        self._name, self._type, self._value = name, type_, value

    @property
    def name(self) -> str:
        return self._name

    @property
    def type_(self) -> Parameter.Type:
        return self._type

    @property
    def value(self) -> Any:
        return self._value

    def __repr__(self) -> str:
        return f"Parameter({self._name!r}, {self._type.name}, {self._value!r})"
