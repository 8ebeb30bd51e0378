"""The video tower as a TensorRT engine (TensorRT 10 Python API), built from the ONNX export and cached.

NOT RUN on the machines this package is developed on (TensorRT cannot be installed there): the cache and the
selection logic around it are tested; this file is kept small enough to check by reading against the TensorRT 10
Python API documentation.

Build: ONNX parser -> network, FP16 flag for precision "fp16", one optimisation profile over the frame batch,
`build_serialized_network`, with phases logged through an `IProgressMonitor`. Run: the runtime deserialises the
engine, and each call binds the input and output tensors by address and enqueues on a torch CUDA stream, so the
engine shares the node's CUDA context and stream ordering with the rest of the model.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from motionllm_ros.model.errors import ModelError
from motionllm_ros.model.towers import CLIP

from .engine_cache import CachedArtifact, EngineCache
from .onnx_export import INPUT_NAME, OUTPUT_NAME, BackendUnavailableError

LOG = logging.getLogger("motionllm.encoders")
PRECISIONS = ("fp32", "fp16")
IMAGE_SIZE = 224  # the exported graph's fixed input size


@dataclass(frozen=True)
class BatchProfile:
    """The frame batches the engine accepts; TensorRT tunes its kernels for `opt_frames`."""

    min_frames: int = 1
    opt_frames: int = 1  # the per-frame feature cache encodes frames one at a time
    max_frames: int = 8  # one whole window (FRAMES_PER_CLIP), for re-encoding baselines

    def shapes(self) -> list[list[int]]:  # [min, opt, max] input shapes, each (frames, 3, 224, 224)
        return [[n, 3, IMAGE_SIZE, IMAGE_SIZE] for n in (self.min_frames, self.opt_frames, self.max_frames)]


@dataclass(frozen=True)
class LoadedEngine:
    runtime: Any  # tensorrt.Runtime: kept alive as long as the engine it deserialised
    engine: Any  # tensorrt.ICudaEngine


def import_tensorrt():
    try:
        import tensorrt
    except ImportError as error:
        raise BackendUnavailableError(
            f"tensorrt: the TensorRT Python package is not installed ({error}); on a Jetson it comes with JetPack "
            "(apt install python3-libnvinfer), elsewhere `pip install tensorrt`") from error
    return tensorrt


def require_cuda(device: str) -> None:
    import torch

    if not device.startswith("cuda"):
        raise BackendUnavailableError(f"tensorrt: runs on a CUDA device only, the configured device is {device!r}")
    if not torch.cuda.is_available():
        raise BackendUnavailableError("tensorrt: no CUDA device is visible to torch (torch.cuda.is_available() is "
                                      "False)")


def engine_key(onnx_sha256: str, tensorrt_version: str, compute_capability: tuple[int, int], precision: str,
               profile: BatchProfile) -> dict[str, Any]:
    """Everything a serialised engine depends on: a change in any field means a rebuild."""
    return {"onnx_sha256": onnx_sha256, "tensorrt": tensorrt_version,
            "compute_capability": "{}.{}".format(*compute_capability), "precision": precision,
            "profile": {INPUT_NAME: profile.shapes()}}


@functools.lru_cache(maxsize=1)
def _logger():
    trt = import_tensorrt()
    return trt.Logger(trt.Logger.WARNING)  # must outlive every builder and runtime that uses it: one per process


def build_engine(onnx_path: Path, out_path: Path, precision: str, profile: BatchProfile) -> None:
    """Parse the ONNX file, build a serialised engine for `precision` and `profile`, write it to `out_path`."""
    trt = import_tensorrt()
    if precision not in PRECISIONS:
        raise ModelError(f"unknown precision {precision!r}; expected one of {PRECISIONS}")
    builder = trt.Builder(_logger())
    network = builder.create_network(0)  # TensorRT 10: networks are always explicit-batch
    parser = trt.OnnxParser(network, _logger())
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise ModelError(f"{onnx_path}: TensorRT's ONNX parser rejects it: {errors}")
    config = builder.create_builder_config()
    if precision == "fp16":
        config.set_flag(trt.BuilderFlag.FP16)
    optimisation_profile = builder.create_optimization_profile()
    optimisation_profile.set_shape(INPUT_NAME, *profile.shapes())
    config.add_optimization_profile(optimisation_profile)
    monitor = _progress_monitor(trt)  # referenced until the build returns: TensorRT does not own it
    if monitor is not None:
        config.progress_monitor = monitor
    LOG.info("building a TensorRT %s engine from %s (frames %d..%d); this takes minutes", precision, onnx_path,
             profile.min_frames, profile.max_frames)
    started = time.monotonic()
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise ModelError(f"TensorRT could not build an engine from {onnx_path}; its log above says why")
    LOG.info("TensorRT engine built in %.0f s (%d bytes)", time.monotonic() - started, serialized.nbytes)
    with open(out_path, "wb") as f:
        f.write(serialized)


def _progress_monitor(trt):
    """An IProgressMonitor that logs each build phase (TensorRT >= 10.0), or None where the API lacks it."""
    if not hasattr(trt, "IProgressMonitor"):
        return None

    class BuildProgress(trt.IProgressMonitor):
        def __init__(self) -> None:
            trt.IProgressMonitor.__init__(self)

        def phase_start(self, phase_name, parent_phase, num_steps):
            LOG.info("TensorRT build: %s%s (%d steps)", f"{parent_phase} > " if parent_phase else "", phase_name,
                     num_steps)

        def step_complete(self, phase_name, step):
            LOG.debug("TensorRT build: %s step %d done", phase_name, step)
            return True  # False would cancel the build

        def phase_finish(self, phase_name):
            LOG.info("TensorRT build: %s finished", phase_name)

    return BuildProgress()


def deserialize_engine(data: bytes) -> LoadedEngine | None:
    """The engine, or None when TensorRT rejects the bytes (the cache then rebuilds)."""
    trt = import_tensorrt()
    runtime = trt.Runtime(_logger())
    engine = runtime.deserialize_cuda_engine(data)
    return None if engine is None else LoadedEngine(runtime, engine)


class TensorRtTower:
    """`encode_frames((N, 3, 224, 224)) -> (N, patches, hidden)` float32 on the CUDA device, like `VideoTower`."""

    kind = CLIP  # select.py never builds an engine for a languagebind tower

    def __init__(self, loaded: LoadedEngine, device: str = "cuda", engine_path: Path | None = None) -> None:
        import torch

        trt = import_tensorrt()
        self.device = torch.device(device)
        self.engine_path = engine_path  # the cached engine file, for logs and `motionllm build-engine`
        self._loaded = loaded
        engine = loaded.engine
        for name in (INPUT_NAME, OUTPUT_NAME):
            if engine.get_tensor_dtype(name) != trt.float32:
                raise ModelError(f"TensorRT engine: tensor {name!r} is {engine.get_tensor_dtype(name)}, expected "
                                 "float32 (an engine built from export_video_tower's ONNX file)")
        self.context = engine.create_execution_context()
        if self.context is None:
            raise ModelError("TensorRT: could not create an execution context (out of GPU memory?)")
        output_shape = engine.get_tensor_shape(OUTPUT_NAME)  # (-1, patches, width)
        self.patches_per_frame, self.hidden_size = int(output_shape[1]), int(output_shape[2])
        self.max_frames = int(engine.get_tensor_profile_shape(INPUT_NAME, 0)[2][0])

    def encode_frames(self, pixels, stream=None):
        """(N, 3, 224, 224) -> (N, patches, hidden) on the device, enqueued on `stream` (default: torch's current).

        Batches beyond the profile's maximum are run in chunks.
        """
        import torch

        if pixels.ndim != 4 or tuple(pixels.shape[1:]) != (3, IMAGE_SIZE, IMAGE_SIZE):
            expected = f"(N, 3, {IMAGE_SIZE}, {IMAGE_SIZE})"
            raise ModelError(f"video tower input: expected {expected}, got {tuple(pixels.shape)}")
        stream = stream if stream is not None else torch.cuda.current_stream(self.device)
        with torch.cuda.stream(stream):  # the copies and the engine share one stream: no extra synchronisation
            chunks = [self._run(chunk, stream) for chunk in pixels.split(self.max_frames)]
        return chunks[0] if len(chunks) == 1 else torch.cat(chunks)

    def _run(self, pixels, stream):
        import torch

        inputs = pixels.to(self.device, torch.float32).contiguous()
        if not self.context.set_input_shape(INPUT_NAME, tuple(inputs.shape)):
            raise ModelError(f"TensorRT engine: input {tuple(inputs.shape)} is outside its optimisation profile")
        output_shape = tuple(self.context.get_tensor_shape(OUTPUT_NAME))
        features = torch.empty(output_shape, dtype=torch.float32, device=self.device)
        self.context.set_tensor_address(INPUT_NAME, inputs.data_ptr())
        self.context.set_tensor_address(OUTPUT_NAME, features.data_ptr())
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise ModelError(f"TensorRT: enqueueing the engine failed for input {tuple(inputs.shape)}")
        return features


def load_tensorrt_tower(
    onnx: CachedArtifact, cache: EngineCache, precision: str, device: str, profile: BatchProfile = BatchProfile()
) -> TensorRtTower:
    """The engine for this ONNX export from `cache` (built only when absent, changed or corrupt), ready to run."""
    import torch

    require_cuda(device)
    capability = torch.cuda.get_device_capability(torch.device(device))
    key = engine_key(onnx.sha256, import_tensorrt().__version__, capability, precision, profile)
    engine = cache.load_or_build(f"video_tower_{precision}", key,
                                 lambda path: build_engine(onnx.path, path, precision, profile), deserialize_engine)
    return TensorRtTower(engine.value, device, engine.path)
