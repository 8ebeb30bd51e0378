"""A directory of built artefacts (TensorRT engines, ONNX exports), each reused for as long as its key holds.

Rebuilding a TensorRT engine takes minutes on a Jetson, so an engine must be reused across starts, and must not be
reused once anything it was built for has changed: the ONNX file, TensorRT's version, the GPU, the precision or
the optimisation profile. Each artefact is stored as

    DIR/NAME-DIGEST.SUFFIX        the bytes (DIGEST: sha256 of the key, 16 hex digits)
    DIR/NAME-DIGEST.SUFFIX.json   sidecar: the key fields, the sha256 and size of the bytes

so a changed key names a different file, and a file whose bytes no longer hash to the sidecar's sha256 (a build
killed half-way, a truncated copy) or that the loader rejects is rebuilt with a warning. The sidecar is written
last, after the bytes are in place: a file without a valid sidecar is never trusted.

How an artefact is built and loaded is passed in (`build`, `deserialize`), so this logic is the same for every
backend and can be tested on real files without TensorRT.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from motionllm_ros.model.errors import ModelError

LOG = logging.getLogger("motionllm.encoders")
T = TypeVar("T")
_CHUNK = 1 << 24  # 16 MiB: hash big files without holding them twice


class CacheError(ModelError):
    """The cache directory cannot be used, or a freshly built artefact does not load."""


@dataclass(frozen=True)
class CachedArtifact(Generic[T]):
    value: T | None  # what `deserialize` returned; None when no deserialize was given
    path: Path  # the artefact file inside the cache directory
    sha256: str  # of the artefact's bytes (for an ONNX file: the hash a TensorRT engine key names)
    built: bool  # True when this call built it, False when a cached file was reused


def key_digest(key: Mapping[str, Any]) -> str:
    """sha256 of the key's canonical JSON: equal keys give equal digests whatever their field order."""
    return hashlib.sha256(json.dumps(key, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


class EngineCache:
    """Artefacts under `directory`, looked up by (name, key); see the module docstring for the layout."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory).expanduser()

    def paths(self, name: str, key: Mapping[str, Any], suffix: str = ".engine") -> tuple[Path, Path]:
        """(artefact file, sidecar JSON) for this name and key."""
        artefact = self.directory / f"{name}-{key_digest(key)[:16]}{suffix}"
        return artefact, artefact.with_name(artefact.name + ".json")

    def load_or_build(
        self,
        name: str,
        key: Mapping[str, Any],
        build: Callable[[Path], None],
        deserialize: Callable[[bytes], T] | None = None,
        suffix: str = ".engine",
    ) -> CachedArtifact[T]:
        """The cached artefact when its bytes and key check out and it loads; otherwise build, store and load it.

        `key` must be JSON-serialisable. `build(path)` writes the artefact to `path` (a scratch name beside the
        final one). `deserialize` raising or returning None marks the bytes as unusable.
        """
        key = json.loads(json.dumps(dict(key), sort_keys=True))  # the form the sidecar stores, for comparison
        artefact, sidecar = self.paths(name, key, suffix)
        reason = self._why_unusable(artefact, sidecar, key)
        if reason is None:
            cached, reason = self._load(artefact, sidecar, deserialize)
            if cached is not None:
                return cached
        if reason != "absent":
            LOG.warning("%s: %s; rebuilding it", artefact, reason)
        sha256 = self._build(artefact, sidecar, key, build)
        value = None
        if deserialize is not None:
            value, error = _try_deserialize(deserialize, artefact.read_bytes())
            if error is not None:
                raise CacheError(f"{artefact}: freshly built, but it does not load: {error}")
        return CachedArtifact(value, artefact, sha256, built=True)

    def _why_unusable(self, artefact: Path, sidecar: Path, key: dict) -> str | None:
        if not artefact.is_file() and not sidecar.is_file():
            return "absent"
        if not artefact.is_file():
            return "the file is missing beside its sidecar"
        if not sidecar.is_file():
            return f"no sidecar {sidecar.name} (a build that did not finish)"
        try:
            meta = json.loads(sidecar.read_text())
        except (OSError, ValueError) as error:
            return f"unreadable sidecar {sidecar.name} ({error})"
        if not isinstance(meta, dict) or meta.get("key") != key or not isinstance(meta.get("sha256"), str):
            return f"sidecar {sidecar.name} does not match this key"
        size = artefact.stat().st_size
        if size != meta.get("size"):
            return f"size {size} bytes, the sidecar says {meta.get('size')} (truncated?)"
        return None

    def _load(
        self, artefact: Path, sidecar: Path, deserialize: Callable[[bytes], T] | None
    ) -> tuple[CachedArtifact[T] | None, str | None]:
        """(the verified artefact, None) or (None, why it cannot be used)."""
        expected = json.loads(sidecar.read_text())["sha256"]
        data = None if deserialize is None else artefact.read_bytes()
        sha256 = file_sha256(artefact) if data is None else hashlib.sha256(data).hexdigest()
        if sha256 != expected:
            return None, f"sha256 {sha256[:12]}... differs from the sidecar's {expected[:12]}... (corrupt)"
        value = None
        if deserialize is not None:
            value, error = _try_deserialize(deserialize, data)
            if error is not None:
                return None, f"the cached file does not load ({error})"
        LOG.info("%s: reusing the cached file", artefact)
        return CachedArtifact(value, artefact, sha256, built=False), None

    def _build(self, artefact: Path, sidecar: Path, key: dict, build: Callable[[Path], None]) -> str:
        """Run `build` into a scratch file, move it into place, then write the sidecar; the bytes' sha256."""
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            sidecar.unlink(missing_ok=True)  # an old sidecar must not vouch for new bytes if we stop half-way
        except OSError as error:
            raise CacheError(f"cannot write to the cache directory {self.directory}: {error}") from error
        scratch = artefact.with_name(f"{artefact.name}.partial-{os.getpid()}")
        try:
            build(scratch)
            if not scratch.is_file() or scratch.stat().st_size == 0:
                raise CacheError(f"building {artefact.name} wrote nothing to {scratch}")
            sha256 = file_sha256(scratch)
            size = scratch.stat().st_size
            os.replace(scratch, artefact)
            meta = {"key": key, "sha256": sha256, "size": size}
            _write_atomically(sidecar, json.dumps(meta, indent=2, sort_keys=True).encode())
        except OSError as error:
            raise CacheError(f"cannot write to the cache directory {self.directory}: {error}") from error
        finally:
            scratch.unlink(missing_ok=True)
        LOG.info("%s: built and cached (%d bytes)", artefact, size)
        return sha256


def _try_deserialize(deserialize: Callable[[bytes], T], data: bytes) -> tuple[T | None, str | None]:
    """(value, None), or (None, why loading failed); None from the loader is a failure, as TensorRT signals it."""
    try:
        value = deserialize(data)
    except Exception as error:  # noqa: BLE001 - whatever the loader rejects is unusable: rebuild
        return None, f"{type(error).__name__}: {error}"
    return (None, "the loader returned nothing") if value is None else (value, None)


def _write_atomically(path: Path, data: bytes) -> None:
    """Write beside the target and rename, so a reader never sees half a file under the final name."""
    partial = path.with_name(f"{path.name}.partial-{os.getpid()}")
    with open(partial, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(partial, path)
