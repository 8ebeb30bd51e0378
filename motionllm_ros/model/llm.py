"""The LLM: a transformers `LlamaForCausalLM` read from a local directory, validated before anything is loaded.

MotionLLM's LLM is Vicuna-7B v1.5 (`VICUNA_7B`). The model directory holds it in Hugging Face layout
(`config.json`, `model.safetensors`) with the LoRA already merged; `convert.py` writes it from the official
lit-gpt release and `checkpoint.make_tiny_checkpoint` writes a random tiny one.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .errors import CheckpointKeyError, ModelFileNotFoundError

WEIGHTS_FILE = "model.safetensors"


@dataclass(frozen=True)
class LlmConfig:
    """Shape of a Llama-family LLM (no biases, RMSNorm, SwiGLU MLP, rotary embeddings on the whole head)."""

    vocab_size: int = 32000
    n_embd: int = 4096
    n_layer: int = 32
    n_head: int = 32
    n_query_groups: int = 32  # key/value heads; equal to n_head for Vicuna (plain multi-head attention)
    intermediate_size: int = 11008
    norm_eps: float = 1e-5
    rope_base: float = 10000.0
    block_size: int = 4096  # context length in tokens

    @property
    def head_size(self) -> int:
        return self.n_embd // self.n_head

    @property
    def kv_embd(self) -> int:
        return self.n_query_groups * self.head_size

    def parameter_count(self) -> int:
        return sum(int(torch.Size(shape).numel()) for shape in hf_weight_shapes(self).values())

    def to_llama_config(self, dtype: torch.dtype = torch.float32):
        from transformers import LlamaConfig

        return LlamaConfig(
            vocab_size=self.vocab_size,
            hidden_size=self.n_embd,
            intermediate_size=self.intermediate_size,
            num_hidden_layers=self.n_layer,
            num_attention_heads=self.n_head,
            num_key_value_heads=self.n_query_groups,
            max_position_embeddings=self.block_size,
            rms_norm_eps=self.norm_eps,
            rope_theta=self.rope_base,
            tie_word_embeddings=False,
            attention_bias=False,
            mlp_bias=False,
            bos_token_id=1,
            eos_token_id=2,
            dtype=dtype,
        )

    def to_dict(self) -> dict:
        return asdict(self)


VICUNA_7B = LlmConfig()


def hf_weight_shapes(config: LlmConfig) -> dict[str, tuple[int, ...]]:
    """Every tensor of the Hugging Face Llama state dict with its shape; the loader requires exactly these."""
    c = config
    shapes: dict[str, tuple[int, ...]] = {
        "model.embed_tokens.weight": (c.vocab_size, c.n_embd),
        "model.norm.weight": (c.n_embd,),
        "lm_head.weight": (c.vocab_size, c.n_embd),
    }
    for i in range(c.n_layer):
        p = f"model.layers.{i}."
        shapes[p + "input_layernorm.weight"] = (c.n_embd,)
        shapes[p + "post_attention_layernorm.weight"] = (c.n_embd,)
        shapes[p + "self_attn.q_proj.weight"] = (c.n_embd, c.n_embd)
        shapes[p + "self_attn.k_proj.weight"] = (c.kv_embd, c.n_embd)
        shapes[p + "self_attn.v_proj.weight"] = (c.kv_embd, c.n_embd)
        shapes[p + "self_attn.o_proj.weight"] = (c.n_embd, c.n_embd)
        shapes[p + "mlp.gate_proj.weight"] = (c.intermediate_size, c.n_embd)
        shapes[p + "mlp.up_proj.weight"] = (c.intermediate_size, c.n_embd)
        shapes[p + "mlp.down_proj.weight"] = (c.n_embd, c.intermediate_size)
    return shapes


def check_shapes(source: str, actual: dict[str, tuple[int, ...]], expected: dict[str, tuple[int, ...]]) -> None:
    """Raise CheckpointKeyError for the first missing, unexpected or wrongly shaped key (sorted, so repeatable)."""
    for key in sorted(expected):
        if key not in actual:
            raise CheckpointKeyError(source, key, f"shape {expected[key]}", "missing")
        if tuple(actual[key]) != tuple(expected[key]):
            raise CheckpointKeyError(source, key, f"shape {expected[key]}", f"shape {tuple(actual[key])}")
    for key in sorted(actual):
        if key not in expected:
            raise CheckpointKeyError(source, key, "no such key", f"shape {tuple(actual[key])}")


def safetensors_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """Shapes from the file header only: validating a 13 GB file costs no memory."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as handle:
        return {key: tuple(handle.get_slice(key).get_shape()) for key in handle.keys()}  # noqa: SIM118 - not a dict


def load_llm(directory: Path, config: LlmConfig, dtype: torch.dtype, device: str = "cpu"):
    """A `LlamaForCausalLM` in eval mode from `directory` (config.json + model.safetensors), validated first."""
    from transformers import LlamaForCausalLM
    from transformers.utils import logging

    logging.disable_progress_bar()  # a bar per load would flood the node's log
    weights = directory / WEIGHTS_FILE
    if not weights.is_file():
        raise ModelFileNotFoundError(f"LLM weights not found: {weights} (write them with `motionllm convert`)")
    check_shapes(str(weights), safetensors_shapes(weights), hf_weight_shapes(config))
    model = LlamaForCausalLM.from_pretrained(
        str(directory), local_files_only=True, dtype=dtype, attn_implementation="sdpa"
    )
    return model.to(device).eval()
