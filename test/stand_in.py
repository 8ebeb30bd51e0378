"""Putting a test double of an uninstallable package (rclpy, launch) on sys.path for the duration of a test."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Iterable, Iterator


@contextlib.contextmanager
def stand_in(folder: Path, packages: Iterable[str], dependents: Iterable[str] = ()) -> Iterator[None]:
    """`packages` importable from `folder` while inside; on exit they and the `dependents` (module name prefixes
    that imported them, e.g. "motionllm_ros.ros") are forgotten, so no later test sees them."""
    packages, dependents = tuple(packages), tuple(dependents)
    already = sorted(name for name in packages if name in sys.modules)
    if already:
        raise RuntimeError(f"{already} already imported: the double cannot stand in for them in this process")
    sys.path.insert(0, str(folder))
    try:
        yield
    finally:
        sys.path.remove(str(folder))
        for name in list(sys.modules):
            if name.split(".")[0] in packages or any(name.startswith(prefix) for prefix in dependents):
                del sys.modules[name]
