"""The one-clip path end to end on the tiny random model: real video and real HumanML3D motion in, text out."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("sentencepiece")

from motionllm_ros.model.checkpoint import load_model_dir, make_tiny_checkpoint
from motionllm_ros.model.describe import (
    describe,
    load_motion_tokenizer_for,
    load_video_tower,
    motion_embeddings,
    video_embeddings,
)
from motionllm_ros.model.errors import ModelError
from motionllm_ros.model.generate import Generator, SamplingConfig
from motionllm_ros.model.prompt import MOTION_MARKER, VIDEO_MARKER, video_motion_prompt
from motionllm_ros.model.video_tower import EmptyClipError


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return load_model_dir(make_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "model"))


def _frames(path):
    cv2 = pytest.importorskip("cv2")
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            return frames
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))


def test_describe_real_clip_and_motion(model, test_data):
    tower = load_video_tower(model)
    video = video_embeddings(model, tower, _frames(test_data / "video" / "street_walking_5frames.mp4"))
    assert video.shape == (8 * 256, 64)  # 5 frames, sampled up to 8
    motion = motion_embeddings(model, load_motion_tokenizer_for(model),
                               np.load(test_data / "humanml3d" / "new_joint_vecs" / "012314.npy"))
    assert motion.shape == (42, 64)
    generator = Generator(model)
    sampling = SamplingConfig(max_new_tokens=6)
    joint = describe(generator, "What is the person doing?", video=video, motion=motion, sampling=sampling)
    video_only = describe(generator, "What is the person doing?", video=video, sampling=sampling)
    motion_only = describe(generator, "What is the person doing?", motion=motion, sampling=sampling)
    for result in (joint, video_only, motion_only):
        assert 1 <= len(result.token_ids) <= 6 and isinstance(result.answer, str)
    between = len(video_motion_prompt(model.tokenizer, "Q").parts[0][1])  # ". INPUT_MOTION_TOKENS: "
    assert joint.prompt_tokens == video_only.prompt_tokens + between + 42
    marker_difference = len(model.tokenizer.encode(MOTION_MARKER, add_special_tokens=False)) - len(
        model.tokenizer.encode(VIDEO_MARKER, add_special_tokens=False))
    assert motion_only.prompt_tokens == video_only.prompt_tokens - 2048 + 42 + marker_difference


def test_bad_inputs(model):
    tower = load_video_tower(model)
    with pytest.raises(EmptyClipError):
        video_embeddings(model, tower, [])
    with pytest.raises(ModelError, match="nothing to describe"):
        describe(Generator(model))


def test_bench_llm_reports_every_number(model):
    from motionllm_ros.model.bench import bench_llm

    report = bench_llm(model, context=300, new_tokens=8, official_tokens=2, repeats=1)
    assert report["context"] == 300 and report["random_weights"] is True
    for key in ("prefill_s", "decode_tokens_per_s", "official_tokens_per_s", "speedup", "bandwidth_gb_s",
                "bound_tokens_per_s", "fraction_of_bound"):
        assert report[key] > 0, key
    with pytest.raises(ModelError, match="does not fit"):
        bench_llm(model, context=4090, new_tokens=64)
