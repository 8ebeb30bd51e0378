"""Output paths checked before any work starts, so that a run never fails after its work is done.

A path is accepted when it can be written now: a new file whose folder exists and lets us create it (probed by
creating and removing it), or an existing regular file we may append to. A folder, a device (/dev/full), a FIFO, a
missing folder or a place nothing can be created in (/proc) is refused with one line naming the path.
"""

from __future__ import annotations

import os
from pathlib import Path

from motionllm_ros.config import ConfigError


class OutputPathError(ConfigError):
    """An output path that cannot be written; the message names the option and the path."""


def check_output_file(path: str | os.PathLike, what: str) -> Path:
    """`path` as a Path when a file can be written there, else OutputPathError ('what' names the option)."""
    if not str(path):
        raise OutputPathError(f"{what}: the path is empty")
    target = Path(path).expanduser()
    if target.is_dir():
        raise OutputPathError(f"{what} {target}: is a folder; give a file name")
    if target.exists():
        if not target.is_file():
            raise OutputPathError(f"{what} {target}: not a regular file (a device, FIFO or socket)")
        _probe(target, "ab", what)  # opened for appending: the content is left as it is
        return target
    if not target.parent.is_dir():
        raise OutputPathError(f"{what} {target}: the folder {target.parent} does not exist")
    _probe(target, "xb", what)
    target.unlink()
    return target


def check_output_dir(path: str | os.PathLike, what: str) -> Path:
    """Creates the folder `path` (and its parents) when missing and checks a file can be created in it."""
    if not str(path):
        raise OutputPathError(f"{what}: the path is empty")
    target = Path(path).expanduser()
    if target.exists() and not target.is_dir():
        raise OutputPathError(f"{what} {target}: exists and is not a folder")
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputPathError(f"{what} {target}: cannot create the folder: {error.strerror or error}") from None
    probe = target / f".motionllm-write-probe-{os.getpid()}"
    _probe(probe, "xb", what)
    probe.unlink()
    return target


def _probe(path: Path, mode: str, what: str) -> None:
    try:
        with path.open(mode):
            pass
    except OSError as error:
        raise OutputPathError(f"{what} {path}: cannot be written: {error.strerror or error}") from None
