"""The video tower run by ONNX Runtime from the exported ONNX file; a drop-in for `VideoTower.encode_frames`."""

from __future__ import annotations

import logging
from pathlib import Path

from motionllm_ros.model.errors import ModelError

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


class OnnxRuntimeTower:
    """`encode_frames((N, 3, 224, 224)) -> (N, patches, hidden)` float32 on the CPU, like `VideoTower`."""

    def __init__(self, onnx_path: str | Path, device: str = "cpu", threads: int | None = None) -> None:
        ort = import_onnxruntime()
        providers = providers_for(device)
        options = ort.SessionOptions()
        # Idle pool threads would otherwise spin after each frame and slow pose and the LLM that share the CPU:
        # measured 2x slower torch right after an onnxruntime call with spinning on, on a 2-core machine.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads is not None:
            options.intra_op_num_threads = threads
        onnx_path = Path(onnx_path)
        try:
            self.session = ort.InferenceSession(str(onnx_path), sess_options=options, providers=providers)
        except Exception as error:  # onnxruntime raises its own exception types for a file it cannot read
            raise ModelError(f"{onnx_path}: onnxruntime cannot load it: {error}") from error
        inputs = {i.name: i.shape for i in self.session.get_inputs()}
        outputs = {o.name: o.shape for o in self.session.get_outputs()}
        output_shape = outputs.get(OUTPUT_NAME)
        if (list(inputs) != [INPUT_NAME] or output_shape is None or len(output_shape) != 3
                or not all(isinstance(d, int) for d in output_shape[1:])):
            raise ModelError(f"{onnx_path}: expected input {INPUT_NAME!r} and output {OUTPUT_NAME!r} (batch, patches, "
                             f"width) as export_video_tower writes them, got inputs {inputs} outputs {outputs}")
        self.patches_per_frame = int(output_shape[1])
        self.hidden_size = int(output_shape[2])  # the projector's output width when it was fused into the export
        self.providers = tuple(self.session.get_providers())

    def encode_frames(self, pixels):
        """(N, 3, 224, 224) torch tensor -> (N, patches, hidden) float32 torch tensor on the CPU."""
        import torch

        if pixels.ndim != 4 or tuple(pixels.shape[1:]) != (3, IMAGE_SIZE, IMAGE_SIZE):
            expected = f"(N, 3, {IMAGE_SIZE}, {IMAGE_SIZE})"
            raise ModelError(f"video tower input: expected {expected}, got {tuple(pixels.shape)}")
        array = pixels.detach().to("cpu", torch.float32).contiguous().numpy()
        (features,) = self.session.run([OUTPUT_NAME], {INPUT_NAME: array})
        return torch.from_numpy(features)
