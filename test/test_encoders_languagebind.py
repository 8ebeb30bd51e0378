"""The LanguageBind video tower on the encoder backends: a fixed 8-frame ONNX export run by onnxruntime, torch, and
TensorRT refused with a reason (its engines take a dynamic batch of independent frames)."""

from __future__ import annotations

import logging

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from motionllm_ros.encoders.onnx_export import (
    BackendUnavailableError,
    export_video_tower,
)
from motionllm_ros.encoders.onnxruntime_backend import (
    OnnxRuntimeJointTower,
    OnnxRuntimeTower,
)
from motionllm_ros.encoders.select import build_engine_cli, select_backend
from motionllm_ros.model.errors import ModelError
from motionllm_ros.model.languagebind import (
    LanguageBindVideoTower,
    write_tiny_languagebind_tower,
)
from motionllm_ros.model.video_tower import write_tiny_video_tower

PARITY = 1e-4  # fp32 max abs difference allowed between onnxruntime and torch (issue 6)


@pytest.fixture(scope="module")
def towers(tmp_path_factory):
    root = tmp_path_factory.mktemp("languagebind_onnx")
    return write_tiny_languagebind_tower(root / "languagebind"), write_tiny_video_tower(root / "clip")


def clip_pixels(seed: int) -> torch.Tensor:
    return torch.randn(8, 3, 224, 224, generator=torch.Generator().manual_seed(seed))


def test_auto_on_a_cpu_runs_the_joint_export_on_onnxruntime_at_parity(towers, tmp_path, caplog):
    languagebind_dir, _ = towers
    with caplog.at_level(logging.INFO, logger="motionllm.encoders"):
        selected = select_backend("auto", languagebind_dir, tmp_path / "cache", "fp32", "cpu")
    assert selected.name == "onnxruntime" and selected.tower.kind == "languagebind"
    assert selected.tower.joint_frames == 8 and selected.tower.hidden_size == 32
    # TensorRT is refused for what the tower is, before any look for a GPU, and that is a warning even for auto.
    assert len(selected.skipped) == 1 and "LanguageBind tower" in selected.skipped[0]
    assert any(r.levelno == logging.WARNING and "tensorrt" in r.getMessage() for r in caplog.records)
    reference = LanguageBindVideoTower(languagebind_dir)
    for seed in (0, 1):
        x = clip_pixels(seed)
        assert (selected.tower.encode_clip(x) - reference.encode_clip(x)).abs().max().item() <= PARITY
    with pytest.raises(ModelError, match=r"expected \(8, 3, 224, 224\)"):
        selected.tower.encode_clip(torch.zeros(4, 3, 224, 224))


def test_explicit_torch_gives_the_torch_languagebind_tower(towers, tmp_path):
    languagebind_dir, _ = towers
    selected = select_backend("torch", languagebind_dir, tmp_path, "fp32", "cpu")
    assert isinstance(selected.tower, LanguageBindVideoTower) and selected.skipped == ()


def test_build_engine_refuses_a_languagebind_tower(towers, tmp_path):
    languagebind_dir, _ = towers
    with pytest.raises(BackendUnavailableError, match="LanguageBind tower .* runs on onnxruntime or torch"):
        build_engine_cli(languagebind_dir, tmp_path / "cache", "fp16")


def test_each_onnxruntime_class_refuses_the_other_kind_of_export(towers, tmp_path):
    languagebind_dir, clip_dir = towers
    joint = export_video_tower(languagebind_dir, tmp_path / "joint.onnx")
    per_frame = export_video_tower(clip_dir, tmp_path / "per_frame.onnx")
    with pytest.raises(ModelError, match="takes exactly 8 frames"):
        OnnxRuntimeTower(joint)
    with pytest.raises(ModelError, match="dynamic frame batch"):
        OnnxRuntimeJointTower(per_frame)
