"""Video tower (preprocessing, per-frame == batched), projector and T2M-GPT motion encoder."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
F = torch.nn.functional

from motionllm_ros.model.errors import CheckpointKeyError, ModelError, ModelFileNotFoundError
from motionllm_ros.model.motion_vqvae import load_motion_tokenizer, write_tiny_motion_vqvae
from motionllm_ros.model.projectors import ProjectorSpec, build_projector, load_projector_state
from motionllm_ros.model.video_tower import (
    CLIP_MEAN,
    CLIP_STD,
    EmptyClipError,
    VideoTower,
    preprocess_frames,
    sample_frame_indices,
    write_tiny_video_tower,
)


@pytest.fixture(scope="module")
def tower(tmp_path_factory):
    return VideoTower(write_tiny_video_tower(tmp_path_factory.mktemp("tower") / "clip"))


def test_frame_sampling_is_official_linspace():
    assert sample_frame_indices(40).tolist() == [0, 5, 11, 16, 22, 27, 33, 39]
    assert sample_frame_indices(5).tolist() == [0, 0, 1, 1, 2, 2, 3, 4]  # a clip shorter than 8 frames
    with pytest.raises(EmptyClipError):
        sample_frame_indices(0)
    with pytest.raises(EmptyClipError):
        preprocess_frames([])


def test_preprocessing_scale_crop_normalise():
    colour = np.array([200, 100, 50], dtype=np.uint8)
    portrait = np.broadcast_to(colour, (1920, 1080, 3)).copy()
    out = preprocess_frames([portrait])
    expected = (colour / 255.0 - np.array(CLIP_MEAN)) / np.array(CLIP_STD)
    assert out.shape == (1, 3, 224, 224)
    assert np.allclose(out[0].mean(dim=(1, 2)).numpy(), expected, atol=1e-5)
    # centre crop of the short-side-scaled image: a 448x896 landscape frame whose outer quarters are black
    landscape = np.zeros((448, 896, 3), dtype=np.uint8)
    landscape[:, 224:672] = 255
    centre = preprocess_frames([landscape])[0]
    assert np.allclose(centre[:, :, 1:-1].numpy(), ((1.0 - np.array(CLIP_MEAN)) / np.array(CLIP_STD))[:, None, None],
                       atol=1e-5)
    assert torch.equal(preprocess_frames([landscape], flip=True), torch.flip(preprocess_frames([landscape]), [-1]))
    with pytest.raises(ModelError, match="frame 0"):
        preprocess_frames([np.zeros((10, 10), dtype=np.uint8)])


def test_per_frame_encoding_equals_batched(tower):
    pixels = torch.randn(8, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    batched = tower.encode_frames(pixels)
    one_by_one = torch.cat([tower.encode_frames(pixels[i:i + 1]) for i in range(8)])
    assert batched.shape == (8, 256, 32)  # 16x16 patches, CLS dropped
    assert torch.allclose(batched, one_by_one, atol=1e-5)
    # hidden_states[-2] without CLS: the patch tokens entering the last layer, run through the layers by hand
    vision = getattr(tower.model, "vision_model", tower.model)  # transformers 5 flattened CLIPVisionModel
    with torch.inference_mode():
        hidden = vision.pre_layrnorm(vision.embeddings(pixels[:1]))
        for layer in vision.encoder.layers[:-1]:
            out = layer(hidden, None)
            hidden = out[0] if isinstance(out, tuple) else out
    assert torch.allclose(batched[:1], hidden[:, 1:], atol=1e-5)


def test_real_clip_through_tower_and_projector(tower, test_data):
    from motionllm_ros.sources import open_source

    frames = [frame.rgb for frame in open_source(str(test_data / "video" / "dribble_single_person.mp4"))]
    assert len(frames) == 40
    clip = [frames[i] for i in sample_frame_indices(len(frames))]
    features = tower.encode_frames(preprocess_frames(clip)).reshape(-1, 32)  # (2048, 32)
    projector = build_projector(ProjectorSpec("mlp2x_gelu", 32, 64))
    with torch.inference_mode():
        embeddings = projector(features)
    assert embeddings.shape == (8 * 256, 64) and torch.isfinite(embeddings).all()


def test_mlp2x_gelu_projector_math():
    spec = ProjectorSpec("mlp2x_gelu", 5, 7)
    projector = build_projector(spec)
    assert sorted(projector.state_dict()) == ["0.bias", "0.weight", "2.bias", "2.weight"]
    state = projector.state_dict()
    x = torch.randn(3, 5)
    erf_gelu = lambda h: 0.5 * h * (1 + torch.erf(h / 2 ** 0.5))
    reference = erf_gelu(x @ state["0.weight"].T + state["0.bias"]) @ state["2.weight"].T + state["2.bias"]
    with torch.inference_mode():
        assert torch.allclose(projector(x), reference, atol=1e-6)
    bad = dict(state)
    bad["2.weight"] = torch.zeros(7, 6)
    with pytest.raises(CheckpointKeyError, match=r"2\.weight.*\(7, 7\).*\(7, 6\)"):
        load_projector_state(bad, "projector.pth", out_dim=7)


def _t2m_encoder_reference(state, x, down_t=2, depth=3, growth=3):
    """T2M-GPT's Encoder written out with functional convs (Resnet1D with reverse_dilation: 9, 3, 1)."""
    p = "vqvae.encoder.model."
    h = F.relu(F.conv1d(x, state[p + "0.weight"], state[p + "0.bias"], padding=1))
    for i in range(down_t):
        b = f"{p}{2 + i}."
        h = F.conv1d(h, state[b + "0.weight"], state[b + "0.bias"], stride=2, padding=1)
        for j, dilation in enumerate(reversed([growth ** d for d in range(depth)])):
            r = f"{b}1.model.{j}."
            inner = F.conv1d(F.relu(h), state[r + "conv1.weight"], state[r + "conv1.bias"], padding=dilation,
                             dilation=dilation)
            h = h + F.conv1d(F.relu(inner), state[r + "conv2.weight"], state[r + "conv2.bias"])
    last = f"{p}{2 + down_t}."
    return F.conv1d(h, state[last + "weight"], state[last + "bias"], padding=1)


def test_motion_encoder_matches_t2m_gpt_definition(tmp_path):
    checkpoint, mean, std, config = write_tiny_motion_vqvae(tmp_path, seed=4)
    tokenizer = load_motion_tokenizer(checkpoint, mean, std, config)
    features = np.random.default_rng(0).normal(size=(60, 263)).astype(np.float32)
    latents = tokenizer.encode(features)
    state = torch.load(checkpoint, weights_only=True)["net"]
    reference = _t2m_encoder_reference(state, torch.from_numpy(features).T[None])[0].T
    assert latents.shape == (15, 32)
    assert torch.allclose(latents, reference, atol=1e-5)
    with pytest.raises(ModelError, match="at least 4"):
        tokenizer.encode(features[:3])


def test_motion_checkpoint_errors(tmp_path):
    checkpoint, mean, std, config = write_tiny_motion_vqvae(tmp_path, seed=4)
    state = torch.load(checkpoint, weights_only=True)["net"]
    state["vqvae.encoder.model.2.1.model.0.conv1.weight"] = torch.zeros(32, 32, 5)
    torch.save({"net": state}, tmp_path / "bad.pth")
    with pytest.raises(CheckpointKeyError, match=r"model\.2\.1\.model\.0\.conv1\.weight.*\(32, 32, 3\).*\(32, 32, 5\)"):
        load_motion_tokenizer(tmp_path / "bad.pth", mean, std, config)
    with pytest.raises(ModelFileNotFoundError, match="net_last.pth"):
        load_motion_tokenizer(tmp_path / "missing.pth", mean, std, config)


def test_real_humanml3d_features_with_t2m_statistics(tmp_path, test_data):
    checkpoint, _, _, config = write_tiny_motion_vqvae(tmp_path, seed=1)
    humanml = test_data / "humanml3d"
    tokenizer = load_motion_tokenizer(checkpoint, humanml / "t2m_mean.npy", humanml / "t2m_std.npy", config)
    latents = tokenizer.encode(np.load(humanml / "new_joint_vecs" / "012314.npy"))
    assert latents.shape == (42, 32) and torch.isfinite(latents).all()  # 170 frames at 20 fps -> 4x downsampled
