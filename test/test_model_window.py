"""MotionLLM as the engine's describer: frames encoded once on a data-time grid, motion from the window's joints."""

from __future__ import annotations

import pytest

pytest.importorskip("transformers")

from motionllm_ros.config import Config  # noqa: E402
from motionllm_ros.engine import EngineParams, StreamingEngine  # noqa: E402
from motionllm_ros.model.checkpoint import make_tiny_checkpoint  # noqa: E402
from motionllm_ros.model.window_describer import describer_from_config  # noqa: E402
from motionllm_ros.perception.pipeline import PerceptionPipeline  # noqa: E402
from motionllm_ros.sources import open_source  # noqa: E402


def test_windows_described_by_the_model_reuse_encoded_frames(tmp_path, test_data, pose_model_path):
    model_dir = make_tiny_checkpoint(tmp_path / "tiny")
    config = Config().replace({"model.dir": str(model_dir), "model.max_new_tokens": 4, "window.length_s": 2.0,
                               "window.stride_s": 0.5, "video.engine_cache_dir": str(tmp_path / "engines")})
    describer = describer_from_config(config)
    results = []
    with PerceptionPipeline(pose_model_path) as pipeline:
        engine = StreamingEngine(pipeline, describer, EngineParams(window_s=2.0, stride_s=0.5, lossless=True),
                                 on_result=results.append, frame_encoder=describer.frame_encoder)
        for frame in open_source(str(test_data / "video" / "dribble_single_person.mp4")):  # 12 fps, 0 .. 3.25 s
            engine.submit(frame)
        engine.close()
    assert len(results) == 4 and "errors.model" not in engine.stats()
    assert all(r.model_id == "tiny (random weights)" for r in results)
    assert all(r.labels for r in results)  # the primitives still fill labels and scores
    # Full windows find their 8 grid frames, and the first one also the first frame (0 .. 2 s: 9); the last,
    # 1.5 .. 3.5 s clipped to the last frame (3.25 s), finds 7.
    assert [r.details["frames_encoded_in_window"] for r in results] == [9, 8, 8, 7]
    assert all(r.details["motion_tokens"] > 0 for r in results)
    # One encode per 0.25 s grid cell over 0 .. 3.25 s, against 8 per window when each window re-encodes its frames.
    assert describer.frame_encoder.encoded == 14
    assert 8 * len(results) / describer.frame_encoder.encoded > 2


def test_grid_encoder_takes_frames_that_lie_on_grid_points(tmp_path):
    import numpy as np

    from motionllm_ros.model.video_tower import VideoTower, write_tiny_video_tower
    from motionllm_ros.model.window_describer import GridFrameEncoder

    encoder = GridFrameEncoder(VideoTower(write_tiny_video_tower(tmp_path / "tower")), period_s=0.2)
    rgb = np.zeros((8, 8, 3), np.uint8)
    taken = [i for i in range(20) if encoder(i * 0.2, rgb) is not None]  # 5 fps on a 0.2 s grid: every frame
    assert taken == list(range(20))


def test_int8_weights_and_pooled_video_tokens_run_the_same_path(tmp_path, test_data, pose_model_path):
    pytest.importorskip("torchao")
    model_dir = make_tiny_checkpoint(tmp_path / "tiny")
    prompts = {}
    for budget, quantization in ((256, "none"), (64, "int8")):
        config = Config().replace({"model.dir": str(model_dir), "model.max_new_tokens": 2, "window.length_s": 2.0,
                                   "window.stride_s": 1.0, "model.quantization": quantization,
                                   "model.video_tokens_per_frame": budget, "video.backend": "torch"})
        describer = describer_from_config(config)
        results = []
        with PerceptionPipeline(pose_model_path) as pipeline:
            engine = StreamingEngine(pipeline, describer, EngineParams(window_s=2.0, stride_s=1.0, lossless=True),
                                     on_result=results.append, frame_encoder=describer.frame_encoder)
            for frame in open_source(str(test_data / "video" / "street_walking_5frames.mp4")):
                engine.submit(frame)
            engine.close()
        assert results and "errors.model" not in engine.stats()
        prompts[budget] = results[0].details["prompt_tokens"]
    # 8 frames x (256 - 64) fewer video tokens in the prompt.
    assert prompts[256] - prompts[64] == 8 * (256 - 64)
