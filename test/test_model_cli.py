"""The model commands of `motionllm`: make-tiny-checkpoint, describe, bench llm, convert errors."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("transformers")

from motionllm_ros.cli import main  # noqa: E402


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    directory = tmp_path_factory.mktemp("tiny") / "model"
    assert main(["make-tiny-checkpoint", str(directory)]) == 0
    manifest = json.loads((directory / "motionllm.json").read_text())
    assert manifest["random_weights"] is True
    return directory


def test_describe_a_real_clip_with_the_tiny_model(tiny, test_data, capsys):
    assert main(["describe", str(test_data / "video" / "street_walking_5frames.mp4"), "--model", str(tiny)]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip()  # random weights: some text, meaningless, but produced end to end
    assert "RANDOM WEIGHTS" in captured.err
    # Greedy by default: the same clip gives the same answer.
    assert main(["describe", str(test_data / "video" / "street_walking_5frames.mp4"), "--model", str(tiny)]) == 0
    assert capsys.readouterr().out == captured.out


@pytest.mark.parametrize("how", ["-p", "--params-file"])
def test_describe_honours_the_model_parameters(tiny, test_data, capsys, tmp_path, how):
    clip = str(test_data / "video" / "street_walking_5frames.mp4")
    if how == "-p":
        options = ["--model", str(tiny), "-p", "model.max_new_tokens=3"]
    else:
        params = tmp_path / "params.yaml"
        params.write_text(f"motionllm:\n  ros__parameters:\n    model:\n      dir: {tiny}\n"
                          "      max_new_tokens: 3\n      video_tokens_per_frame: 16\n")
        options = ["--params-file", str(params)]
    assert main(["describe", clip, *options]) == 0
    assert "3 tokens generated, stopped by max_new_tokens" in capsys.readouterr().err


def test_bench_llm_reports_cached_and_official_speed(tiny, capsys):
    assert main(["bench", "llm", "--model", str(tiny), "--context", "96", "--new-tokens", "8", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["stage"] == "llm" and result["model"] == str(tiny)
    assert all(value is not None for value in result.values())
    # The median of the runs, with their spread (a best-of-n would hide the noise of a shared machine).
    for key, runs in (("prefill_s", result["prefill_s_runs"]), ("decode_tokens_per_s",
                                                                 result["decode_tokens_per_s_runs"])):
        assert len(runs) == 3 and result[key] == sorted(runs)[1]
        assert (result[f"{key}_min"], result[f"{key}_max"]) == (min(runs), max(runs))


def test_model_errors_are_one_line(tmp_path, capsys):
    assert main(["describe", "whatever.mp4", "--model", str(tmp_path)]) == 2
    assert "motionllm.json" in capsys.readouterr().err
    missing = tmp_path / "none.pth"
    assert main(["convert", "--lit-model", str(missing), "--lora", str(missing), "--video-projector", str(missing),
                 "--tokenizer", str(missing), "--out", str(tmp_path / "out")]) == 2
    assert "tokenizer not found" in capsys.readouterr().err
