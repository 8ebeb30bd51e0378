"""Projectors from encoder features into the LLM's embedding space, run in float32 as the official code does.

`mlp2x_gelu` (the released video projector): Linear(in, out) -> GELU (exact erf form) -> Linear(out, out), keys
`0.weight 0.bias 2.weight 2.bias`. `linear`: one Linear(in, out), keys `weight bias` (the motion projector,
Linear(512, 4096) in the paper, whose weights were never released).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .errors import ModelError
from .llm import check_shapes

PROJECTOR_KINDS = ("mlp2x_gelu", "linear")


@dataclass(frozen=True)
class ProjectorSpec:
    kind: str  # one of PROJECTOR_KINDS
    in_dim: int  # encoder feature width (video tower 1024, VQ-VAE latent 512)
    out_dim: int  # LLM embedding width (4096)

    def weight_shapes(self) -> dict[str, tuple[int, ...]]:
        if self.kind == "mlp2x_gelu":
            return {
                "0.weight": (self.out_dim, self.in_dim),
                "0.bias": (self.out_dim,),
                "2.weight": (self.out_dim, self.out_dim),
                "2.bias": (self.out_dim,),
            }
        if self.kind == "linear":
            return {"weight": (self.out_dim, self.in_dim), "bias": (self.out_dim,)}
        raise ModelError(f"unknown projector type {self.kind!r}; expected one of {PROJECTOR_KINDS}")

    def to_dict(self) -> dict:
        return {"kind": self.kind, "in_dim": self.in_dim, "out_dim": self.out_dim}


def build_projector(spec: ProjectorSpec) -> nn.Module:
    """An untrained projector whose state-dict keys are `spec.weight_shapes()`."""
    if spec.kind == "mlp2x_gelu":
        return nn.Sequential(nn.Linear(spec.in_dim, spec.out_dim), nn.GELU(), nn.Linear(spec.out_dim, spec.out_dim))
    spec.weight_shapes()  # raises for an unknown kind
    return nn.Linear(spec.in_dim, spec.out_dim)


def load_projector_state(
    state: dict[str, torch.Tensor], source: str, out_dim: int
) -> tuple[dict[str, torch.Tensor], ProjectorSpec]:
    """Recognise the projector type from its keys, check every shape, return float32 tensors and the spec."""
    kind = "mlp2x_gelu" if "0.weight" in state else "linear"
    first = state.get("0.weight" if kind == "mlp2x_gelu" else "weight")
    if first is None or first.ndim != 2:
        raise ModelError(f"{source}: not a projector state dict (keys {sorted(state)[:4]}...)")
    spec = ProjectorSpec(kind, in_dim=int(first.shape[1]), out_dim=out_dim)
    check_shapes(source, {k: tuple(v.shape) for k, v in state.items()}, spec.weight_shapes())
    return {k: v.float() for k, v in state.items()}, spec


def make_projector(spec: ProjectorSpec, state: dict[str, torch.Tensor]) -> nn.Module:
    module = build_projector(spec)
    module.load_state_dict(state, strict=True)
    return module.float().eval()
