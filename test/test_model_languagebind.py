"""LanguageBind's video tower: temporal attention across the clip's frames, checked against the release's math."""

from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from motionllm_ros.model.errors import (
    CheckpointKeyError,
    ModelError,
    ModelFileNotFoundError,
)
from motionllm_ros.model.languagebind import (
    LanguageBindVideoTower,
    write_tiny_languagebind_tower,
)
from motionllm_ros.model.video_tower import VideoTower

FRAMES = 8
HIDDEN = 32


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory):
    return write_tiny_languagebind_tower(tmp_path_factory.mktemp("languagebind"), hidden=HIDDEN)


@pytest.fixture(scope="module")
def tower(tiny_dir):
    return LanguageBindVideoTower(tiny_dir)


def _pixels(seed: int = 1) -> torch.Tensor:
    return torch.randn(FRAMES, 3, 224, 224, generator=torch.Generator().manual_seed(seed))


def _rewrite_weights(directory, edit) -> None:
    path = directory / "model.safetensors"
    state = load_file(str(path))
    edit(state)
    save_file(state, str(path))


def _copy_tower(source, target):
    target.mkdir()
    (target / "config.json").write_text((source / "config.json").read_text())
    (target / "model.safetensors").write_bytes((source / "model.safetensors").read_bytes())
    return target


def test_encode_clip_shape_and_joint_frames(tower):
    features = tower.encode_clip(_pixels())
    assert tower.joint_frames == FRAMES
    assert features.shape == (FRAMES, 256, HIDDEN)
    assert torch.isfinite(features).all()


def test_zero_temporal_weights_equal_plain_clip_frame_by_frame(tiny_dir, tmp_path):
    directory = _copy_tower(tiny_dir, tmp_path / "zeroed")

    def zero_temporal(state):
        for key in state:
            if key.endswith(("temporal_embedding", "temporal_attn.out_proj.weight", "temporal_attn.out_proj.bias")):
                state[key].zero_()

    _rewrite_weights(directory, zero_temporal)
    # The same weights without the temporal keys, as a plain transformers CLIP vision checkpoint.
    from transformers import CLIPVisionConfig, CLIPVisionModel

    vision = json.loads((directory / "config.json").read_text())["vision_config"]
    plain = CLIPVisionModel(CLIPVisionConfig(**{k: v for k, v in vision.items() if k not in ("add_time_attn",
                                                                                                "num_frames")}))
    state = load_file(str(directory / "model.safetensors"))
    plain_root = getattr(plain, "vision_model", plain)  # transformers 5 has no `vision_model` submodule
    missing, unexpected = plain_root.load_state_dict(
        {k.removeprefix("vision_model."): v for k, v in state.items() if ".temporal_" not in k}, strict=False)
    assert not unexpected and all(k.endswith("position_ids") for k in missing)
    plain.save_pretrained(str(tmp_path / "plain"))

    pixels = _pixels()
    joint = LanguageBindVideoTower(directory).encode_clip(pixels)
    per_frame = VideoTower(tmp_path / "plain")
    for index in range(FRAMES):
        torch.testing.assert_close(joint[index], per_frame.encode_frames(pixels[index:index + 1])[0],
                                   rtol=1e-5, atol=1e-5)


def test_a_frame_depends_on_the_other_frames(tower):
    pixels = _pixels()
    changed = pixels.clone()
    changed[3] = torch.randn(3, 224, 224, generator=torch.Generator().manual_seed(7))
    before, after = tower.encode_clip(pixels), tower.encode_clip(changed)
    assert (before[0] - after[0]).abs().max() > 1e-3  # frame 0 itself is unchanged: per-frame caching would be wrong


def _reference_layer(layer, x: torch.Tensor, frames: int, heads: int) -> torch.Tensor:
    """One LanguageBind encoder layer written from the release's math with plain ops (x: (B*T, N, D))."""
    bt, n, d = x.shape
    hd = d // heads

    def attention(a, module, tokens_axis_len):  # a: (S, L, D) -> (S, L, D), softmax(q k^T / sqrt(hd)) v
        s = a.shape[0]
        q = (a @ module.q_proj.weight.T + module.q_proj.bias).view(s, tokens_axis_len, heads, hd)
        k = (a @ module.k_proj.weight.T + module.k_proj.bias).view(s, tokens_axis_len, heads, hd)
        v = (a @ module.v_proj.weight.T + module.v_proj.bias).view(s, tokens_axis_len, heads, hd)
        weights = torch.softmax(torch.einsum("slhc,smhc->shlm", q, k) * hd ** -0.5, dim=-1)
        mixed = torch.einsum("shlm,smhc->slhc", weights, v).reshape(s, tokens_axis_len, d)
        return mixed @ module.out_proj.weight.T + module.out_proj.bias

    def norm(a, module):
        return torch.nn.functional.layer_norm(a, (d,), module.weight, module.bias, module.eps)

    # '(b t) n d -> (b n) t d', add the per-frame embedding, temporal pre-norm attention with a residual.
    y = x.view(bt // frames, frames, n, d).permute(0, 2, 1, 3).reshape(-1, frames, d)
    y = y + layer.temporal_embedding[0, :frames]
    y = y + attention(norm(y, layer.temporal_layer_norm1), layer.temporal_attn, frames)
    y = y.view(bt // frames, n, frames, d).permute(0, 2, 1, 3).reshape(bt, n, d)
    # Spatial attention then MLP (quick_gelu in the tiny tower), each pre-norm with a residual.
    y = y + attention(norm(y, layer.layer_norm1), layer.self_attn, n)
    h = norm(y, layer.layer_norm2) @ layer.mlp.fc1.weight.T + layer.mlp.fc1.bias
    h = h * torch.sigmoid(1.702 * h)
    return y + h @ layer.mlp.fc2.weight.T + layer.mlp.fc2.bias


def test_wrapped_layer_matches_reference_math(tower):
    layer = getattr(tower.model, "vision_model", tower.model).encoder.layers[1]
    x = torch.randn(2 * FRAMES, 257, HIDDEN, generator=torch.Generator().manual_seed(3))  # two clips at once
    with torch.inference_mode():
        got = layer(x, None)
        got = got[0] if isinstance(got, tuple) else got
        expected = _reference_layer(layer, x, FRAMES, tower.model.config.num_attention_heads)
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-5)


def test_missing_key_names_key_and_shapes(tiny_dir, tmp_path):
    directory = _copy_tower(tiny_dir, tmp_path / "missing")
    key = "vision_model.encoder.layers.2.temporal_layer_norm1.weight"
    _rewrite_weights(directory, lambda state: state.pop(key))
    with pytest.raises(CheckpointKeyError, match="temporal_layer_norm1.weight") as error:
        LanguageBindVideoTower(directory)
    assert error.value.key == key and error.value.expected == (HIDDEN,) and error.value.actual == "missing"


def test_wrong_shape_names_key_and_shapes(tiny_dir, tmp_path):
    directory = _copy_tower(tiny_dir, tmp_path / "wrong")
    key = "vision_model.encoder.layers.0.temporal_embedding"

    def shrink(state):
        state[key] = torch.zeros(1, 4, HIDDEN)

    _rewrite_weights(directory, shrink)
    with pytest.raises(CheckpointKeyError) as error:
        LanguageBindVideoTower(directory)
    assert error.value.key == key and error.value.expected == (1, 8, HIDDEN) and error.value.actual == (1, 4, HIDDEN)


def test_unmerged_lora_key_is_rejected_and_text_tower_keys_ignored(tiny_dir, tmp_path):
    directory = _copy_tower(tiny_dir, tmp_path / "extra")

    def add_text_tower(state):
        state["text_model.embeddings.token_embedding.weight"] = torch.zeros(10, HIDDEN)
        state["logit_scale"] = torch.tensor(1.0)

    _rewrite_weights(directory, add_text_tower)
    LanguageBindVideoTower(directory)  # the full release also holds the text tower: not ours, not an error

    lora_key = "vision_model.encoder.base_model.model.layers.0.temporal_attn.q_proj.lora_A.weight"
    _rewrite_weights(directory, lambda state: state.__setitem__(lora_key, torch.zeros(4, HIDDEN)))
    with pytest.raises(CheckpointKeyError, match="lora_A"):
        LanguageBindVideoTower(directory)


def test_bad_config_and_input(tiny_dir, tmp_path, tower):
    with pytest.raises(ModelFileNotFoundError, match="config.json"):
        LanguageBindVideoTower(tmp_path)
    directory = _copy_tower(tiny_dir, tmp_path / "no_time")
    config = json.loads((directory / "config.json").read_text())
    config["vision_config"]["add_time_attn"] = False
    (directory / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelError, match="add_time_attn"):
        LanguageBindVideoTower(directory)
    with pytest.raises(ModelError, match=r"expected \(8, 3, 224, 224\)"):
        tower.encode_clip(torch.zeros(4, 3, 224, 224))
