"""rosbags typestore classes (Humble) made to behave like the message classes rclpy generates on Humble.

rclpy's classes take keyword arguments with defaults, refuse unknown fields, and on Humble every setter asserts
the field's type; rosbags' are plain dataclasses with every field required and nothing checked. `message_class`
wraps one with the Humble behaviour, `check_fields` applies the same checks to any message of a typestore (e.g.
Jazzy's, for code that must satisfy Humble's rules on both). The store also holds this package's own interfaces
(msg/, srv/, action/), from which `interface_modules` makes what rosidl would generate as motionllm_ros.msg,
.srv and .action.
"""

from __future__ import annotations

import array
import collections.abc
import math
from types import ModuleType
from typing import Any

import numpy as np
from interfaces_typestore import PACKAGE, make_typestore
from rosbags.interfaces import Nodetype

STORE = make_typestore("humble")  # Humble's messages and ours

INTEGER_RANGES = {
    "int8": (-2**7, 2**7 - 1), "uint8": (0, 2**8 - 1), "char": (0, 2**8 - 1),
    "int16": (-2**15, 2**15 - 1), "uint16": (0, 2**16 - 1),
    "int32": (-2**31, 2**31 - 1), "uint32": (0, 2**32 - 1),
    "int64": (-2**63, 2**63 - 1), "uint64": (0, 2**64 - 1),
}
FLOAT32_MAX = 3.402823466e38
TYPECODES = {"float32": "f", "float64": "d", "int8": "b", "uint8": "B", "char": "B", "int16": "h", "uint16": "H",
             "int32": "i", "uint32": "I", "int64": "q", "uint64": "Q"}

_CLASSES: dict[str, type] = {}


def message_class(msgtype: str) -> type:
    """The rclpy-like class of `msgtype` (e.g. "sensor_msgs/msg/Image")."""
    if msgtype not in _CLASSES:
        _CLASSES[msgtype] = _wrap(msgtype)
    return _CLASSES[msgtype]


def classes_of(interface_module: str) -> dict[str, type]:
    """Every message of e.g. "sensor_msgs/msg", by short name: the content of the module sensor_msgs.msg."""
    prefix = interface_module + "/"
    return {name[len(prefix):]: message_class(name) for name in STORE.types
            if name.startswith(prefix) and "/" not in name[len(prefix):]}


def interface_modules() -> dict[str, ModuleType]:
    """motionllm_ros.msg / .srv / .action as rosidl generates them: messages as module attributes, a service
    class with `Request` and `Response`, an action class with `Goal`, `Result` and `Feedback`."""
    modules = {kind: ModuleType(f"{PACKAGE}.{kind}") for kind in ("msg", "srv", "action")}
    parts = {"srv": ("Request", "Response"), "action": ("Goal", "Result", "Feedback")}
    for msgtype in STORE.types:
        package, kind, name = msgtype.split("/")
        if package != PACKAGE:
            continue
        if kind == "msg":
            setattr(modules[kind], name, message_class(msgtype))
            continue
        interface, part = name.rsplit("_", 1)
        assert part in parts[kind], msgtype
        if not hasattr(modules[kind], interface):
            setattr(modules[kind], interface, type(interface, (), {"__module__": modules[kind].__name__}))
        setattr(getattr(modules[kind], interface), part, message_class(msgtype))
    return {module.__name__: module for module in modules.values()}


def check_fields(msg: Any, store: Any) -> None:
    """Raises AssertionError naming the field when a value of `msg` (a `store` message) breaks Humble's rules."""
    _constants, fields = store.fielddefs[msg.__msgtype__]
    for name, field_type in fields:
        value = getattr(msg, name)
        where = f"{msg.__msgtype__}.{name}"
        _check(where, field_type, value, nested=lambda sub_type, sub: _check_nested(sub_type, sub, store))


def _check_nested(msgtype: str, value: Any, store: Any) -> None:
    assert getattr(value, "__msgtype__", None) == msgtype, f"expected a {msgtype}, got {type(value).__name__}"
    check_fields(value, store)


def _wrap(msgtype: str) -> type:
    base = STORE.types[msgtype]
    constants, fields = STORE.fielddefs[msgtype]
    field_types = dict(fields)
    short = msgtype.rsplit("/", 1)[1]

    def __init__(self: Any, **kwargs: Any) -> None:
        unknown = sorted(set(kwargs) - set(field_types))
        assert not unknown, f"Invalid arguments passed to constructor: {', '.join(unknown)}"
        for name, field_type in fields:
            setattr(self, name, kwargs[name] if name in kwargs else _default(field_type))

    def __setattr__(self: Any, name: str, value: Any) -> None:
        if name not in field_types:
            raise AttributeError(f"'{short}' object has no attribute '{name}'")  # rclpy classes use __slots__
        where = f"{msgtype}.{name}"
        object.__setattr__(self, name, _check(where, field_types[name], value, nested=_check_instance))

    namespace: dict[str, Any] = {"__init__": __init__, "__setattr__": __setattr__,
                                 "__module__": msgtype.rsplit("/", 1)[0].replace("/", ".")}
    for name, kind, value in constants:
        if kind == "byte":  # rclpy: DiagnosticStatus.OK == b'\x00'
            namespace[name] = bytes([value])
    return type(short, (base,), namespace)


def _check_instance(msgtype: str, value: Any) -> None:
    cls = message_class(msgtype)
    assert isinstance(value, cls), f"must be a sub message of type '{msgtype}', got {type(value).__name__}"


def _default(field_type: tuple) -> Any:
    kind, detail = field_type
    if kind == Nodetype.BASE:
        return {"bool": False, "byte": b"\x00", "string": ""}.get(detail[0], 0.0 if detail[0].startswith("float")
                                                                   else 0)
    if kind == Nodetype.NAME:
        return message_class(detail)()
    (sub_kind, sub_detail), count = detail
    numeric = sub_kind == Nodetype.BASE and sub_detail[0] in TYPECODES
    if kind == Nodetype.ARRAY:
        if numeric:
            return np.zeros(count, dtype=np.dtype(TYPECODES[sub_detail[0]]))
        return [_default((sub_kind, sub_detail)) for _ in range(count)]
    return array.array(TYPECODES[sub_detail[0]]) if numeric else []


def _check(where: str, field_type: tuple, value: Any, nested: Any) -> Any:
    """The value to store after Humble's setter checks (which may convert it), or AssertionError."""
    kind, detail = field_type
    if kind == Nodetype.BASE:
        _check_base(where, detail[0], detail[1], value)
        return value
    if kind == Nodetype.NAME:
        nested(detail, value)
        return value
    (sub_kind, sub_detail), count = detail
    fixed = kind == Nodetype.ARRAY
    if sub_kind == Nodetype.BASE and sub_detail[0] in TYPECODES:
        typename = sub_detail[0]
        if fixed:
            if isinstance(value, np.ndarray):
                assert value.dtype == np.dtype(TYPECODES[typename]) and value.size == count, (
                    f"The '{where}' numpy.ndarray must be of dtype {typename} with {count} values, got "
                    f"{value.dtype} with {value.size}")
                return value
        elif isinstance(value, array.array):
            assert value.typecode == TYPECODES[typename], (
                f"The '{where}' array.array must have typecode '{TYPECODES[typename]}', got '{value.typecode}'")
            assert not count or len(value) <= count, f"The '{where}' field holds at most {count} values"
            return value
    assert isinstance(value, (collections.abc.Sequence, collections.abc.Set)) and not isinstance(value, str), (
        f"The '{where}' field must be a sequence, got {type(value).__name__}")  # a numpy array is not a Sequence
    if fixed:
        assert len(value) == count, f"The '{where}' field must hold exactly {count} values, got {len(value)}"
    elif count:
        assert len(value) <= count, f"The '{where}' field holds at most {count} values, got {len(value)}"
    for item in value:
        _check(where + "[]", (sub_kind, sub_detail), item, nested)
    if sub_kind == Nodetype.BASE and sub_detail[0] in TYPECODES:
        typecode = TYPECODES[sub_detail[0]]
        return np.array(value, dtype=np.dtype(typecode)) if fixed else array.array(typecode, value)
    return list(value)


def _check_base(where: str, typename: str, bound: int, value: Any) -> None:
    if typename == "bool":
        assert isinstance(value, bool), f"The '{where}' field must be of type 'bool', got {value!r}"
    elif typename == "byte":
        assert isinstance(value, bytes) and len(value) == 1, (
            f"The '{where}' field must be of type 'bytes' of length 1, got {value!r}")
    elif typename == "string":
        assert isinstance(value, str), f"The '{where}' field must be of type 'str', got {type(value).__name__}"
        assert not bound or len(value) <= bound, f"The '{where}' field holds at most {bound} characters"
    elif typename in ("float32", "float64"):
        # numpy.float64 is a float subclass and passes; numpy.float32 and int do not.
        assert isinstance(value, float), f"The '{where}' field must be of type 'float', got {value!r}"
        if typename == "float32":
            assert math.isinf(value) or math.isnan(value) or abs(value) <= FLOAT32_MAX, (
                f"The '{where}' field must be a float in [-{FLOAT32_MAX}, {FLOAT32_MAX}]")
    else:
        low, high = INTEGER_RANGES[typename]
        assert isinstance(value, int), f"The '{where}' field must be of type 'int', got {value!r}"  # numpy ints fail
        assert low <= value <= high, f"The '{where}' field must be an integer in [{low}, {high}], got {value}"
