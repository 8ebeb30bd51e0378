"""Pick the video tower backend: the configured one, else the next that can run here, in a fixed order.

Fallback order: tensorrt -> onnxruntime -> torch. Asking for `onnxruntime` never tries TensorRT; `auto` starts at
`tensorrt`. Each backend that cannot run (package missing, no CUDA device, no CUDA provider) is skipped with a
message that says why and what to install; a broken model file is an error, not a reason to fall back.

The tower's kind (model/towers.py) comes from its files. A `languagebind` tower (temporal attention across the
clip's 8 frames) runs on onnxruntime (a fixed 8-frame export) and torch; TensorRT is skipped for it with a warning,
since its engines are built and run over a dynamic batch of independent frames.

Config keys this maps onto: `video.backend` (auto | tensorrt | onnxruntime | torch), `video.engine_cache_dir`,
`video.precision` (fp32 | fp16), and the global `device`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from motionllm_ros.model.errors import ModelError
from motionllm_ros.model.towers import LANGUAGEBIND, detect_tower_kind, open_torch_tower

from .engine_cache import EngineCache
from .onnx_export import BackendUnavailableError, cached_onnx
from .tensorrt_backend import (
    PRECISIONS,
    import_tensorrt,
    load_tensorrt_tower,
    require_cuda,
)

LOG = logging.getLogger("motionllm.encoders")
BACKENDS = ("tensorrt", "onnxruntime", "torch")  # the fallback order
BACKEND_CHOICES = ("auto", *BACKENDS)


@dataclass(frozen=True)
class SelectedBackend:
    name: str  # the backend that runs
    # kind "clip": encode_frames((N, 3, 224, 224)) -> (N, patches, hidden); kind "languagebind":
    # encode_clip((8, 3, 224, 224)) -> (8, patches, hidden); both: kind, hidden_size, patches_per_frame
    tower: Any
    skipped: tuple[str, ...]  # one message per backend tried before it, saying why it could not run


def select_backend(
    name: str, tower_dir: str | Path, cache_dir: str | Path, precision: str = "fp32", device: str = "cpu"
) -> SelectedBackend:
    """The first backend from `name` on (in BACKENDS order) that runs here; BackendUnavailableError if none does."""
    if name not in BACKEND_CHOICES:
        raise ModelError(f"unknown video backend {name!r}; expected one of {BACKEND_CHOICES}")
    _check_precision(precision)
    kind = detect_tower_kind(tower_dir)  # a broken tower directory is an error here, not a fallback
    # An explicit choice that falls back deserves a warning; `auto` skipping TensorRT on a laptop does not.
    level = logging.INFO if name == "auto" else logging.WARNING
    candidates = BACKENDS if name == "auto" else BACKENDS[BACKENDS.index(name):]
    skipped: list[str] = []
    for candidate in candidates:
        try:
            tower = _open(candidate, kind, Path(tower_dir), EngineCache(cache_dir), precision, device)
        except BackendUnavailableError as error:
            skipped.append(str(error))
            # The joint tower on TensorRT is a missing feature, not a missing package: always worth a warning.
            unsupported = candidate == "tensorrt" and kind == LANGUAGEBIND
            LOG.log(logging.WARNING if unsupported else level, "video backend %s unavailable: %s", candidate, error)
            continue
        runs = running_precision(candidate, precision, device)
        note = "" if runs == precision else f"; video.precision {precision} applies to tensorrt and torch on CUDA"
        LOG.info("video backend: %s (%s, %s%s)", candidate, device, runs, note)
        return SelectedBackend(candidate, tower, tuple(skipped))
    raise BackendUnavailableError("no video backend can run here:\n  " + "\n  ".join(skipped))


def running_precision(backend: str, precision: str, device: str) -> str:
    """What `backend` really computes in: onnxruntime runs the fp32 export; torch uses fp16 on CUDA only."""
    if backend == "onnxruntime" or (backend == "torch" and not device.startswith("cuda")):
        return "fp32"
    return precision


def _open(backend: str, kind: str, tower_dir: Path, cache: EngineCache, precision: str, device: str):
    if backend == "tensorrt":
        _require_per_frame_tower(kind, tower_dir)
        require_cuda(device)
        import_tensorrt()  # before the export: a missing TensorRT should not cost an ONNX export
        return load_tensorrt_tower(cached_onnx(tower_dir, cache), cache, precision, device)
    if backend == "onnxruntime":
        from .onnxruntime_backend import (
            OnnxRuntimeJointTower,
            OnnxRuntimeTower,
            providers_for,
        )

        providers_for(device)  # before the export, for the same reason
        tower_class = OnnxRuntimeJointTower if kind == LANGUAGEBIND else OnnxRuntimeTower
        return tower_class(cached_onnx(tower_dir, cache).path, device)
    return _torch_tower(kind, tower_dir, precision, device)


def _require_per_frame_tower(kind: str, tower_dir: Path) -> None:
    if kind == LANGUAGEBIND:
        raise BackendUnavailableError(
            f"tensorrt: engines are built for per-frame CLIP towers only; {tower_dir} is a LanguageBind tower "
            "(temporal attention across the clip's frames), which runs on onnxruntime or torch")


def _torch_tower(kind: str, tower_dir: Path, precision: str, device: str):
    import torch

    if device.startswith("cuda") and not torch.cuda.is_available():
        raise BackendUnavailableError(f"torch: device {device!r} requested, but torch sees no CUDA device")
    dtype = torch.float16 if running_precision("torch", precision, device) == "fp16" else torch.float32
    return open_torch_tower(tower_dir, kind, device=device, dtype=dtype)


def build_engine_cli(
    tower_dir: str | Path, cache_dir: str | Path, precision: str = "fp16", device: str = "cuda"
) -> Path:
    """`motionllm build-engine`: prebuild (or verify) the TensorRT engine in the cache; returns the engine file."""
    _check_precision(precision)
    _require_per_frame_tower(detect_tower_kind(tower_dir), Path(tower_dir))
    import_tensorrt()
    require_cuda(device)
    cache = EngineCache(cache_dir)
    return load_tensorrt_tower(cached_onnx(tower_dir, cache), cache, precision, device).engine_path


def _check_precision(precision: str) -> None:
    if precision not in PRECISIONS:
        raise ModelError(f"unknown video precision {precision!r}; expected one of {PRECISIONS}")
