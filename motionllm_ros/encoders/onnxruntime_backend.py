"""The video tower run by ONNX Runtime from the exported ONNX file: a drop-in for `VideoTower.encode_frames`
(clip) or `LanguageBindVideoTower.encode_clip` (languagebind)."""

from __future__ import annotations

import logging
from pathlib import Path

from motionllm_ros.model.errors import ModelError
from motionllm_ros.model.towers import CLIP, LANGUAGEBIND

from .onnx_export import INPUT_NAME, OUTPUT_NAME, BackendUnavailableError

LOG = logging.getLogger("motionllm.encoders")
IMAGE_SIZE = 224  # the exported graph's fixed input size (video_tower.IMAGE_SIZE, not imported: it pulls in torch)


def import_onnxruntime():
    try:
        import onnxruntime
    except ImportError as error:
        raise BackendUnavailableError(f"onnxruntime: not installed ({error}); pip install onnxruntime") from error
    return onnxruntime


def providers_for(device: str) -> list[str]:
    """onnxruntime execution providers for `device`; BackendUnavailableError when this build cannot serve it."""
    ort = import_onnxruntime()
    if not device.startswith("cuda"):
        return ["CPUExecutionProvider"]
    available = ort.get_available_providers()
    # A CPU-only onnxruntime would quietly run on the CPU: refuse, so that the selector falls back to torch on CUDA.
    if "CUDAExecutionProvider" not in available:
        raise BackendUnavailableError(
            f"onnxruntime: device {device!r} requested, but this onnxruntime has no CUDAExecutionProvider "
            f"(it has {', '.join(available)}); install onnxruntime-gpu")
    return ["CUDAExecutionProvider", "CPUExecutionProvider"]


class _OnnxRuntimeSession:
    """An ONNX Runtime session over an `export_video_tower` file; `_run` takes (frames, 3, 224, 224) pixels."""

    def __init__(self, onnx_path: str | Path, device: str, threads: int | None) -> None:
        ort = import_onnxruntime()
        providers = providers_for(device)
        options = ort.SessionOptions()
        # Idle pool threads would otherwise spin after each frame and slow pose and the LLM that share the CPU:
        # measured 2x slower torch right after an onnxruntime call with spinning on, on a 2-core machine.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads is not None:
            options.intra_op_num_threads = threads
        self.onnx_path = Path(onnx_path)
        try:
            self.session = ort.InferenceSession(str(self.onnx_path), sess_options=options, providers=providers)
        except Exception as error:  # onnxruntime raises its own exception types for a file it cannot read
            raise ModelError(f"{self.onnx_path}: onnxruntime cannot load it: {error}") from error
        inputs = {i.name: i.shape for i in self.session.get_inputs()}
        outputs = {o.name: o.shape for o in self.session.get_outputs()}
        output_shape = outputs.get(OUTPUT_NAME)
        if (list(inputs) != [INPUT_NAME] or output_shape is None or len(output_shape) != 3
                or not all(isinstance(d, int) for d in output_shape[1:])):
            raise ModelError(f"{self.onnx_path}: expected input {INPUT_NAME!r} and output {OUTPUT_NAME!r} (batch, "
                             f"patches, width) as export_video_tower writes them, got inputs {inputs} outputs "
                             f"{outputs}")
        batch = inputs[INPUT_NAME][0]
        self.fixed_frames = batch if isinstance(batch, int) else None  # None: a dynamic frame batch
        self.patches_per_frame = int(output_shape[1])
        self.hidden_size = int(output_shape[2])  # the projector's output width when it was fused into the export
        self.providers = tuple(self.session.get_providers())

    def _run(self, pixels, expected: str):
        import torch

        frames_ok = self.fixed_frames is None or pixels.shape[0] == self.fixed_frames
        if pixels.ndim != 4 or tuple(pixels.shape[1:]) != (3, IMAGE_SIZE, IMAGE_SIZE) or not frames_ok:
            raise ModelError(f"video tower input: expected {expected}, got {tuple(pixels.shape)}")
        array = pixels.detach().to("cpu", torch.float32).contiguous().numpy()
        (features,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: array})
        return torch.from_numpy(features)


class OnnxRuntimeTower(_OnnxRuntimeSession):
    """A `clip` tower: `encode_frames((N, 3, 224, 224)) -> (N, patches, hidden)` float32 on the CPU, like
    `VideoTower`."""

    kind = CLIP

    def __init__(self, onnx_path: str | Path, device: str = "cpu", threads: int | None = None) -> None:
        super().__init__(onnx_path, device, threads)
        if self.fixed_frames is not None:
            raise ModelError(f"{self.onnx_path}: takes exactly {self.fixed_frames} frames (a LanguageBind export); "
                             "a per-frame CLIP tower needs a dynamic frame batch")

    def encode_frames(self, pixels):
        """(N, 3, 224, 224) torch tensor -> (N, patches, hidden) float32 torch tensor on the CPU."""
        return self._run(pixels, f"(N, 3, {IMAGE_SIZE}, {IMAGE_SIZE})")


class OnnxRuntimeJointTower(_OnnxRuntimeSession):
    """A `languagebind` tower: `encode_clip((8, 3, 224, 224)) -> (8, patches, hidden)` float32 on the CPU, like
    `LanguageBindVideoTower`."""

    kind = LANGUAGEBIND

    def __init__(self, onnx_path: str | Path, device: str = "cpu", threads: int | None = None) -> None:
        super().__init__(onnx_path, device, threads)
        if self.fixed_frames is None:
            raise ModelError(f"{self.onnx_path}: a dynamic frame batch (a per-frame CLIP export); a LanguageBind "
                             "tower's export takes exactly one clip of frames")
        self.joint_frames = self.fixed_frames

    def encode_clip(self, pixels):
        """(joint_frames, 3, 224, 224) torch tensor -> (joint_frames, patches, hidden) float32 on the CPU."""
        return self._run(pixels, f"({self.joint_frames}, 3, {IMAGE_SIZE}, {IMAGE_SIZE})")
