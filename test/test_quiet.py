"""Quiet by default: a command prints our lines only; -v (or MOTIONLLM_VERBOSE=1) lets the libraries speak.

Run as subprocesses, as a user runs them: the noise comes from native code writing to file descriptor 2, which
only a real process shows.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

OUR_LINES = re.compile(r"run: \d+/\d+ frames, [\d.]+ fps"  # progress, stderr
                       r"|\[ *-?[\d.]+ \.\. +[\d.]+\] track .*"  # one description per window
                       r"|frames \d+ submitted, .*"  # the summary
                       r"|note: this checkpoint has RANDOM WEIGHTS; its descriptions are meaningless"
                       r"|\[INFO\] motionllm\.encoders: .*")  # our own log: which video backend runs, and why
NATIVE = ("Sparsity tensors", "LiteRT", "XNNPACK", "InitGoogle", "W0000")


@pytest.fixture(scope="module")
def seeded_env(tmp_path_factory, pose_model_path) -> dict[str, str]:
    """An environment whose XDG cache holds the pose model, installed the way CI seeds it."""
    xdg = tmp_path_factory.mktemp("xdg")
    env = {**os.environ, "XDG_CACHE_HOME": str(xdg)}
    env.pop("MOTIONLLM_VERBOSE", None)
    env.pop("TORCH_LOGS", None)
    subprocess.run([sys.executable, "-m", "motionllm_ros.cli", "models", "--from", str(pose_model_path)], env=env,
                   check=True, capture_output=True)
    assert (xdg / "motionllm" / "models" / "pose_landmarker_full.task").is_file()
    return env


def _motionllm(env: dict[str, str], *args: str) -> list[str]:
    done = subprocess.run([sys.executable, "-m", "motionllm_ros.cli", *args], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return (done.stdout + done.stderr).splitlines()


def test_the_quick_start_prints_only_our_lines(seeded_env, test_data):
    lines = _motionllm(seeded_env, "run", str(test_data / "video" / "dribble_single_person.mp4"))
    assert len(lines) < 15, lines
    assert [line for line in lines if not OUR_LINES.fullmatch(line)] == []
    assert sum(line.startswith("[") for line in lines) == 1  # the 3.25 s clip is one window with the 4 s default


@pytest.mark.parametrize("where", ["before", "after"])
def test_verbose_lets_the_libraries_speak(seeded_env, test_data, where):
    clip = str(test_data / "video" / "street_walking_5frames.mp4")
    args = ["-v", "run", clip] if where == "before" else ["run", clip, "-v"]
    lines = _motionllm(seeded_env, *args)
    assert sum(any(mark in line for mark in NATIVE) for line in lines) > 10


def test_run_with_a_model_is_quiet_and_warns_once_about_random_weights(seeded_env, test_data, tmp_path):
    pytest.importorskip("transformers")
    model = tmp_path / "tiny"
    _motionllm(seeded_env, "make-tiny-checkpoint", str(model))
    env = {**seeded_env, "HOME": str(tmp_path)}  # the engine cache (~/.cache/motionllm/engines) of this test alone
    lines = _motionllm(env, "run", str(test_data / "video" / "street_walking_5frames.mp4"), "--model", str(model),
                       "-p", "model.max_new_tokens=4")
    assert [line for line in lines if not OUR_LINES.fullmatch(line)] == []
    assert sum("RANDOM WEIGHTS" in line for line in lines) == 1
    assert any(line.endswith("video backend: onnxruntime (cpu, fp32; video.precision fp16 applies to tensorrt and "
                             "torch on CUDA)") for line in lines), lines


PROBE = """
import numpy as np
from motionllm_ros.perception.pose import PoseEstimator
with PoseEstimator({model!r}) as estimator:
    for i in range(3):
        estimator.process(np.zeros((240, 320, 3), np.uint8), i / 10)
print("done")
"""


@pytest.mark.parametrize("verbose", [False, True])
def test_the_pose_estimator_keeps_the_node_log_clean(pose_model_path, verbose):
    # The node has no CLI around it: PoseEstimator itself hides MediaPipe's lines (load, first frame, close).
    env = {k: v for k, v in os.environ.items() if k != "MOTIONLLM_VERBOSE"}
    if verbose:
        env["MOTIONLLM_VERBOSE"] = "1"
    done = subprocess.run([sys.executable, "-c", PROBE.format(model=str(pose_model_path))], env=env,
                          capture_output=True, text=True, timeout=300, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0 and done.stdout == "done\n", done.stderr
    noisy = [line for line in done.stderr.splitlines() if any(mark in line for mark in NATIVE)]
    assert (len(noisy) > 10) if verbose else (done.stderr == ""), done.stderr



def test_library_warnings_are_quiet_unless_verbose():
    # What build_engine does for the node too: torchao's wheel in our venv carries a cpython-310 .so that a 3.11
    # Python cannot load, and torchao says so on every import.
    pytest.importorskip("torchao")
    probe = "from motionllm_ros.quiet import quiet_libraries; quiet_libraries(); import torchao.quantization"
    outputs = {}
    for verbose in (False, True):
        env = {k: v for k, v in os.environ.items() if k not in ("MOTIONLLM_VERBOSE", "TORCH_LOGS")}
        if verbose:
            env["MOTIONLLM_VERBOSE"] = "1"
        done = subprocess.run([sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=300,
                              cwd=Path(__file__).resolve().parents[1])
        assert done.returncode == 0, done.stderr
        outputs[verbose] = done.stderr
    if not outputs[True].strip():
        pytest.skip("this torchao/torch pair prints nothing on import: nothing to silence")
    assert outputs[False] == "", outputs[False]
