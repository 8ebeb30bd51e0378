"""The LoRA of the official MotionLLM release, merged exactly as it was trained.

The release was trained with lit-gpt's `LoRAQKVLinear` on the fused attention weight `attn.attn.weight`, whose
rows are interleaved per head group: [q heads of group 0, k of group 0, v of group 0, q of group 1, ...]. That layer
does not follow the interleaving: it adds the "query" update to the *contiguous* rows [0, n_embd) and the "value"
update to the contiguous rows [n_embd + kv_size, out_features) of the fused weight. With 32 heads those ranges
cover q, k and v rows of the first ~11 and last ~11 heads and nothing of the heads in between, so mapping the
release onto `q_proj`/`v_proj` changes a different function. We reproduce the trained function: build the update
in the fused space exactly as lit-gpt does, merge it there, and only then split the merged weight per head.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LoraSpec:
    """Hyper-parameters of the fused-QKV LoRA (MotionLLM: r=64, alpha=16, on query and value)."""

    r: int = 64
    alpha: float = 16.0
    to_query: bool = True
    to_key: bool = False
    to_value: bool = True

    @property
    def scaling(self) -> float:
        return self.alpha / self.r

    @property
    def enabled(self) -> tuple[bool, bool, bool]:
        return (self.to_query, self.to_key, self.to_value)


MOTIONLLM_LORA = LoraSpec()  # the release: r=64, alpha=16 on the fused QKV's "query" and "value" ranges


def lora_part_sizes(spec: LoraSpec, n_embd: int, kv_embd: int) -> list[int]:
    """Rows of lora_B per enabled part, in lit-gpt's order (query part n_embd rows, key/value parts kv_embd)."""
    sizes = (n_embd, kv_embd, kv_embd)
    return [size for size, enabled in zip(sizes, spec.enabled) if enabled]


def lora_row_indices(spec: LoraSpec, n_embd: int, kv_embd: int) -> torch.Tensor:
    """Rows of the fused QKV weight that lit-gpt's update lands on: contiguous ranges, not the per-head rows."""
    out_features = n_embd + 2 * kv_embd
    ranges = (range(n_embd), range(n_embd, n_embd + kv_embd), range(n_embd + kv_embd, out_features))
    rows = [index for part, enabled in zip(ranges, spec.enabled) if enabled for index in part]
    return torch.tensor(rows, dtype=torch.long)


def fused_lora_delta(
    lora_a: torch.Tensor,  # (r * n_enabled, n_embd)
    lora_b: torch.Tensor,  # (sum of part sizes, r)
    spec: LoraSpec,
    n_embd: int,
    kv_embd: int,
) -> torch.Tensor:
    """The scaled weight update of the fused QKV weight, (n_embd + 2 kv_embd, n_embd), computed in float32.

    Part i of the update is B_i @ A_i with A_i the i-th block of r rows of lora_A and B_i the i-th block of
    lora_B rows (lit-gpt's grouped conv1d); the parts are stacked and written to `lora_row_indices`.
    """
    sizes = lora_part_sizes(spec, n_embd, kv_embd)
    a_parts = lora_a.float().split(spec.r, dim=0)
    b_parts = lora_b.float().split(sizes, dim=0)
    stacked = torch.cat([b @ a for a, b in zip(a_parts, b_parts)], dim=0)
    delta = torch.zeros(n_embd + 2 * kv_embd, n_embd, dtype=torch.float32)
    delta[lora_row_indices(spec, n_embd, kv_embd)] = stacked * spec.scaling
    return delta


def merge_fused_lora(
    fused_weight: torch.Tensor,  # (n_embd + 2 kv_embd, n_embd)
    lora_a: torch.Tensor,
    lora_b: torch.Tensor,
    spec: LoraSpec,
    kv_embd: int,
) -> torch.Tensor:
    """W + delta in float32 (bf16 weights would lose most of a small update), returned in the weight's dtype."""
    n_embd = fused_weight.shape[1]
    merged = fused_weight.float() + fused_lora_delta(lora_a, lora_b, spec, n_embd, kv_embd)
    return merged.to(fused_weight.dtype)
