"""This package's msg/, srv/ and action/ files as a rosbags typestore, without ROS installed.

Used to write recordings (MCAP / rosbag2) that carry BehaviorDescription messages, and by the tests for message
classes with the same field names as rclpy's. The interface files are found next to the package: in a source
checkout at `<checkout>/msg`, in a ROS install at `<prefix>/share/motionllm_ros/msg` (rosidl_generate_interfaces
installs them there) for every prefix of AMENT_PREFIX_PATH, and under `sys.prefix/share/motionllm_ros` for a pip
install that ships them as data files.

rosidl turns `srv/Name.srv` into the messages `Name_Request` and `Name_Response`, and
`action/Name.action` into `Name_Goal`, `Name_Result` and `Name_Feedback`, cutting the file at the
lines that are exactly `---`. This module cuts the same way and registers every part under the
type name rclpy uses (`motionllm_ros/srv/QueryBehavior_Request`, ...).

    store = make_typestore("humble")
    Request = store.types["motionllm_ros/srv/QueryBehavior_Request"]
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

if TYPE_CHECKING:
    from rosbags.typesys.store import Typestore

PACKAGE = "motionllm_ros"

# Suffix of each message rosidl makes from one interface file, in file order.
PART_SUFFIXES: dict[str, tuple[str, ...]] = {
    ".msg": ("",),
    ".srv": ("_Request", "_Response"),
    ".action": ("_Goal", "_Result", "_Feedback"),
}
INTERFACE_FOLDERS = ("msg", "srv", "action")
SEPARATOR = "---"


class InterfaceDefinitionError(ValueError):
    """Our interface files cannot be found or cannot become message types; the text names the file or where it
    looked."""


def candidate_roots() -> list[Path]:
    """Where the package's interface folders may be, in search order."""
    roots = [Path(__file__).resolve().parents[1]]  # source checkout: motionllm_ros/../msg
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        if prefix:
            roots.append(Path(prefix) / "share" / PACKAGE)
    roots.append(Path(sys.prefix) / "share" / PACKAGE)
    return roots


def find_interface_root(roots: Sequence[Path] | None = None) -> Path:
    """The first of `roots` (default: `candidate_roots()`) that is this package's root: a package.xml beside a
    msg/ folder.

    package.xml is required as well so that a stray msg/ folder beside an installed module (site-packages) is not
    taken for ours; ament installs package.xml into share/<package> next to the interface folders.
    """
    roots = candidate_roots() if roots is None else list(roots)
    for root in roots:
        if (root / "package.xml").is_file() and (root / "msg").is_dir():
            return root
    looked = ", ".join(str(root) for root in roots)
    raise InterfaceDefinitionError(
        f"cannot find the {PACKAGE} interface files (package.xml and msg/*.msg); looked in: {looked}. Run from the "
        f"source checkout, source the ROS workspace that built {PACKAGE} (AMENT_PREFIX_PATH), or install the "
        f"package with its share/{PACKAGE} data files")


def interface_files(root: Path) -> list[Path]:
    """Every interface file of the package under `root`, in folder then name order."""
    return [
        path
        for folder in INTERFACE_FOLDERS
        for path in sorted((root / folder).glob(f"*.{folder}"))
    ]


def split_interface(path: Path) -> dict[str, str]:
    """The message definitions in one interface file, keyed by full ROS type name."""
    suffixes = PART_SUFFIXES.get(path.suffix)
    if suffixes is None or path.parent.name != path.suffix[1:]:
        raise InterfaceDefinitionError(f"{path}: not a .msg in msg/, .srv in srv/ or .action in action/")
    lines = path.read_text(encoding="utf-8").splitlines()
    cuts = [index for index, line in enumerate(lines) if line == SEPARATOR]
    if len(cuts) != len(suffixes) - 1:
        raise InterfaceDefinitionError(
            f"{path}: needs {len(suffixes) - 1} line(s) '{SEPARATOR}' between its parts, found {len(cuts)}"
        )
    bounds = [-1, *cuts, len(lines)]
    return {
        f"{PACKAGE}/{path.parent.name}/{path.stem}{suffix}": "\n".join(lines[start + 1 : end]) + "\n"
        for suffix, start, end in zip(suffixes, bounds, bounds[1:])
    }


def make_typestore(distro: str, root: Path | None = None) -> Typestore:
    """A rosbags typestore of `distro` ("humble" or "jazzy") with our interfaces registered.

    `root`: the folder holding msg/, srv/, action/; None finds it with `find_interface_root`. Raises
    InterfaceDefinitionError naming the file when a definition does not parse or refers to a type that neither
    the distro nor our package defines, or naming where it looked when the files are not found.
    """
    from rosbags.typesys import Stores, TypesysError, get_types_from_msg, get_typestore

    stores = {"humble": Stores.ROS2_HUMBLE, "jazzy": Stores.ROS2_JAZZY}
    if distro not in stores:
        raise ValueError(f"unknown ROS distro {distro!r}; expected one of {sorted(stores)}")
    store = get_typestore(stores[distro])
    if root is None:
        root = find_interface_root()

    ours: dict = {}
    source_of: dict[str, Path] = {}
    for path in interface_files(root):
        for name, text in split_interface(path).items():
            # Parsed under <package>/msg/<part> because that is where rosidl resolves a type named
            # without a package (rosbags would look under srv/ or action/); stored under rosidl's name.
            try:
                (definition,) = get_types_from_msg(text, f"{PACKAGE}/msg/{name.rsplit('/', 1)[1]}").values()
            except TypesysError as error:
                raise InterfaceDefinitionError(f"{path}: {error}") from error
            ours[name] = definition
            source_of[name] = path

    known = set(store.fielddefs) | set(ours)
    for name, (_constants, fields) in ours.items():
        for field_name, field_type in fields:
            unknown = _referenced_types(field_type) - known
            if unknown:
                raise InterfaceDefinitionError(
                    f"{source_of[name]}: field {field_name!r} of {name} uses unknown type(s) {sorted(unknown)}"
                )
    store.register(ours)
    return store


def _referenced_types(field_type: tuple) -> set[str]:
    """Message type names a rosbags field descriptor refers to (primitives excluded)."""
    from rosbags.interfaces import Nodetype

    kind, detail = field_type
    if kind == Nodetype.NAME:
        return {detail}
    if kind in (Nodetype.ARRAY, Nodetype.SEQUENCE):
        return _referenced_types(detail[0])
    return set()
