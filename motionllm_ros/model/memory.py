"""Memory options for small devices: weight-only quantisation, a video-token budget, and what each option costs.

Quantisation goes through torchao (PyTorch's own quantisation library): its int8 weight-only path is plain PyTorch
(no custom kernel), so it runs on CPU and on any CUDA GPU, Jetson included; it quantises a loaded
`LlamaForCausalLM` in place without changing the model class. bitsandbytes was not chosen because its int8/4-bit
layers are built for desktop CUDA (no CPU path we can test, source builds on Jetson). torchao's packed int4 layout
(`Int4WeightOnlyConfig`) needs CUDA and the `mslk` kernel package; on CPU torchao keeps 4-bit values unpacked in
int8 bytes, which saves nothing over int8, so int4 is refused on CPU instead of pretending.

The video-token budget pools each frame's 16x16 patch grid before the projector (2x2 -> 64 tokens, 4x4 -> 16). It is
off by default (256): the released MotionLLM weights were trained on all 256 tokens per frame, so pooling trades
answer quality for prefill time and KV-cache memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch

from .checkpoint import MotionLlm, load_model_dir
from .errors import ModelError
from .llm import VICUNA_7B, LlmConfig, hf_weight_shapes
from .video_tower import FRAMES_PER_CLIP

QUANTISATION_MODES = ("none", "int8", "int4")
TOKEN_BUDGETS = (256, 64, 16)  # video tokens per frame; 256 is what the released weights were trained with
REPORT_CONTEXT = 2200  # tokens: MotionLLM's prompt with 8 x 256 video tokens, rounded up
INT4_GROUP_SIZE = 128  # weights sharing one scale and zero point in torchao's packed int4 layout


class QuantisationUnavailableError(ModelError):
    """The requested quantisation mode cannot run here (library or device missing); the message says what is."""


def quantize_llm(model: MotionLlm, mode: str) -> MotionLlm:
    """Weight-only quantisation of every Linear layer of the LLM (lm_head included), in place; returns `model`.

    mode: "none" | "int8" (per-output-row scale, CPU and CUDA) | "int4" (groups of 128, CUDA + mslk only).
    The embedding table, the norms, the activations and the KV cache stay in the model's dtype.
    """
    if mode not in QUANTISATION_MODES:
        raise ModelError(f"quantisation mode {mode!r}: expected one of {QUANTISATION_MODES}")
    if mode == "none":
        return model
    if mode == "int4" and model.device.type != "cuda":
        raise QuantisationUnavailableError(
            f"int4 weights need a CUDA device (torchao's packed int4 layout); the model is on {model.device}. "
            "Use int8 on CPU.")
    try:
        from torchao.quantization import (
            Int4WeightOnlyConfig,
            Int8WeightOnlyConfig,
            quantize_,
        )
    except ImportError as error:
        raise QuantisationUnavailableError(
            f"{mode} weights need torchao (`pip install torchao`, no dependencies: it uses the installed torch): "
            f"{error}") from error
    config = Int8WeightOnlyConfig() if mode == "int8" else Int4WeightOnlyConfig(group_size=INT4_GROUP_SIZE)
    try:
        quantize_(model.llm, config)
    except ImportError as error:  # torchao imports its int4 kernels lazily, e.g. "Requires mslk >= 1.0.0"
        raise QuantisationUnavailableError(f"{mode} weights are unavailable on {model.device}: {error}") from error
    return model


def pool_video_tokens(features: torch.Tensor, tokens_per_frame: int) -> torch.Tensor:
    """(F, P, H) per-frame patch features -> (F, tokens_per_frame, H), averaging square blocks of the patch grid.

    P must be a square grid (256 = 16x16 for CLIP ViT-L/14 at 224 px, row-major as the tower emits it) and
    tokens_per_frame a square whose side divides the grid's: 64 averages 2x2 blocks, 16 averages 4x4 blocks.
    """
    if features.ndim != 3:
        raise ModelError(f"video features: expected shape (frames, patches, hidden), got {tuple(features.shape)}")
    frames, patches, hidden = features.shape
    side = math.isqrt(patches)
    pooled_side = math.isqrt(tokens_per_frame)
    if side * side != patches:
        raise ModelError(f"video features: {patches} patches per frame is not a square grid")
    if tokens_per_frame <= 0 or pooled_side * pooled_side != tokens_per_frame or side % pooled_side:
        raise ModelError(f"video token budget {tokens_per_frame}: expected a square that divides the "
                         f"{side}x{side} patch grid, e.g. one of {TOKEN_BUDGETS} for 256 patches")
    if tokens_per_frame == patches:
        return features
    block = side // pooled_side
    grid = features.reshape(frames, side, side, hidden).permute(0, 3, 1, 2)  # (F, H, side, side)
    pooled = torch.nn.functional.avg_pool2d(grid, block)  # (F, H, pooled_side, pooled_side)
    return pooled.permute(0, 2, 3, 1).reshape(frames, tokens_per_frame, hidden)


def tensor_bytes(tensor: torch.Tensor) -> int:
    """Bytes a tensor holds; for torchao's quantised tensors, the sum of their inner tensors (data, scales, zeros).

    `element_size()` of a quantised tensor reports its logical dtype, not what is stored.
    """
    if hasattr(tensor, "__tensor_flatten__"):
        inner_names, _ = tensor.__tensor_flatten__()
        return sum(tensor_bytes(getattr(tensor, name)) for name in inner_names)
    return tensor.numel() * tensor.element_size()


def llm_weight_bytes(model: MotionLlm) -> int:
    """Parameters + buffers of the LLM, as stored (quantised weights counted with their scales and zero points)."""
    tensors = list(model.llm.parameters()) + list(model.llm.buffers())
    return sum(tensor_bytes(t) for t in tensors)


def measured_kv_bytes_per_token(model: MotionLlm, tokens: int = 8) -> int:
    """Keys + values the LLM caches per token, read from a real cache after a `tokens`-token prefill."""
    from transformers import DynamicCache

    cache = DynamicCache(config=model.llm.config)
    ids = torch.ones(1, tokens, dtype=torch.long, device=model.device)
    with torch.inference_mode():
        model.llm(input_ids=ids, cache=cache, use_cache=True, logits_to_keep=1)
    total = sum(tensor_bytes(layer.keys) + tensor_bytes(layer.values) for layer in cache.layers)
    return total // tokens


@dataclass(frozen=True)
class MemoryOption:
    name: str  # as reported: "float32", "bfloat16", "float16", "int8", "int4"
    dtype: str  # the model dtype: embeddings, norms, activations, KV cache
    quantisation: str  # QUANTISATION_MODES


MEMORY_OPTIONS = (
    MemoryOption("float32", "float32", "none"),
    MemoryOption("bfloat16", "bfloat16", "none"),
    MemoryOption("float16", "float16", "none"),
    MemoryOption("int8", "bfloat16", "int8"),
    MemoryOption("int4", "bfloat16", "int4"),
)
_DTYPE_BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


def computed_weight_bytes(config: LlmConfig, option: MemoryOption) -> int:
    """LLM weight bytes from the layer shapes, in the storage layouts torchao 0.18 uses.

    int8: 1 byte per weight + a float32 scale and an int8 zero point per output row.
    int4: half a byte per weight + a scale and a zero point in the model dtype per group of 128 weights in a row.
    Embedding and norms stay in the model dtype. Rotary-embedding buffers (a few hundred bytes) are left out.
    """
    dtype_bytes = _DTYPE_BYTES[option.dtype]
    total = 0
    for key, shape in hf_weight_shapes(config).items():
        elements = math.prod(shape)
        is_linear = key.endswith("proj.weight") or key == "lm_head.weight"
        if not is_linear or option.quantisation == "none":
            total += elements * dtype_bytes
        elif option.quantisation == "int8":
            total += elements + shape[0] * (4 + 1)
        else:
            groups = shape[0] * math.ceil(shape[1] / INT4_GROUP_SIZE)
            total += elements // 2 + groups * 2 * dtype_bytes
    return total


def kv_bytes_per_token(config: LlmConfig, bytes_per_value: int) -> int:
    """Keys and values of every layer for one token."""
    return 2 * config.n_layer * config.kv_embd * bytes_per_value


def computed_kv_bytes_per_token(config: LlmConfig, option: MemoryOption) -> int:
    """Keys and values of every layer for one token, in the model dtype."""
    return kv_bytes_per_token(config, _DTYPE_BYTES[option.dtype])


def video_tokens_per_window() -> dict[int, int]:
    """Budget (tokens per frame) -> video tokens one window puts into the prompt."""
    return {budget: FRAMES_PER_CLIP * budget for budget in TOKEN_BUDGETS}


def memory_report(model_dir: Path, device: str = "cpu", context: int = REPORT_CONTEXT) -> dict:
    """Memory of every option: measured by loading `model_dir` once per option, plus Vicuna-7B computed.

    Options this device cannot run are listed under "unavailable" with the reason.
    """
    measured, unavailable = {}, {}
    for option in MEMORY_OPTIONS:
        model = load_model_dir(Path(model_dir), dtype=option.dtype, device=device)
        try:
            quantize_llm(model, option.quantisation)
        except QuantisationUnavailableError as error:
            unavailable[option.name] = str(error)
            continue
        kv_per_token = measured_kv_bytes_per_token(model)
        measured[option.name] = {
            "dtype": option.dtype,
            "quantisation": option.quantisation,
            "weight_bytes": llm_weight_bytes(model),
            "kv_cache_bytes_per_token": kv_per_token,
            f"kv_cache_bytes_{context}_tokens": kv_per_token * context,
        }
        del model
    computed = {
        option.name: {
            "dtype": option.dtype,
            "quantisation": option.quantisation,
            "weight_bytes": computed_weight_bytes(VICUNA_7B, option),
            "kv_cache_bytes_per_token": computed_kv_bytes_per_token(VICUNA_7B, option),
            f"kv_cache_bytes_{context}_tokens": computed_kv_bytes_per_token(VICUNA_7B, option) * context,
        }
        for option in MEMORY_OPTIONS
    }
    return {
        "model_dir": str(model_dir),
        "device": device,
        "context_tokens": context,
        "measured": measured,
        "unavailable": unavailable,
        "vicuna_7b_computed_not_measured": computed,
        "video_tokens_per_window": video_tokens_per_window(),
    }

