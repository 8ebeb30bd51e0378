"""Memory options: int8 weights through torchao, the video-token budget, and the memory report's arithmetic."""

from __future__ import annotations

import pytest
import torch

from motionllm_ros.model.checkpoint import (
    LlmConfig,
    load_model_dir,
    make_tiny_checkpoint,
    read_manifest,
)
from motionllm_ros.model.errors import ModelError
from motionllm_ros.model.generate import Generator, SamplingConfig
from motionllm_ros.model.llm import VICUNA_7B
from motionllm_ros.model.memory import (
    MEMORY_OPTIONS,
    QuantisationUnavailableError,
    computed_kv_bytes_per_token,
    computed_weight_bytes,
    llm_weight_bytes,
    memory_report,
    pool_video_tokens,
    quantize_llm,
    tensor_bytes,
)
from motionllm_ros.model.prompt import video_prompt

OPTIONS = {option.name: option for option in MEMORY_OPTIONS}
# int8 per-row weights on a random tiny model: measured max |logit difference| is 2.8% of the largest |logit|.
INT8_LOGIT_TOLERANCE = 0.05  # fraction of the float32 model's largest |logit|


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return make_tiny_checkpoint(tmp_path_factory.mktemp("memory") / "tiny")


@pytest.fixture(scope="module")
def report(model_dir):
    return memory_report(model_dir)


def _prompt_and_video(model):
    prompt = video_prompt(model.tokenizer, "What is the person doing?")
    clip = torch.randn(48, 32, generator=torch.Generator().manual_seed(0))  # tower features, tiny width 32
    with torch.inference_mode():
        return prompt, {"video": model.video_projector(clip)}


def _logits(model, prompt, features) -> torch.Tensor:
    # The same token ids and embeddings for both models: the prefix ids then the projected video rows.
    ids = torch.tensor([prompt.prefix_ids])
    with torch.inference_mode():
        embeds = model.llm.get_input_embeddings()(ids)
        sequence = torch.cat([embeds, features["video"][None].to(model.dtype)], dim=1)
        return model.llm(inputs_embeds=sequence, use_cache=False).logits.float()


def test_int8_model_generates_and_stays_close_to_float32(model_dir):
    pytest.importorskip("torchao")
    reference = load_model_dir(model_dir, dtype="float32")
    quantised = quantize_llm(load_model_dir(model_dir, dtype="float32"), "int8")
    q_proj = quantised.llm.model.layers[0].self_attn.q_proj.weight
    assert tensor_bytes(q_proj) < q_proj.numel() * 4 / 3  # int8 data + per-row scales, not float32

    prompt, features = _prompt_and_video(reference)
    expected, actual = _logits(reference, prompt, features), _logits(quantised, prompt, features)
    assert (actual - expected).abs().max() <= INT8_LOGIT_TOLERANCE * expected.abs().max()

    result = Generator(quantised).generate(prompt, features, SamplingConfig(max_new_tokens=6, stop_at_eos=False))
    assert len(result.token_ids) == 6
    assert all(0 <= t < quantised.config.vocab_size for t in result.token_ids)


def test_quantisation_modes_are_checked(model_dir):
    model = load_model_dir(model_dir)
    assert quantize_llm(model, "none") is model
    with pytest.raises(ModelError, match="int3"):
        quantize_llm(model, "int3")
    with pytest.raises(QuantisationUnavailableError, match="CUDA"):
        quantize_llm(model, "int4")  # the model is on the CPU


def test_pooling_a_constant_grid_gives_the_constant():
    features = torch.full((8, 256, 5), 0.75)
    for budget in (256, 64, 16):
        pooled = pool_video_tokens(features, budget)
        assert pooled.shape == (8, budget, 5)
        assert torch.equal(pooled, torch.full((8, budget, 5), 0.75))


def test_pooling_averages_row_major_blocks():
    features = torch.randn(2, 256, 3, generator=torch.Generator().manual_seed(1))
    pooled = pool_video_tokens(features, 64)
    # Pooled token (row 1, col 2) of the 8x8 grid averages patches (rows 2-3, cols 4-5) of the 16x16 grid.
    block = features[:, [2 * 16 + 4, 2 * 16 + 5, 3 * 16 + 4, 3 * 16 + 5]].mean(dim=1)
    torch.testing.assert_close(pooled[:, 1 * 8 + 2], block)
    sixteen = pool_video_tokens(features, 16)
    corner = features[:, [r * 16 + c for r in range(4) for c in range(4)]].mean(dim=1)
    torch.testing.assert_close(sixteen[:, 0], corner)


@pytest.mark.parametrize(("shape", "budget", "message"), [
    ((8, 256), 64, "frames, patches, hidden"),
    ((8, 250, 4), 64, "not a square"),
    ((8, 256, 4), 32, "budget 32"),
    ((8, 256, 4), 9, "budget 9"),
])
def test_pooling_rejects_bad_input(shape, budget, message):
    with pytest.raises(ModelError, match=message):
        pool_video_tokens(torch.zeros(shape), budget)


def test_measured_weight_bytes_match_the_layer_shapes(report, model_dir):
    config = LlmConfig(**read_manifest(model_dir)["llm"])
    measured = report["measured"]
    assert set(measured) >= {"float32", "bfloat16", "float16"}
    buffers = sum(tensor_bytes(b) for b in load_model_dir(model_dir).llm.buffers())  # rotary tables, float32
    for name, row in measured.items():
        assert row["weight_bytes"] - buffers == computed_weight_bytes(config, OPTIONS[name])
        assert row["kv_cache_bytes_per_token"] == computed_kv_bytes_per_token(config, OPTIONS[name])
        assert row["kv_cache_bytes_2200_tokens"] == 2200 * row["kv_cache_bytes_per_token"]
    assert measured["bfloat16"]["weight_bytes"] - buffers == (measured["float32"]["weight_bytes"] - buffers) // 2
    if "int8" in measured:
        assert measured["int8"]["weight_bytes"] < measured["bfloat16"]["weight_bytes"]
    assert "CUDA" in report["unavailable"]["int4"]


def test_llm_weight_bytes_of_a_quantised_model(model_dir):
    pytest.importorskip("torchao")
    model = quantize_llm(load_model_dir(model_dir, dtype="bfloat16"), "int8")
    config = model.config
    buffers = sum(tensor_bytes(b) for b in model.llm.buffers())
    assert llm_weight_bytes(model) - buffers == computed_weight_bytes(config, OPTIONS["int8"])


def test_vicuna_7b_computed_column_matches_published_sizes(report):
    vicuna = report["vicuna_7b_computed_not_measured"]
    # Llama-2-7B / Vicuna-7B v1.5: 6,738,415,616 parameters; 2 bytes each in fp16/bf16.
    assert vicuna["bfloat16"]["weight_bytes"] == 2 * 6_738_415_616 == 2 * VICUNA_7B.parameter_count()
    assert vicuna["float32"]["weight_bytes"] == 2 * vicuna["bfloat16"]["weight_bytes"]
    # int8: a quarter of float32 for the Linear layers plus per-row scales; the bf16 embedding adds ~1 %.
    assert 0.25 < vicuna["int8"]["weight_bytes"] / vicuna["float32"]["weight_bytes"] < 0.26
    assert 0.125 < vicuna["int4"]["weight_bytes"] / vicuna["float32"]["weight_bytes"] < 0.15
    # 2 (K and V) x 32 layers x 4096 x 2 bytes = 512 KiB per token in half precision.
    assert vicuna["float16"]["kv_cache_bytes_per_token"] == 512 * 1024
    assert report["video_tokens_per_window"] == {256: 2048, 64: 512, 16: 128}
