"""The LanguageBind video tower wired into the model path: tower kind from the files, recorded by convert and
make-tiny-checkpoint, checked at load, used by `describe` and by the engine's describer (8 frames per window,
encoded together)."""

from __future__ import annotations

import json

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

from safetensors.torch import load_file

from motionllm_ros.cli import main
from motionllm_ros.config import Config
from motionllm_ros.engine import EngineParams, StreamingEngine, in_window
from motionllm_ros.model.checkpoint import (
    load_model_dir,
    make_tiny_checkpoint,
    write_tiny_release,
)
from motionllm_ros.model.convert import convert_release
from motionllm_ros.model.describe import load_video_tower, video_embeddings
from motionllm_ros.model.errors import ModelError
from motionllm_ros.model.languagebind import (
    LanguageBindVideoTower,
    write_tiny_languagebind_tower,
)
from motionllm_ros.model.towers import TowerKindError, detect_tower_kind
from motionllm_ros.model.video_tower import (
    VideoTower,
    preprocess_frames,
    sample_frame_indices,
    write_tiny_video_tower,
)
from motionllm_ros.model.window_describer import ModelDescriber, describer_from_config
from motionllm_ros.sources import open_source


@pytest.fixture(scope="module")
def languagebind_dir(tmp_path_factory):
    return write_tiny_languagebind_tower(tmp_path_factory.mktemp("towers") / "languagebind")


@pytest.fixture(scope="module")
def languagebind_model(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiny_languagebind") / "model"
    assert main(["make-tiny-checkpoint", str(directory), "--video-tower", "languagebind"]) == 0
    return directory


def _copy(source, target):
    target.mkdir()
    for path in source.iterdir():
        (target / path.name).write_bytes(path.read_bytes())
    return target


def test_tower_kind_is_read_from_config_and_weight_names(languagebind_dir, tmp_path):
    clip_dir = write_tiny_video_tower(tmp_path / "clip")
    assert detect_tower_kind(clip_dir) == "clip"
    assert detect_tower_kind(languagebind_dir) == "languagebind"

    # The release's own layout: weights in pytorch_model.bin.
    as_bin = _copy(languagebind_dir, tmp_path / "bin")
    torch.save(load_file(str(as_bin / "model.safetensors")), as_bin / "pytorch_model.bin")
    (as_bin / "model.safetensors").unlink()
    assert detect_tower_kind(as_bin) == "languagebind"

    # Temporal weights under a config without add_time_attn: a CLIP load would drop them silently.
    no_flag = _copy(languagebind_dir, tmp_path / "no_flag")
    config = json.loads((no_flag / "config.json").read_text())
    del config["vision_config"]["add_time_attn"]
    (no_flag / "config.json").write_text(json.dumps(config))
    with pytest.raises(TowerKindError, match="temporal weights .*temporal_.* lacks add_time_attn"):
        detect_tower_kind(no_flag)

    # add_time_attn over plain CLIP weights.
    config = json.loads((clip_dir / "config.json").read_text())
    (clip_dir / "config.json").write_text(json.dumps({**config, "add_time_attn": True}))
    with pytest.raises(TowerKindError, match="add_time_attn: true, but .*model.safetensors holds no temporal"):
        detect_tower_kind(clip_dir)


def test_convert_records_a_languagebind_tower_and_describe_answers_a_real_clip(languagebind_dir, tmp_path,
                                                                                 test_data, capsys):
    config, lora, release = write_tiny_release(tmp_path / "release")
    # The CLI reads the tower before the multi-GB LLM: a wrong tower directory fails first, in one line (the
    # release files are only checked to be there and to be PyTorch archives, before either).
    assert main(["convert", "--lit-model", str(release["lit_model"]), "--lora", str(release["lora"]),
                 "--video-projector", str(release["video_projector"]), "--tokenizer", str(release["tokenizer"]),
                 "--video-tower", str(tmp_path), "--out", str(tmp_path / "never")]) == 2
    assert "video tower not found" in capsys.readouterr().err
    out = convert_release(release["lit_model"], release["lora"], release["video_projector"], release["tokenizer"],
                          tmp_path / "converted", n_head=config.n_head, n_query_groups=config.n_query_groups,
                          lora_r=lora.r, lora_alpha=lora.alpha, dtype=torch.float32, video_tower=languagebind_dir)
    manifest = json.loads((out / "motionllm.json").read_text())
    assert manifest["video_tower_kind"] == "languagebind"
    assert manifest["video_tower"] == str(languagebind_dir.resolve())

    clip = str(test_data / "video" / "basketball_gym.mp4")  # 300 small frames: the 8 sampled ones spread out
    assert main(["describe", clip, "--model", str(out)]) == 0  # end to end; random weights: any text, maybe none
    assert "RANDOM WEIGHTS" not in capsys.readouterr().err  # converted, not labelled random

    # The describe path encodes the official 8 frames together: projector(encode_clip(those 8 frames)).
    model = load_model_dir(out)
    tower = load_video_tower(model)
    assert isinstance(tower, LanguageBindVideoTower)
    frames = [frame.rgb for frame in open_source(clip)]
    sampled = [frames[i] for i in np.linspace(0, len(frames) - 1, 8).astype(int)]
    with torch.inference_mode():
        expected = model.video_projector(tower.encode_clip(preprocess_frames(sampled)).reshape(-1, 32))
    torch.testing.assert_close(video_embeddings(model, tower, frames), expected)


def test_make_tiny_checkpoint_writes_the_requested_tower(languagebind_model, tmp_path):
    assert json.loads((languagebind_model / "motionllm.json").read_text())["video_tower_kind"] == "languagebind"
    assert isinstance(load_video_tower(load_model_dir(languagebind_model)), LanguageBindVideoTower)
    clip_model = make_tiny_checkpoint(tmp_path / "clip")  # the default stays the CLIP tower
    assert json.loads((clip_model / "motionllm.json").read_text())["video_tower_kind"] == "clip"
    assert isinstance(load_video_tower(load_model_dir(clip_model)), VideoTower)
    with pytest.raises(ModelError, match="video tower kind 'vit'"):
        make_tiny_checkpoint(tmp_path / "vit", video_tower_kind="vit")


def test_manifest_and_tower_that_disagree_are_a_clear_error(tmp_path):
    model_dir = make_tiny_checkpoint(tmp_path / "tiny")
    manifest_path = model_dir / "motionllm.json"
    manifest = json.loads(manifest_path.read_text())

    manifest_path.write_text(json.dumps({**manifest, "video_tower_kind": "languagebind"}))
    with pytest.raises(TowerKindError, match="motionllm.json records video_tower_kind 'languagebind', but .*video_"
                                             "tower holds a 'clip' tower"):
        load_video_tower(load_model_dir(model_dir))
    with pytest.raises(TowerKindError, match="'languagebind'.*'clip'"):
        ModelDescriber(model_dir, window_s=2.0)

    # A manifest written before the field existed: the files decide.
    del manifest["video_tower_kind"]
    manifest_path.write_text(json.dumps(manifest))
    assert isinstance(load_video_tower(load_model_dir(model_dir)), VideoTower)

    # The tower swapped for a LanguageBind one under a manifest that says clip.
    manifest_path.write_text(json.dumps({**manifest, "video_tower_kind": "clip"}))
    state = load_file(str(model_dir / "video_tower" / "model.safetensors"))
    write_tiny_languagebind_tower(model_dir / "video_tower")  # overwrites config.json and model.safetensors
    assert set(state) != set(load_file(str(model_dir / "video_tower" / "model.safetensors")))
    with pytest.raises(TowerKindError, match="records video_tower_kind 'clip', but .* holds a 'languagebind'"):
        load_video_tower(load_model_dir(model_dir))


def test_describer_encodes_each_window_s_8_frames_together(languagebind_model, tmp_path, test_data,
                                                           pose_model_path):
    from motionllm_ros.perception.pipeline import PerceptionPipeline

    # Default backend (auto): on this CPU machine the joint tower runs on onnxruntime from its 8-frame export.
    config = Config().replace({"model.dir": str(languagebind_model), "model.max_new_tokens": 4,
                               "window.length_s": 2.0, "window.stride_s": 0.5,
                               "video.engine_cache_dir": str(tmp_path / "engines")})
    describer = describer_from_config(config)
    assert describer.tower_kind == "languagebind"
    results = []
    clip = str(test_data / "video" / "dribble_single_person.mp4")  # 12 fps, stamps 0 .. 3.25 s
    rgb_by_stamp = {frame.stamp: frame.rgb for frame in open_source(clip)}
    with PerceptionPipeline(pose_model_path) as pipeline:
        engine = StreamingEngine(pipeline, describer, EngineParams(window_s=2.0, stride_s=0.5, lossless=True),
                                 on_result=results.append, frame_encoder=describer.frame_encoder)
        for frame in open_source(clip):
            engine.submit(frame)
        engine.close()
    assert len(results) == 4 and "errors.model" not in engine.stats()
    assert all(r.details["video_tower_kind"] == "languagebind" for r in results)
    assert all(r.details["motion_tokens"] > 0 for r in results)
    # The grid keeps one preprocessed frame per 0.25 s cell (as many as the clip tower encodes); the tower itself
    # works 8 frames per window.
    assert describer.frame_encoder.kept == 14
    assert describer.tower_frames_encoded == 8 * len(results)

    # The window's features are encode_clip on its grid frames: the 0.25 s grid takes every third frame (stamps
    # k / 4 s). The latest window is the last one of the stride grid, 1.5 .. 3.5 s clipped to the last frame
    # (3.25 s): 7 grid frames, from which the official sampler picks 8 (one twice).
    window = engine.latest_window()
    assert (window.start, window.end) == (1.5, 3.25)
    stamps = sorted(s for s in rgb_by_stamp if in_window(s, window.start, window.end, 0.0))
    expected_stamps = [s for s in stamps if abs(s * 4 - round(s * 4)) < 1e-6]
    on_grid = [s.stamp for s in window.samples if s.video is not None]
    assert on_grid == expected_stamps and len(on_grid) == 7
    picked = [on_grid[i] for i in sample_frame_indices(len(on_grid))]
    reference = LanguageBindVideoTower(languagebind_model / "video_tower")
    expected = reference.encode_clip(preprocess_frames([rgb_by_stamp[s] for s in picked]))
    assert (describer.video_features(window) - expected).abs().max().item() <= 1e-4  # onnxruntime vs torch
    assert describer.tower_frames_encoded == 8 * (len(results) + 1)

