"""The video tower as an ONNX file: input `pixels` (batch, 3, 224, 224), output `features` (batch, 256, hidden).

The graph computes exactly what the torch tower computes (the second-to-last hidden state with the CLS token
dropped), optionally followed by the video projector so that one engine gives LLM-ready embeddings. For a `clip`
tower the frame batch is the only dynamic dimension (TensorRT builds an optimisation profile over it); a
`languagebind` tower attends across the frames of one clip, so its graph takes exactly one clip: a fixed batch of
8 frames (`LanguageBindVideoTower.encode_clip`).

We use torch's `torch.export`-based exporter (`dynamo=True`, which needs the `onnxscript` package): the TorchScript
exporter is deprecated, and the new one keeps the static patch and width dimensions in the output's shape.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

from motionllm_ros.model.errors import ModelError, ModelFileNotFoundError

from .engine_cache import CachedArtifact, EngineCache, file_sha256

LOG = logging.getLogger("motionllm.encoders")
INPUT_NAME = "pixels"  # (batch, 3, 224, 224) float32, CLIP-normalised (see video_tower.preprocess_frames)
OUTPUT_NAME = "features"  # (batch, 256, hidden) float32, or (batch, 256, llm_width) with the projector fused
# batch: dynamic for a clip tower, fixed to the clip's 8 frames for a languagebind tower
DEFAULT_OPSET = 17  # TensorRT 8.6 (JetPack 5) parses up to 17; TensorRT 10 reads it as well


class BackendUnavailableError(ModelError):
    """An encoder backend cannot run here (package missing, no GPU); the message says why and what to install."""


class OnnxExportError(ModelError):
    """The export produced no valid ONNX model."""


def export_video_tower(
    tower_dir: str | Path, out_path: str | Path, fuse_projector: Path | None = None, opset: int = DEFAULT_OPSET
) -> Path:
    """Export the video tower in `tower_dir` (either kind, see model/towers.py) and the projector file, if given,
    to one ONNX file.

    `fuse_projector` is a `video_projector.safetensors` as `motionllm convert` writes it. The file is checked with
    `onnx.checker` (full check, with shape inference) before this returns.
    """
    torch, onnx = _import_export_packages()
    from motionllm_ros.model.towers import (
        LANGUAGEBIND,
        detect_tower_kind,
        open_torch_tower,
    )
    from motionllm_ros.model.video_tower import IMAGE_SIZE

    kind = detect_tower_kind(tower_dir)
    tower = open_torch_tower(Path(tower_dir), kind)
    projector = None if fuse_projector is None else load_projector_file(Path(fuse_projector))
    if projector is not None:
        width = next(m for m in projector.modules() if isinstance(m, torch.nn.Linear)).in_features
        if width != tower.hidden_size:
            raise ModelError(f"{fuse_projector}: takes width {width}, the tower {tower_dir} gives {tower.hidden_size}")
    module = _features_module(tower.model, projector)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if kind == LANGUAGEBIND:
        example, dynamic_shapes = torch.zeros(tower.joint_frames, 3, IMAGE_SIZE, IMAGE_SIZE), None
    else:
        # Two frames in the example: torch.export would specialise a batch of 1 as a constant.
        example = torch.zeros(2, 3, IMAGE_SIZE, IMAGE_SIZE)
        dynamic_shapes = {"pixels": {0: torch.export.Dim("batch", min=1)}}
    with torch.no_grad():
        torch.onnx.export(module, (example,), str(out_path), dynamo=True, input_names=[INPUT_NAME],
                          output_names=[OUTPUT_NAME], dynamic_shapes=dynamic_shapes, opset_version=opset,
                          external_data=False, verbose=False)
    try:
        onnx.checker.check_model(str(out_path), full_check=True)
    except onnx.checker.ValidationError as error:
        raise OnnxExportError(f"{out_path}: the exported model fails onnx.checker: {error}") from error
    return out_path


def cached_onnx(
    tower_dir: str | Path, cache: EngineCache, fuse_projector: Path | None = None, opset: int = DEFAULT_OPSET
) -> CachedArtifact[None]:
    """The tower's ONNX export from `cache`, exported only when the tower's files (or the opset) changed."""
    tower_dir = Path(tower_dir)
    key = {"tower_sha256": _directory_sha256(tower_dir), "opset": opset,
           "projector_sha256": None if fuse_projector is None else _files_sha256([Path(fuse_projector)])}
    return cache.load_or_build("video_tower", key, lambda path: export_video_tower(tower_dir, path, fuse_projector,
                                                                                   opset), suffix=".onnx")


def load_projector_file(path: Path):
    """A video projector from its safetensors file (kind and widths from the weights' shapes), float32, eval."""
    from safetensors.torch import load_file

    from motionllm_ros.model.projectors import load_projector_state, make_projector

    if not path.is_file():
        raise ModelFileNotFoundError(f"video projector not found: {path}")
    state = load_file(str(path))
    last = state.get("2.weight", state.get("weight"))
    if last is None or last.ndim != 2:
        raise ModelError(f"{path}: not a projector (keys {sorted(state)[:4]}...)")
    state, spec = load_projector_state(state, str(path), out_dim=int(last.shape[0]))
    return make_projector(spec, state)


def _features_module(vision_model, projector):
    """pixels (batch, 3, 224, 224) -> (batch, 256, width), as a Module for the exporter (torch imported lazily)."""
    import torch

    class TowerFeatures(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.vision = vision_model
            self.projector = projector

        def forward(self, pixels):
            hidden = self.vision(pixel_values=pixels, output_hidden_states=True).hidden_states[-2][:, 1:]
            return hidden if self.projector is None else self.projector(hidden)

    return TowerFeatures().eval()


def _import_export_packages():
    try:
        import onnx
        import onnxscript  # noqa: F401 - torch's ONNX exporter needs it; fail here with a clear message
        import torch
    except ImportError as error:
        raise BackendUnavailableError(
            f"exporting the video tower to ONNX needs torch, onnx and onnxscript ({error}); "
            "pip install onnx onnxscript"
        ) from error
    return torch, onnx


def _directory_sha256(directory: Path) -> str:
    if not (directory / "config.json").is_file():
        raise ModelFileNotFoundError(f"video tower not found: {directory / 'config.json'} (a CLIP vision model or "
                                     "LanguageBind_Video_merge directory)")
    return _files_sha256(sorted(p for p in directory.iterdir() if p.is_file()), root=directory)


def _files_sha256(paths: list[Path], root: Path | None = None) -> str:
    """One sha256 over the files' names (relative to `root`) and contents."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(str(path.relative_to(root) if root else path.name).encode())
        digest.update(bytes.fromhex(file_sha256(path)))
    return digest.hexdigest()
