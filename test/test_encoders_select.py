"""Backend selection: fallback order, a message per unavailable backend, errors that are not fallbacks."""

from __future__ import annotations

import importlib.util
import logging

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from motionllm_ros.encoders.onnx_export import BackendUnavailableError
from motionllm_ros.encoders.select import BACKENDS, build_engine_cli, select_backend
from motionllm_ros.model.errors import ModelError, ModelFileNotFoundError
from motionllm_ros.model.video_tower import VideoTower, write_tiny_video_tower

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None
HAS_ONNX_EXPORT = all(importlib.util.find_spec(m) for m in ("onnx", "onnxscript", "onnxruntime"))
needs_onnx = pytest.mark.skipif(not HAS_ONNX_EXPORT, reason="needs onnx, onnxscript and onnxruntime")
no_gpu = pytest.mark.skipif(torch.cuda.is_available(), reason="checks the messages of a machine without CUDA")


@pytest.fixture(scope="module")
def tower_dir(tmp_path_factory):
    return write_tiny_video_tower(tmp_path_factory.mktemp("select") / "clip")


def test_fallback_order_is_explicit():
    assert BACKENDS == ("tensorrt", "onnxruntime", "torch")


@needs_onnx
def test_auto_on_a_cpu_skips_tensorrt_with_a_reason_and_runs_onnxruntime(tower_dir, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="motionllm.encoders"):
        selected = select_backend("auto", tower_dir, tmp_path / "cache", "fp32", "cpu")
    assert selected.name == "onnxruntime"
    assert len(selected.skipped) == 1 and selected.skipped[0].startswith("tensorrt:")
    assert any("video backend tensorrt unavailable" in r.getMessage() and r.levelno == logging.INFO
               for r in caplog.records)
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    assert (selected.tower.encode_frames(x) - VideoTower(tower_dir).encode_frames(x)).abs().max() <= 1e-4
    assert len(list((tmp_path / "cache").glob("*.onnx"))) == 1  # the export went into the cache directory


@needs_onnx
def test_explicit_tensorrt_that_cannot_run_falls_back_with_a_warning(tower_dir, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="motionllm.encoders"):
        selected = select_backend("tensorrt", tower_dir, tmp_path, "fp16", "cpu")
    assert selected.name == "onnxruntime"
    assert any(r.levelno == logging.WARNING and "tensorrt" in r.getMessage() for r in caplog.records)


@needs_onnx
@pytest.mark.parametrize("backend", ["onnxruntime", "torch"])
def test_the_backend_line_names_the_precision_that_runs(tower_dir, tmp_path, caplog, backend):
    with caplog.at_level(logging.INFO, logger="motionllm.encoders"):
        select_backend(backend, tower_dir, tmp_path, "fp16", "cpu")
    (line,) = [r.getMessage() for r in caplog.records if r.getMessage().startswith("video backend:")]
    assert line.startswith(f"video backend: {backend} (cpu, fp32; video.precision fp16 applies to")


def test_explicit_torch_never_tries_the_others(tower_dir, tmp_path):
    selected = select_backend("torch", tower_dir, tmp_path, "fp16", "cpu")
    assert selected.name == "torch" and selected.skipped == ()
    assert isinstance(selected.tower, VideoTower)
    assert next(selected.tower.model.parameters()).dtype == torch.float32  # fp16 is for CUDA devices only
    assert list(tmp_path.iterdir()) == []  # no export happened


@needs_onnx
def test_explicit_onnxruntime_does_not_try_tensorrt(tower_dir, tmp_path):
    selected = select_backend("onnxruntime", tower_dir, tmp_path, "fp32", "cpu")
    assert selected.name == "onnxruntime" and selected.skipped == ()


@no_gpu
def test_cuda_without_a_gpu_lists_every_reason_before_any_export(tower_dir, tmp_path):
    with pytest.raises(BackendUnavailableError) as raised:
        select_backend("auto", tower_dir, tmp_path / "cache", "fp16", "cuda")
    message = str(raised.value)
    lines = message.splitlines()[1:]
    assert [line.strip().split(":")[0] for line in lines] == ["tensorrt", "onnxruntime", "torch"]
    if HAS_ONNX_EXPORT:
        assert "CUDAExecutionProvider" in message
    assert not (tmp_path / "cache").exists()  # nothing was exported for backends that cannot run


def test_a_broken_tower_is_an_error_not_a_fallback(tmp_path):
    for name in ("auto", "torch"):
        with pytest.raises(ModelFileNotFoundError, match="config.json"):
            select_backend(name, tmp_path / "missing_tower", tmp_path / "cache", "fp32", "cpu")


def test_unknown_names_are_clear_errors(tower_dir, tmp_path):
    with pytest.raises(ModelError, match="unknown video backend 'tensorflow'"):
        select_backend("tensorflow", tower_dir, tmp_path)
    with pytest.raises(ModelError, match="unknown video precision 'int8'"):
        select_backend("torch", tower_dir, tmp_path, precision="int8")


@pytest.mark.skipif(HAS_TENSORRT, reason="checks the message where TensorRT is not installed")
def test_build_engine_without_tensorrt_says_what_to_install(tower_dir, tmp_path):
    with pytest.raises(BackendUnavailableError, match="tensorrt: the TensorRT Python package is not installed"):
        build_engine_cli(tower_dir, tmp_path / "cache", "fp16")
    assert not (tmp_path / "cache").exists()
