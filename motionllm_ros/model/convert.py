"""Conversion of the official MotionLLM release (lit-gpt format) into our model directory.

Release files: `lit_model.pth` (Vicuna-7B v1.5 in lit-gpt layout, bf16), the LoRA `.pth` (only `lora_A`/`lora_B`
of every fused QKV layer), the video projector `.pth` (keys `0.weight 0.bias 2.weight 2.bias`) and Vicuna's
`tokenizer.model`. lit-gpt stores q, k and v in one weight whose rows are grouped per key/value head
(`[q heads of group g, k_g, v_g]` for g = 0, 1, ...); rotary embeddings use the same rotate-half convention as
transformers' Llama, so after the per-head split no row permutation is needed.

Any Llama-family lit-gpt checkpoint converts, given its head count: lit-gpt's `lit_model.pth` does not record it,
and with plain multi-head attention no tensor shape reveals it (the fused QKV has 3 x n_embd rows for any count),
so a wrong `n_head` cannot be detected and gives a wrong model. What the shapes do tell is checked: n_embd must
split into the heads, the fused QKV's rows give the key/value head count (grouped-query attention), the LoRA's
lora_A rows give its rank. The LoRA's alpha is in no tensor (the release's: 16).
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch

from .errors import CheckpointKeyError, ModelError, ModelFileNotFoundError
from .llm import LlmConfig, check_shapes
from .lora import MOTIONLLM_LORA, LoraSpec, lora_part_sizes, merge_fused_lora

LORA_KEYS = ("lora_A", "lora_B")


def lit_weight_shapes(config: LlmConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor of a lit-gpt Llama checkpoint (`lit_model.pth`) with its shape."""
    c = config
    shapes: dict[str, tuple[int, ...]] = {
        "transformer.wte.weight": (c.vocab_size, c.n_embd),
        "transformer.ln_f.weight": (c.n_embd,),
        "lm_head.weight": (c.vocab_size, c.n_embd),
    }
    for i in range(c.n_layer):
        p = f"transformer.h.{i}."
        shapes[p + "norm_1.weight"] = (c.n_embd,)
        shapes[p + "norm_2.weight"] = (c.n_embd,)
        shapes[p + "attn.attn.weight"] = (c.n_embd + 2 * c.kv_embd, c.n_embd)
        shapes[p + "attn.proj.weight"] = (c.n_embd, c.n_embd)
        shapes[p + "mlp.fc_1.weight"] = (c.intermediate_size, c.n_embd)
        shapes[p + "mlp.fc_2.weight"] = (c.intermediate_size, c.n_embd)
        shapes[p + "mlp.proj.weight"] = (c.n_embd, c.intermediate_size)
    return shapes


def lora_weight_shapes(config: LlmConfig, spec: LoraSpec) -> dict[str, tuple[int, ...]]:
    """The tensors of the release's LoRA file: one (lora_A, lora_B) pair per layer's fused QKV weight."""
    n_parts = sum(spec.enabled)
    rows_b = sum(lora_part_sizes(spec, config.n_embd, config.kv_embd))
    shapes: dict[str, tuple[int, ...]] = {}
    for i in range(config.n_layer):
        shapes[f"transformer.h.{i}.attn.attn.lora_A"] = (spec.r * n_parts, config.n_embd)
        shapes[f"transformer.h.{i}.attn.attn.lora_B"] = (rows_b, spec.r)
    return shapes


def infer_llm_config(lit_state: dict[str, torch.Tensor], source: str, n_head: int,
                     n_query_groups: int | None = None) -> LlmConfig:
    """Sizes from the tensors themselves, `n_head` given (no shape shows it); `n_query_groups` (key/value heads)
    is read from the fused QKV's rows, and checked against the value given, if any."""
    fused_key = "transformer.h.0.attn.attn.weight"
    for key in ("transformer.wte.weight", "transformer.h.0.mlp.fc_1.weight", fused_key):
        if key not in lit_state:
            raise CheckpointKeyError(source, key, "a tensor", "missing")
    vocab_size, n_embd = lit_state["transformer.wte.weight"].shape
    n_layer = 1 + max(int(key.split(".")[2]) for key in lit_state if key.startswith("transformer.h."))
    if n_head < 1 or n_embd % n_head:
        raise ModelError(f"{source}: n_embd {n_embd} is not divisible by --n-head {n_head}")
    head_size = n_embd // n_head
    fused_rows = int(lit_state[fused_key].shape[0])  # n_embd + 2 * key/value heads * head_size
    kv_embd, odd = divmod(fused_rows - n_embd, 2)
    if odd or kv_embd <= 0 or kv_embd % head_size or n_head % (kv_embd // head_size):
        raise ModelError(f"{source}: its fused QKV weight has {fused_rows} rows for n_embd {n_embd}, which no "
                         f"key/value head count fits with --n-head {n_head} (heads of {head_size})")
    groups = kv_embd // head_size
    if n_query_groups is not None and n_query_groups != groups:
        raise ModelError(f"{source}: --n-query-groups {n_query_groups}, but its fused QKV weight ({fused_rows} rows) "
                         f"holds {groups} key/value heads of {head_size} with --n-head {n_head}")
    return LlmConfig(
        vocab_size=int(vocab_size),
        n_embd=int(n_embd),
        n_layer=n_layer,
        n_head=n_head,
        n_query_groups=groups,
        intermediate_size=int(lit_state["transformer.h.0.mlp.fc_1.weight"].shape[0]),
    )


def infer_lora_spec(lora_state: dict[str, torch.Tensor], source: str, r: int | None = None,
                    alpha: float = MOTIONLLM_LORA.alpha) -> LoraSpec:
    """The release's LoRA layout (query and value ranges of the fused QKV) with its rank read from lora_A's rows
    (r per enabled part), checked against `r` when given; `alpha` is in no tensor."""
    key = "transformer.h.0.attn.attn.lora_A"
    if key not in lora_state:
        raise CheckpointKeyError(source, key, "a tensor", "missing")
    rows = int(lora_state[key].shape[0])
    parts = sum(MOTIONLLM_LORA.enabled)
    if rows % parts or (r is not None and r * parts != rows):
        given = f"--lora-r {r}, but " if r is not None else ""
        raise ModelError(f"{source}: {given}its {key} has {rows} rows; a LoRA on query and value has 2 x r")
    if not alpha > 0:
        raise ModelError(f"--lora-alpha must be positive, got {alpha}")
    return replace(MOTIONLLM_LORA, r=rows // parts, alpha=float(alpha))


def split_fused_qkv(fused: torch.Tensor, config: LlmConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """lit-gpt's per-group interleaved (q..., k, v) rows -> q_proj, k_proj, v_proj weights."""
    q_per_kv = config.n_head // config.n_query_groups
    grouped = fused.reshape(config.n_query_groups, q_per_kv + 2, config.head_size, config.n_embd)
    q = grouped[:, :q_per_kv].reshape(config.n_embd, config.n_embd)
    k = grouped[:, q_per_kv].reshape(config.kv_embd, config.n_embd)
    v = grouped[:, q_per_kv + 1].reshape(config.kv_embd, config.n_embd)
    return q.contiguous(), k.contiguous(), v.contiguous()


def lit_to_hf_state_dict(
    lit_state: dict[str, torch.Tensor],
    config: LlmConfig,
    lora_state: dict[str, torch.Tensor] | None = None,
    spec: LoraSpec | None = None,
    lit_source: str = "lit_model.pth",
    lora_source: str = "LoRA checkpoint",
) -> dict[str, torch.Tensor]:
    """The Hugging Face Llama state dict, LoRA merged in the fused space; every key and shape checked first."""
    check_shapes(lit_source, {k: tuple(v.shape) for k, v in lit_state.items()}, lit_weight_shapes(config))
    if lora_state is not None:
        if spec is None:
            raise ModelError("a LoRA checkpoint needs its LoraSpec (r, alpha, targets)")
        check_shapes(lora_source, {k: tuple(v.shape) for k, v in lora_state.items()}, lora_weight_shapes(config, spec))
    hf: dict[str, torch.Tensor] = {
        "model.embed_tokens.weight": lit_state["transformer.wte.weight"],
        "model.norm.weight": lit_state["transformer.ln_f.weight"],
        "lm_head.weight": lit_state["lm_head.weight"],
    }
    for i in range(config.n_layer):
        lit, out = f"transformer.h.{i}.", f"model.layers.{i}."
        fused = lit_state[lit + "attn.attn.weight"]
        if lora_state is not None and spec is not None:
            fused = merge_fused_lora(
                fused, lora_state[lit + "attn.attn.lora_A"], lora_state[lit + "attn.attn.lora_B"], spec, config.kv_embd
            )
        q, k, v = split_fused_qkv(fused, config)
        hf[out + "self_attn.q_proj.weight"] = q
        hf[out + "self_attn.k_proj.weight"] = k
        hf[out + "self_attn.v_proj.weight"] = v
        hf[out + "self_attn.o_proj.weight"] = lit_state[lit + "attn.proj.weight"]
        hf[out + "input_layernorm.weight"] = lit_state[lit + "norm_1.weight"]
        hf[out + "post_attention_layernorm.weight"] = lit_state[lit + "norm_2.weight"]
        hf[out + "mlp.gate_proj.weight"] = lit_state[lit + "mlp.fc_1.weight"]
        hf[out + "mlp.up_proj.weight"] = lit_state[lit + "mlp.fc_2.weight"]
        hf[out + "mlp.down_proj.weight"] = lit_state[lit + "mlp.proj.weight"]
    return hf


def load_torch_state(path: Path, what: str) -> dict[str, torch.Tensor]:
    """A flat tensor dict from a `.pth` (weights only; lit-gpt's `{"model": ...}` wrapper is unwrapped)."""
    if not path.is_file():
        raise ModelFileNotFoundError(f"{what} not found: {path} (from the official MotionLLM / Vicuna release)")
    state = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
    if isinstance(state, dict) and set(state) == {"model"} and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelError(f"{what} {path}: expected a dict of tensors")
    return state


def convert_release(
    lit_model: Path,
    lora: Path,
    video_projector: Path,
    tokenizer: Path,
    out_dir: Path,
    n_head: int = 32,
    n_query_groups: int | None = None,
    lora_r: int | None = None,
    lora_alpha: float = MOTIONLLM_LORA.alpha,
    dtype: torch.dtype = torch.bfloat16,
    video_tower: Path | None = None,
) -> Path:
    """`motionllm convert`: the official release -> one model directory that `checkpoint.load_model_dir` reads.

    Defaults are the release's (Vicuna-7B: 32 heads; LoRA alpha 16); `n_query_groups` and `lora_r` default to
    what the tensors hold and are checked against them when given.

    `video_tower` (a CLIP vision model or LanguageBind_Video_merge directory) is recorded in the manifest by
    absolute path, not copied, with its kind as its files show it (`video_tower_kind`, see towers.py).
    """
    from .checkpoint import write_model_dir
    from .projectors import load_projector_state
    from .towers import detect_tower_kind

    if not tokenizer.is_file():
        raise ModelFileNotFoundError(f"tokenizer not found: {tokenizer} (Vicuna-7B v1.5's tokenizer.model)")
    # Before the multi-GB LLM is read: a wrong tower directory fails at once.
    tower_kind = None if video_tower is None else detect_tower_kind(video_tower)
    lit_state = load_torch_state(lit_model, "LLM checkpoint")
    config = infer_llm_config(lit_state, str(lit_model), n_head, n_query_groups)
    lora_state = load_torch_state(lora, "LoRA checkpoint")
    lora_spec = infer_lora_spec(lora_state, str(lora), lora_r, lora_alpha)
    projector_state, projector_spec = load_projector_state(load_torch_state(video_projector, "video projector"),
                                                          str(video_projector), out_dim=config.n_embd)
    hf_state = lit_to_hf_state_dict(lit_state, config, lora_state, lora_spec, str(lit_model), str(lora))
    return write_model_dir(
        out_dir,
        config,
        {k: v.to(dtype) for k, v in hf_state.items()},
        tokenizer,
        video_projector=(projector_spec, projector_state),
        random_weights=False,
        video_tower=None if video_tower is None else str(Path(video_tower).resolve()),
        video_tower_kind=tower_kind,
        source={"lit_model": str(lit_model), "lora": str(lora), "video_projector": str(video_projector),
                "lora_spec": {"r": lora_spec.r, "alpha": lora_spec.alpha, "enabled": list(lora_spec.enabled)}},
    )
