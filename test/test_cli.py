"""The `motionllm` command line: fast help, exit codes, frames output."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from motionllm_ros.cli import main


def test_help_imports_nothing_heavy():
    # `motionllm --help` must start fast: no numpy, OpenCV, torch or mediapipe behind the argument parser.
    code = ("import sys\nfrom motionllm_ros import cli\n"
            "try:\n    cli.main(['--help'])\nexcept SystemExit:\n    pass\n"
            "heavy = [m for m in ('numpy', 'cv2', 'torch', 'mediapipe', 'rosbags', 'yaml') if m in sys.modules]\n"
            "print('HEAVY', heavy)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "HEAVY []" in out
    assert "frames" in out


def test_console_script_runs(tmp_path):
    result = subprocess.run([sys.executable, "-m", "motionllm_ros.cli", "frames", str(tmp_path / "nope.mp4")],
                            capture_output=True, text=True)
    assert result.returncode == 2
    assert "input not found" in result.stderr and "Traceback" not in result.stderr


def test_bad_param_is_exit_2_with_the_key(capsys, tmp_path):
    assert main(["frames", str(tmp_path), "-p", "input.qos_depth=zero"]) == 2
    assert "input.qos_depth" in capsys.readouterr().err


def test_params_json_lists_every_parameter(capsys):
    assert main(["params", "--json"]) == 0
    values = json.loads(capsys.readouterr().out)
    assert values["input.qos_depth"] == 5 and values["input.image_transport"] == "raw"


@pytest.mark.parametrize("name, frames, fps", [("street_walking_5frames.mp4", 5, 5.0),
                                               ("hug_two_people.mp4", 72, 28.05)])
def test_frames_text_and_json(test_data, capsys, name, frames, fps):
    path = str(test_data / "video" / name)
    assert main(["frames", path]) == 0
    text = capsys.readouterr().out
    assert f"frames:   {frames}" in text and "skipped:  none" in text
    assert main(["frames", path, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["frames"] == frames and summary["fps"] == pytest.approx(fps, abs=0.01)


def test_frames_on_a_bag_without_images_exits_2(test_data, capsys):
    assert main(["frames", str(test_data / "bags" / "talker" / "mcap")]) == 2
    assert "its topics are" in capsys.readouterr().err


def test_bench_fit_json_reports_both_methods(capsys):
    pytest.importorskip("smplx")
    assert main(["bench", "fit", "--frames", "20", "--baseline-frames", "2", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["stage"] == "fit" and result["frames"] == 20 and result["baseline_frames"] == 2
    for method in ("ours", "baseline"):
        assert result[method]["median_ms"] > 0 and result[method]["p95_ms"] >= result[method]["median_ms"]
    # The baseline runs until it is as accurate as ours (or 1 mm): the timing compares equal work.
    assert result["baseline"]["mean_error_m"] <= max(result["ours"]["mean_error_m"], 1e-3) + 1e-9
    assert result["ours"]["mean_error_m"] < 1e-3
