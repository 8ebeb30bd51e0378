"""Engine cache: the real cache code on real files; the injected build/load callables write and read real bytes.

TensorRT cannot be installed here, so the "engine" is a byte string whose header the loader checks, as
`runtime.deserialize_cuda_engine` rejects an engine serialised by another TensorRT version.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging

import pytest

from motionllm_ros.encoders.engine_cache import CacheError, EngineCache, key_digest
from motionllm_ros.encoders.tensorrt_backend import BatchProfile, engine_key

HEADER = b"ENGINE-v1\n"


def base_key(**changes):
    fields = {"onnx_sha256": "a" * 64, "tensorrt_version": "10.3.0", "compute_capability": (8, 7),
              "precision": "fp16", "profile": BatchProfile()}
    return engine_key(**{**fields, **changes})


class Builder:
    """Writes a distinct engine per build and counts the builds."""

    def __init__(self, header: bytes = HEADER):
        self.header = header
        self.builds = 0

    def __call__(self, path):
        self.builds += 1
        path.write_bytes(self.header + f"build {self.builds} ".encode() * 1000)


def load(data: bytes):
    """The loader: None for bytes it does not recognise, like TensorRT's deserialize_cuda_engine."""
    return data if data.startswith(HEADER) else None


def test_same_key_reuses_the_cached_engine(tmp_path):
    build = Builder()
    first = EngineCache(tmp_path / "cache").load_or_build("video_tower_fp16", base_key(), build, load)
    # a new process: a new cache object over the same directory
    again = EngineCache(tmp_path / "cache").load_or_build("video_tower_fp16", base_key(), build, load)
    assert build.builds == 1
    assert (first.built, again.built) == (True, False)
    assert again.path == first.path and again.value == first.value == first.path.read_bytes()
    sidecar = json.loads(first.path.with_name(first.path.name + ".json").read_text())
    assert sidecar["sha256"] == hashlib.sha256(first.path.read_bytes()).hexdigest() == again.sha256
    assert sidecar["size"] == first.path.stat().st_size
    assert sidecar["key"] == {"onnx_sha256": "a" * 64, "tensorrt": "10.3.0", "compute_capability": "8.7",
                              "precision": "fp16", "profile": {"pixels": [[1, 3, 224, 224], [1, 3, 224, 224],
                                                                         [8, 3, 224, 224]]}}
    assert not list((tmp_path / "cache").glob("*partial*"))


@pytest.mark.parametrize("change", [
    {"onnx_sha256": "b" * 64},
    {"tensorrt_version": "10.4.0"},
    {"compute_capability": (8, 6)},
    {"precision": "fp32"},
    {"profile": BatchProfile(max_frames=16)},
])
def test_any_changed_component_rebuilds(tmp_path, change):
    build = Builder()
    cache = EngineCache(tmp_path)
    original = cache.load_or_build("video_tower", base_key(), build, load)
    changed = cache.load_or_build("video_tower", base_key(**change), build, load)
    assert build.builds == 2 and changed.built and changed.path != original.path
    # the old engine stays valid for its own key (two configurations can share one cache directory)
    assert not cache.load_or_build("video_tower", base_key(), build, load).built


def test_key_digest_ignores_field_order():
    assert key_digest({"a": 1, "b": [1, 2]}) == key_digest({"b": [1, 2], "a": 1})
    assert key_digest({"a": 1}) != key_digest({"a": 2})


@pytest.mark.parametrize("damage, reason", [
    (lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2]), "truncated"),
    (lambda p: p.write_bytes(p.read_bytes()[:-1] + b"X"), "corrupt"),  # same size, one byte changed
    (lambda p: p.with_name(p.name + ".json").unlink(), "no sidecar"),
    (lambda p: p.with_name(p.name + ".json").write_text("{not json"), "unreadable sidecar"),
    (lambda p: p.unlink(), "missing"),
])
def test_damaged_engine_is_rebuilt_with_a_warning(tmp_path, caplog, damage, reason):
    build = Builder()
    cache = EngineCache(tmp_path)
    good = cache.load_or_build("video_tower", base_key(), build, load)
    damage(good.path)
    with caplog.at_level(logging.WARNING, logger="motionllm.encoders"):
        rebuilt = cache.load_or_build("video_tower", base_key(), build, load)
    assert build.builds == 2 and rebuilt.built and rebuilt.value == rebuilt.path.read_bytes()
    assert any(reason in r.getMessage() and "rebuilding" in r.getMessage() for r in caplog.records
               if r.levelno == logging.WARNING)
    assert not cache.load_or_build("video_tower", base_key(), build, load).built


def test_engine_the_runtime_rejects_is_rebuilt_with_a_warning(tmp_path, caplog):
    """Hash and sidecar intact, but deserialisation fails (e.g. a TensorRT that cannot read it): rebuild."""
    cache = EngineCache(tmp_path)
    cache.load_or_build("video_tower", base_key(), Builder(header=b"ENGINE-v0\n"))  # stored without loading
    build = Builder()
    with caplog.at_level(logging.WARNING, logger="motionllm.encoders"):
        rebuilt = cache.load_or_build("video_tower", base_key(), build, load)
    assert build.builds == 1 and rebuilt.value.startswith(HEADER)
    assert any("does not load" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)


def test_loader_exception_counts_as_a_failed_load(tmp_path):
    cache = EngineCache(tmp_path)
    cache.load_or_build("video_tower", base_key(), Builder())

    def strict_load(data):
        raise RuntimeError("engine plan file is incompatible")

    with pytest.raises(CacheError, match="freshly built, but it does not load: RuntimeError: engine plan"):
        cache.load_or_build("video_tower", base_key(), Builder(), strict_load)


def test_failed_build_leaves_nothing_behind(tmp_path):
    cache = EngineCache(tmp_path)

    def failing_build(path):
        path.write_bytes(b"half an engine")
        raise RuntimeError("out of memory while building")

    with pytest.raises(RuntimeError, match="out of memory"):
        cache.load_or_build("video_tower", base_key(), failing_build, load)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(CacheError, match="wrote nothing"):
        cache.load_or_build("video_tower", base_key(), lambda path: None, load)


def test_unusable_cache_directory_is_a_clear_error(tmp_path):
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache directory should be")
    with pytest.raises(CacheError, match="cannot write to the cache directory"):
        EngineCache(blocker).load_or_build("video_tower", base_key(), Builder(), load)


def test_batch_profile_shapes():
    assert BatchProfile().shapes() == [[1, 3, 224, 224], [1, 3, 224, 224], [8, 3, 224, 224]]
    assert dataclasses.replace(BatchProfile(), opt_frames=4).shapes()[1] == [4, 3, 224, 224]
