"""Golden tests of the LLM conversion: a tiny random lit-gpt release with a LoRA, converted and loaded, must give
the logits of a reference forward written from lit-gpt's own math (fused per-head-interleaved QKV, LoRA applied
at forward time to contiguous rows through a grouped conv1d, rotate-half RoPE, RMSNorm, SwiGLU), on a sequence
with spliced video embeddings."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("sentencepiece")
F = torch.nn.functional

from motionllm_ros.model.checkpoint import (
    load_model_dir,
    make_tiny_checkpoint,
    read_manifest,
    write_tiny_release,
)
from motionllm_ros.model.convert import convert_release, lit_to_hf_state_dict, load_torch_state
from motionllm_ros.model.errors import CheckpointKeyError, ModelError, ModelFileNotFoundError
from motionllm_ros.model.llm import LlmConfig
from motionllm_ros.model.lora import LoraSpec
from motionllm_ros.cli import main


def _rms_norm(x, weight, eps):
    return weight * (x * torch.rsqrt(torch.mean(x * x, dim=-1, keepdim=True) + eps))


def _rope(x, cos, sin):
    half = x.size(-1) // 2
    rotated = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
    return x * cos + rotated * sin


def _lora_qkv(x, weight, lora_a, lora_b, spec: LoraSpec, n_embd, kv_embd):
    """lit-gpt LoRAQKVLinear.forward: pretrained + zero_pad(conv1d(x A^T, B)) * scaling."""
    pretrained = x @ weight.T
    after_a = x @ lora_a.T  # (B, T, r * n_enabled)
    rows_per_part = [size for size, on in zip((n_embd, kv_embd, kv_embd), spec.enabled) if on]
    if kv_embd == n_embd:
        after_b = F.conv1d(after_a.transpose(-2, -1), lora_b.unsqueeze(-1), groups=sum(spec.enabled))
    else:  # lit-gpt's conv1d with grouped-query attention: parts of unequal size, one conv per part
        after_b = torch.cat([F.conv1d(a, b.unsqueeze(-1)) for a, b in zip(
            after_a.transpose(-2, -1).chunk(sum(spec.enabled), dim=1), lora_b.split(rows_per_part))], dim=1)
    after_b = after_b.transpose(-2, -1)
    rows = []
    if spec.to_query:
        rows += range(n_embd)
    if spec.to_key:
        rows += range(n_embd, n_embd + kv_embd)
    if spec.to_value:
        rows += range(n_embd + kv_embd, n_embd + 2 * kv_embd)
    padded = torch.zeros(*after_b.shape[:-1], n_embd + 2 * kv_embd)
    padded[..., torch.tensor(rows)] = after_b
    return pretrained + padded * spec.scaling


def lit_gpt_reference_logits(lit, lora, spec, config, inputs_embeds):
    """Full forward of lit-gpt's GPT (multi-head or grouped-query attention, non-parallel residual, no bias) on
    (1, T, C) embeddings."""
    x = inputs_embeds
    _, T, C = x.shape
    n_head, hs = config.n_head, config.head_size
    theta = 1.0 / (config.rope_base ** (torch.arange(0, hs, 2).float() / hs))
    angles = torch.outer(torch.arange(T).float(), theta).repeat(1, 2)
    cos, sin = torch.cos(angles), torch.sin(angles)
    for i in range(config.n_layer):
        p = f"transformer.h.{i}."
        n1 = _rms_norm(x, lit[p + "norm_1.weight"], config.norm_eps)
        qkv = _lora_qkv(n1, lit[p + "attn.attn.weight"], lora[p + "attn.attn.lora_A"], lora[p + "attn.attn.lora_B"],
                        spec, C, config.kv_embd)
        qkv = qkv.view(1, T, config.n_query_groups, n_head // config.n_query_groups + 2, hs).permute(0, 2, 3, 1, 4)
        q_per_kv = n_head // config.n_query_groups
        q, k, v = qkv.split((q_per_kv, 1, 1), dim=2)
        # lit-gpt's grouped-query attention: each group's k and v serve its q_per_kv query heads (group-major).
        k, v = (t.expand(1, config.n_query_groups, q_per_kv, T, hs) for t in (k, v))
        q, k, v = (t.reshape(1, n_head, T, hs) for t in (q, k, v))
        q, k = _rope(q, cos, sin), _rope(k, cos, sin)
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(hs)
        scores = scores.masked_fill(torch.triu(torch.ones(T, T, dtype=torch.bool), 1), float("-inf"))
        y = (torch.softmax(scores, dim=-1) @ v).transpose(1, 2).reshape(1, T, C)
        x = x + y @ lit[p + "attn.proj.weight"].T
        n2 = _rms_norm(x, lit[p + "norm_2.weight"], config.norm_eps)
        h = F.silu(n2 @ lit[p + "mlp.fc_1.weight"].T) * (n2 @ lit[p + "mlp.fc_2.weight"].T)
        x = x + h @ lit[p + "mlp.proj.weight"].T
    return _rms_norm(x, lit["transformer.ln_f.weight"], config.norm_eps) @ lit["lm_head.weight"].T


@pytest.fixture(scope="module")
def tiny_release(tmp_path_factory):
    return write_tiny_release(tmp_path_factory.mktemp("release"), seed=3)


@pytest.fixture(scope="module")
def converted(tiny_release, tmp_path_factory):
    config, spec, paths = tiny_release
    out = tmp_path_factory.mktemp("converted") / "model"
    convert_release(paths["lit_model"], paths["lora"], paths["video_projector"], paths["tokenizer"], out,
                    n_head=config.n_head, n_query_groups=config.n_query_groups,
                        lora_r=spec.r, lora_alpha=spec.alpha, dtype=torch.float32)
    return load_model_dir(out)


def test_converted_logits_match_lit_gpt_reference_with_spliced_video(tiny_release, converted):
    config, spec, paths = tiny_release
    lit = load_torch_state(paths["lit_model"], "lit")
    lora = load_torch_state(paths["lora"], "lora")
    generator = torch.Generator().manual_seed(7)
    ids = torch.randint(3, config.vocab_size, (1, 40), generator=generator)
    video = torch.randn(24, config.n_embd, generator=generator)
    embeds = lit["transformer.wte.weight"][ids].clone()
    embeds[0, 10:34] = video  # the official splice: embeddings overwrite placeholder positions
    reference = lit_gpt_reference_logits(lit, lora, spec, config, embeds)
    with torch.inference_mode():
        ours_embeds = converted.llm.get_input_embeddings()(ids).clone()
        ours_embeds[0, 10:34] = video
        ours = converted.llm(inputs_embeds=ours_embeds).logits
    assert ours.shape == reference.shape == (1, 40, config.vocab_size)
    assert torch.allclose(ours, reference, atol=2e-4, rtol=1e-4), float((ours - reference).abs().max())


# Not Vicuna's shape: 6 heads of 16 sharing 2 key/value heads (grouped-query attention), LoRA r 8, alpha 32.
GQA_LLM = LlmConfig(vocab_size=0, n_embd=96, n_layer=2, n_head=6, n_query_groups=2, intermediate_size=200)
GQA_LORA = LoraSpec(r=8, alpha=32.0)


@pytest.fixture(scope="module")
def gqa_release(tmp_path_factory):
    return write_tiny_release(tmp_path_factory.mktemp("gqa"), seed=5, config=GQA_LLM, lora=GQA_LORA)


def _convert_cli(paths, out, *options):
    return main(["convert", "--lit-model", str(paths["lit_model"]), "--lora", str(paths["lora"]),
                 "--video-projector", str(paths["video_projector"]), "--tokenizer", str(paths["tokenizer"]),
                 "--dtype", "float32", "--out", str(out), *options])


@pytest.mark.parametrize("options", [["--n-head", "6", "--lora-alpha", "32"],  # groups and r from the tensors
                                     ["--n-head", "6", "--n-query-groups", "2", "--lora-r", "8", "--lora-alpha", "32"]])
def test_convert_a_grouped_query_model_matches_the_lit_gpt_reference(gqa_release, tmp_path, options):
    config, spec, paths = gqa_release
    assert _convert_cli(paths, tmp_path / "model", *options) == 0
    converted = load_model_dir(tmp_path / "model")
    assert (converted.config.n_head, converted.config.n_query_groups) == (6, 2)
    lit = load_torch_state(paths["lit_model"], "lit")
    lora = load_torch_state(paths["lora"], "lora")
    ids = torch.randint(3, config.vocab_size, (1, 24), generator=torch.Generator().manual_seed(11))
    reference = lit_gpt_reference_logits(lit, lora, spec, config, lit["transformer.wte.weight"][ids])
    with torch.inference_mode():
        ours = converted.llm(input_ids=ids).logits
    assert torch.allclose(ours, reference, atol=2e-4, rtol=1e-4), float((ours - reference).abs().max())
    # The same files read as Vicuna's layout (the old fixed 32 heads, alpha 16) would be another model:
    assert _convert_cli(paths, tmp_path / "alpha16", "--n-head", "6") == 0
    with torch.inference_mode():
        other = load_model_dir(tmp_path / "alpha16").llm(input_ids=ids).logits
    assert not torch.allclose(other, reference, atol=2e-4, rtol=1e-4)


@pytest.mark.parametrize("options, message", [
    ([], "which no key/value head count fits with --n-head 32"),  # the release's default: 32 heads of 3
    (["--n-head", "5"], "n_embd 96 is not divisible by --n-head 5"),
    (["--n-head", "4"], "which no key/value head count fits with --n-head 4"),
    (["--n-head", "6", "--n-query-groups", "3"], "--n-query-groups 3, but its fused QKV weight (160 rows) holds 2"),
    (["--n-head", "6", "--lora-r", "64"], "--lora-r 64, but its transformer.h.0.attn.attn.lora_A has 16 rows"),
])
def test_convert_options_are_checked_against_the_tensors(gqa_release, tmp_path, capsys, options, message):
    _, _, paths = gqa_release
    assert _convert_cli(paths, tmp_path / "model", *options) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "model").exists()


def test_lora_lands_on_contiguous_rows_not_on_q_and_v_heads(tiny_release):
    """The naive converter (LoRA "query" onto q_proj, "value" onto v_proj) would change every q and v head and no
    k head. lit-gpt's contiguous rows do something else: with 4 heads of 16 the fused rows are
    [q0 k0 v0 | q1 k1 v1 | q2 k2 v2 | q3 k3 v3] x 16; the query range [0, 64) is q0 k0 v0 q1 and the value
    range [128, 192) is v2 q3 k3 v3."""
    config, spec, paths = tiny_release
    lit = load_torch_state(paths["lit_model"], "lit")
    lora = load_torch_state(paths["lora"], "lora")
    base = lit_to_hf_state_dict(lit, config)
    merged = lit_to_hf_state_dict(lit, config, lora, spec)
    hs = config.head_size

    def changed_heads(projection: str) -> list[int]:
        key = f"model.layers.0.self_attn.{projection}.weight"
        return [h for h in range(config.n_head)
                if not torch.equal(base[key][h * hs:(h + 1) * hs], merged[key][h * hs:(h + 1) * hs])]

    assert changed_heads("q_proj") == [0, 1, 3]
    assert changed_heads("k_proj") == [0, 3]
    assert changed_heads("v_proj") == [0, 2, 3]


def test_tiny_checkpoint_is_labelled_random_and_loads(tmp_path):
    out = make_tiny_checkpoint(tmp_path / "tiny")
    manifest = read_manifest(out)
    assert manifest["random_weights"] is True and "RANDOM" in manifest["note"]
    model = load_model_dir(out)
    assert model.random_weights and model.config.n_embd == 64
    assert model.video_projector is not None and model.motion_projector is not None


def test_wrong_shape_names_key_expected_and_actual(tiny_release, tmp_path):
    config, spec, paths = tiny_release
    lit = load_torch_state(paths["lit_model"], "lit")
    bad = dict(lit)
    bad["transformer.h.1.mlp.proj.weight"] = torch.zeros(config.n_embd, 7)
    torch.save(bad, tmp_path / "bad.pth")
    with pytest.raises(CheckpointKeyError) as error:
        convert_release(tmp_path / "bad.pth", paths["lora"], paths["video_projector"], paths["tokenizer"],
                        tmp_path / "out", n_head=config.n_head, n_query_groups=config.n_query_groups,
                        lora_r=spec.r, lora_alpha=spec.alpha)
    message = str(error.value)
    assert "transformer.h.1.mlp.proj.weight" in message and "(64, 172)" in message and "(64, 7)" in message
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_missing_lora_key_and_missing_tokenizer(tiny_release, tmp_path):
    config, spec, paths = tiny_release
    lora = load_torch_state(paths["lora"], "lora")
    del lora["transformer.h.0.attn.attn.lora_B"]
    torch.save(lora, tmp_path / "lora.pth")
    with pytest.raises(CheckpointKeyError, match="transformer.h.0.attn.attn.lora_B.*missing"):
        convert_release(paths["lit_model"], tmp_path / "lora.pth", paths["video_projector"], paths["tokenizer"],
                        tmp_path / "out", n_head=config.n_head, n_query_groups=config.n_query_groups,
                        lora_r=spec.r, lora_alpha=spec.alpha)
    with pytest.raises(ModelFileNotFoundError, match="tokenizer"):
        convert_release(paths["lit_model"], paths["lora"], paths["video_projector"], tmp_path / "nope.model",
                        tmp_path / "out", n_head=config.n_head, n_query_groups=config.n_query_groups,
                        lora_r=spec.r, lora_alpha=spec.alpha)


def test_model_dir_errors(tmp_path, converted):
    with pytest.raises(ModelFileNotFoundError, match="motionllm.json"):
        load_model_dir(tmp_path)
    with pytest.raises(ModelError, match="dtype"):
        load_model_dir(converted.directory, dtype="int8")
    broken = tmp_path / "broken"
    import shutil

    shutil.copytree(converted.directory, broken)
    (broken / "llm" / "tokenizer.model").unlink()
    with pytest.raises(ModelFileNotFoundError, match="tokenizer"):
        load_model_dir(broken)
