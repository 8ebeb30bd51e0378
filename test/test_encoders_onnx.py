"""ONNX export of the video tower and the onnxruntime backend: parity with torch, interface, cache of the export."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
onnx = pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

from motionllm_ros.encoders.engine_cache import EngineCache
from motionllm_ros.encoders.onnx_export import cached_onnx, export_video_tower
from motionllm_ros.encoders.onnxruntime_backend import OnnxRuntimeTower
from motionllm_ros.model.errors import ModelError
from motionllm_ros.model.projectors import ProjectorSpec, build_projector
from motionllm_ros.model.video_tower import VideoTower, preprocess_frames, write_tiny_video_tower
from motionllm_ros.model.window_describer import GridFrameEncoder

PARITY = 1e-4  # fp32 max abs difference allowed between onnxruntime and torch (issue 6)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("onnx")
    tower_dir = write_tiny_video_tower(root / "clip")
    return tower_dir, export_video_tower(tower_dir, root / "tower.onnx")


def pixels(n, seed=0):
    return torch.randn(n, 3, 224, 224, generator=torch.Generator().manual_seed(seed))


def dims(value_info):
    return [d.dim_param or d.dim_value for d in value_info.type.tensor_type.shape.dim]


def test_export_is_valid_onnx_with_dynamic_frame_batch(tiny):
    _, onnx_path = tiny
    model = onnx.load(str(onnx_path))
    onnx.checker.check_model(model, full_check=True)
    assert [i.name for i in model.graph.input] == ["pixels"]
    assert [o.name for o in model.graph.output] == ["features"]
    batch = dims(model.graph.input[0])[0]
    assert isinstance(batch, str) and dims(model.graph.input[0])[1:] == [3, 224, 224]
    assert dims(model.graph.output[0]) == [batch, 256, 32]  # the same symbolic batch, 16x16 patches, width 32
    assert model.opset_import[0].version == 17


def test_onnxruntime_matches_torch_on_the_tiny_tower(tiny):
    tower_dir, onnx_path = tiny
    reference = VideoTower(tower_dir)
    backend = OnnxRuntimeTower(onnx_path)
    assert (backend.hidden_size, backend.patches_per_frame) == (reference.hidden_size, reference.patches_per_frame)
    for n in (1, 3, 8):
        x = pixels(n, seed=n)
        got, expected = backend.encode_frames(x), reference.encode_frames(x)
        assert got.dtype == torch.float32 and got.shape == (n, 256, 32)
        assert (got - expected).abs().max().item() <= PARITY


def test_onnxruntime_backend_serves_the_grid_frame_encoder(tiny, test_data):
    """A real frame through preprocessing, the per-frame cache's encoder, and both backends."""
    cv2 = pytest.importorskip("cv2")
    tower_dir, onnx_path = tiny
    capture = cv2.VideoCapture(str(test_data / "video" / "dribble_single_person.mp4"))
    ok, bgr = capture.read()
    capture.release()
    assert ok
    rgb = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
    features = GridFrameEncoder(OnnxRuntimeTower(onnx_path), period_s=0.25)(0.0, rgb)
    expected = VideoTower(tower_dir).encode_frames(preprocess_frames([rgb]))[0]
    assert features.shape == (256, 32)
    assert (features - expected).abs().max().item() <= PARITY


def test_fused_projector_matches_tower_then_projector(tiny, tmp_path):
    from safetensors.torch import save_file

    tower_dir, _ = tiny
    torch.manual_seed(1)
    projector = build_projector(ProjectorSpec("mlp2x_gelu", in_dim=32, out_dim=48)).eval()
    projector_file = tmp_path / "video_projector.safetensors"
    save_file({k: v.contiguous() for k, v in projector.state_dict().items()}, str(projector_file))
    fused = export_video_tower(tower_dir, tmp_path / "fused.onnx", fuse_projector=projector_file)
    backend = OnnxRuntimeTower(fused)
    x = pixels(2)
    with torch.inference_mode():
        expected = projector(VideoTower(tower_dir).encode_frames(x))
    got = backend.encode_frames(x)
    assert backend.hidden_size == 48 and got.shape == (2, 256, 48)
    assert (got - expected).abs().max().item() <= PARITY


def test_projector_of_another_width_is_refused(tiny, tmp_path):
    from safetensors.torch import save_file

    tower_dir, _ = tiny
    projector = build_projector(ProjectorSpec("linear", in_dim=64, out_dim=48))
    save_file(projector.state_dict(), str(tmp_path / "p.safetensors"))
    with pytest.raises(ModelError, match="takes width 64"):
        export_video_tower(tower_dir, tmp_path / "x.onnx", fuse_projector=tmp_path / "p.safetensors")


def test_bad_inputs_are_clear_errors(tiny, tmp_path):
    _, onnx_path = tiny
    backend = OnnxRuntimeTower(onnx_path)
    with pytest.raises(ModelError, match=r"expected \(N, 3, 224, 224\)"):
        backend.encode_frames(torch.zeros(1, 3, 112, 112))
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(onnx_path.read_bytes()[:1000])
    with pytest.raises(ModelError, match="truncated.onnx: onnxruntime cannot load it"):
        OnnxRuntimeTower(truncated)
    with pytest.raises(ModelError, match="config.json"):
        export_video_tower(tmp_path / "no_such_tower", tmp_path / "x.onnx")


def test_export_is_cached_until_the_tower_changes(tmp_path):
    tower_dir = write_tiny_video_tower(tmp_path / "clip", seed=0)
    cache = EngineCache(tmp_path / "cache")
    first = cached_onnx(tower_dir, cache)
    again = cached_onnx(tower_dir, cache)
    assert first.built and not again.built and again.sha256 == first.sha256
    write_tiny_video_tower(tower_dir, seed=1)  # new weights, same directory
    changed = cached_onnx(tower_dir, cache)
    assert changed.built and changed.path != first.path
    x = pixels(1)
    difference = OnnxRuntimeTower(changed.path).encode_frames(x) - VideoTower(tower_dir).encode_frames(x)
    assert difference.abs().max().item() <= PARITY
