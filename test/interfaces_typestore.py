"""Our msg/, srv/ and action/ files as rosbags message classes, for tests that cannot import rclpy.

The logic lives in `motionllm_ros.typestore`; here the file lookups are bound to this checkout (REPO_ROOT), since
these tests check the checkout's interface files, wherever the package under test was installed from.

    store = make_typestore("humble")
    Request = store.types["motionllm_ros/srv/QueryBehavior_Request"]
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from motionllm_ros import typestore as _typestore
from motionllm_ros.typestore import PACKAGE, InterfaceDefinitionError, split_interface

if TYPE_CHECKING:
    from rosbags.typesys.store import Typestore

__all__ = ["PACKAGE", "REPO_ROOT", "InterfaceDefinitionError", "interface_files", "make_typestore",
           "split_interface"]

REPO_ROOT = Path(__file__).resolve().parents[1]


def interface_files(root: Path = REPO_ROOT) -> list[Path]:
    return _typestore.interface_files(root)


def make_typestore(distro: str, root: Path = REPO_ROOT) -> Typestore:
    return _typestore.make_typestore(distro, root)
