"""rclpy.logging test double: an rcutils-like logger that records what it logs (`records`)."""

from __future__ import annotations

import sys
from enum import IntEnum
from typing import Any

from rclpy.clock import Clock


class LoggingSeverity(IntEnum):
    UNSET = 0
    DEBUG = 10
    INFO = 20
    WARN = 30
    ERROR = 40
    FATAL = 50


_FILTER_KEYWORDS = {"once", "skip_first", "throttle_duration_sec", "throttle_time_source_type"}


class RcutilsLogger:
    def __init__(self, name: str = ""):
        self.name = name
        self.records: list[tuple[LoggingSeverity, str]] = []  # test hook: what passed the filters
        self._level = LoggingSeverity.UNSET
        self._sites: dict[tuple[str, int], dict[str, Any]] = {}  # call site -> severity, keywords, filter state

    def get_child(self, name: str) -> RcutilsLogger:
        return get_logger(f"{self.name}.{name}" if self.name else name)

    def set_level(self, level: LoggingSeverity) -> None:
        self._level = LoggingSeverity(level)

    def get_effective_level(self) -> LoggingSeverity:
        return self._level if self._level != LoggingSeverity.UNSET else LoggingSeverity.INFO

    def is_enabled_for(self, severity: LoggingSeverity) -> bool:
        return severity >= self.get_effective_level()

    def log(self, message: Any, severity: LoggingSeverity, **kwargs: Any) -> bool:
        return self._log(message, LoggingSeverity(severity), kwargs, depth=2)

    def debug(self, message: Any, **kwargs: Any) -> bool:
        return self._log(message, LoggingSeverity.DEBUG, kwargs, depth=2)

    def info(self, message: Any, **kwargs: Any) -> bool:
        return self._log(message, LoggingSeverity.INFO, kwargs, depth=2)

    def warning(self, message: Any, **kwargs: Any) -> bool:
        return self._log(message, LoggingSeverity.WARN, kwargs, depth=2)

    warn = warning

    def error(self, message: Any, **kwargs: Any) -> bool:
        return self._log(message, LoggingSeverity.ERROR, kwargs, depth=2)

    def fatal(self, message: Any, **kwargs: Any) -> bool:
        return self._log(message, LoggingSeverity.FATAL, kwargs, depth=2)

    def _log(self, message: Any, severity: LoggingSeverity, kwargs: dict[str, Any], depth: int) -> bool:
        unknown = set(kwargs) - _FILTER_KEYWORDS
        if unknown:
            raise TypeError(f"Unsupported logger keyword arguments: {sorted(unknown)}")
        if not isinstance(message, str):
            raise TypeError(f"message must be str, got {type(message).__name__}")  # the C binding takes char*
        frame = sys._getframe(depth)
        site_key = (frame.f_code.co_filename, frame.f_lineno)
        features = {"severity": severity, "keywords": sorted(kwargs)}
        site = self._sites.setdefault(site_key, {**features, "calls": 0, "last": None})
        if site["severity"] != severity or site["keywords"] != features["keywords"]:
            raise ValueError("Logger severity and filter keywords must not change at one call site")
        site["calls"] += 1
        if kwargs.get("once") and site["calls"] > 1:
            return False
        if kwargs.get("skip_first") and site["calls"] == 1:
            return False
        if "throttle_duration_sec" in kwargs:
            clock = kwargs.get("throttle_time_source_type") or Clock()
            now = clock.now().nanoseconds
            if site["last"] is not None and now - site["last"] < kwargs["throttle_duration_sec"] * 1e9:
                return False
            site["last"] = now
        if not self.is_enabled_for(severity):
            return False
        self.records.append((severity, message))
        return True


_loggers: dict[str, RcutilsLogger] = {}


def get_logger(name: str) -> RcutilsLogger:
    if name not in _loggers:
        _loggers[name] = RcutilsLogger(name)
    return _loggers[name]
