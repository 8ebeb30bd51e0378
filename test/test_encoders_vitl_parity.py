"""ONNX parity on a ViT-L/14-sized CLIP vision tower (random weights): about 40 s and 5 GB of RAM on 2 cores.

The ONNX file (~1.2 GB) and the checkpoint are written under pytest's tmp_path and deleted at the end.
"""

from __future__ import annotations

import shutil

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from motionllm_ros.encoders.onnx_export import export_video_tower
from motionllm_ros.encoders.onnxruntime_backend import OnnxRuntimeTower
from motionllm_ros.model.video_tower import VideoTower


def test_onnxruntime_matches_torch_on_a_vit_l14_tower(tmp_path):
    # LanguageBind's video tower geometry: CLIP ViT-L/14 at 224 px
    config = transformers.CLIPVisionConfig(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24,
                                           num_attention_heads=16, patch_size=14, image_size=224)
    torch.manual_seed(0)
    transformers.CLIPVisionModel(config).save_pretrained(str(tmp_path / "vit_l14"))
    try:
        onnx_path = export_video_tower(tmp_path / "vit_l14", tmp_path / "vit_l14.onnx")
        x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(1))
        expected = VideoTower(tmp_path / "vit_l14").encode_frames(x)
        got = OnnxRuntimeTower(onnx_path).encode_frames(x)
        assert got.shape == expected.shape == (2, 256, 1024)
        assert (got - expected).abs().max().item() <= 1e-4
    finally:  # 1.2 GB each: do not leave them to pytest's retention of the last three runs
        shutil.rmtree(tmp_path / "vit_l14")
        (tmp_path / "vit_l14.onnx").unlink(missing_ok=True)
