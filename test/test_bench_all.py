"""`motionllm bench` over every stage (quick mode on a real 5-frame clip) and the README table generator."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import REPO_ROOT

from motionllm_ros.bench_all import markdown_table, run_all

STAGES = {"decode", "pose", "perception", "smpl_fit", "smpl_fit_smplify_baseline", "humanml3d_features",
          "video_preprocess", "video_encode.torch", "video_encode.onnxruntime", "projector", "llm_prefill",
          "llm_decode", "window_latency"}


@pytest.fixture(scope="module")
def result(test_data, pose_model_path):
    return run_all(test_data / "video" / "street_walking_5frames.mp4", pose_model_path, quick=True)


def test_every_stage_has_positive_timings(result):
    assert STAGES <= set(result["stages"])
    for name, entry in result["stages"].items():
        assert entry["median_ms"] > 0 and entry["p95_ms"] >= entry["median_ms"], name
        assert entry["samples"] > 0 and entry["inputs"], name
    assert result["memory"]["peak_rss_mb"] >= result["memory"]["peak_rss_mb_pipeline"] > 0
    json.loads(json.dumps(result))  # the CLI writes it as JSON


def test_unavailable_backends_say_why(result):
    if "video_encode.tensorrt" not in result["stages"]:
        assert "tensorrt" in result["backends_unavailable"]["tensorrt"]


def test_grid_cache_encodes_fewer_frames_than_reencoding_windows(result):
    cache = result["baselines"]["video_cache"]
    assert cache["windows"] >= 2
    assert cache["encodes_reencode"] == 8 * cache["windows"]  # the official sampler: 8 frames per window
    assert 0 < cache["encodes_cache"] < cache["encodes_reencode"]
    # A 2 s window every 0.5 s at 5 fps: the grid (period 0.25 s) encodes 4 frames a second, 2 per stride, so each
    # later window costs about 2 encodes instead of 8 (window / stride = 4; single windows vary by a frame).
    assert cache["encodes_ratio"] > 1.5
    assert 2 <= cache["encodes_ratio_steady"] <= 8


def test_same_run_baselines_are_present(result):
    kv, fit = result["baselines"]["kv_cache"], result["baselines"]["smpl_fit"]
    assert kv["cached_tokens_per_s"] > 0 and kv["official_tokens_per_s"] > 0
    assert fit["ours_median_ms"] > 0 and fit["baseline_median_ms"] > 0 and fit["baseline_frames"] >= 1


def test_markdown_table_lists_every_stage(result):
    table = markdown_table(result)
    assert result["machine"] in table and result["date"] in table
    rows = [line for line in table.splitlines() if line.startswith("| ")]
    assert len(rows) >= len(result["stages"]) + len(result["backends_unavailable"]) + 4  # + headers, baselines
    assert "fewer encodes" in table and "official no-cache loop" in table and "SMPLify-style" in table


def _perf_table(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(REPO_ROOT / "scripts" / "perf_table.py"), *args],
                          check=False, capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)


def test_perf_table_replaces_the_readme_section(result, tmp_path):
    path = tmp_path / "result.json"
    path.write_text(json.dumps(result))
    readme = tmp_path / "README.md"
    readme.write_text("# title\n\n## Performance\n<!-- perf:begin -->\nold table\n<!-- perf:end -->\n\n## Next\n")
    done = _perf_table(str(path), "--readme", str(readme))
    assert done.returncode == 0, done.stderr
    text = readme.read_text()
    assert "old table" not in text
    assert text.startswith("# title\n\n## Performance\n<!-- perf:begin -->\n")
    assert text.endswith("<!-- perf:end -->\n\n## Next\n")
    assert markdown_table(result) in text and result["machine"] in text

    readme.write_text("# no markers\n")
    done = _perf_table(str(path), "--readme", str(readme))
    assert done.returncode == 1 and "perf:begin" in done.stderr
    assert readme.read_text() == "# no markers\n"


def test_a_languagebind_model_is_benched_window_by_window(test_data, pose_model_path, tmp_path):
    from motionllm_ros.model.checkpoint import make_tiny_checkpoint

    model_dir = make_tiny_checkpoint(tmp_path / "lb", video_tower_kind="languagebind")
    result = run_all(test_data / "video" / "street_walking_5frames.mp4", pose_model_path, model_dir, quick=True)
    assert "8 frames together" in result["stages"]["video_encode.torch"]["inputs"]
    cache = result["baselines"]["video_cache"]
    # No per-frame cache: the tower encodes the 8 sampled frames of every window described.
    assert "not_applicable" in cache and cache["encodes_in_engine_run"] == 8 * cache["windows"]
    assert "no per-frame cache" in markdown_table(result)


def test_bench_people_finds_three_people_and_fits_as_many_as_max_people(test_data, pose_model_path, capsys):
    from motionllm_ros.bench_all import PEOPLE_CASES, people_markdown
    from motionllm_ros.cli import main

    video = test_data / "video"
    assert main(["bench", "people", "--input", str(video / "dribble_single_person.mp4"), "--pair",
                 str(video / "handshake_two_people.mp4"), "--pose-model", str(pose_model_path), "--quick",
                 "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    cases = result["cases"]
    assert list(cases) == [case.key for case in PEOPLE_CASES]
    for key, entry in cases.items():
        case = next(c for c in PEOPLE_CASES if c.key == key)
        frames = entry["samples"]
        assert frames >= 3 and 0 < entry["p10_ms"] <= entry["median_ms"] <= entry["p90_ms"], key
        in_view = 3 if all(case.halves) else 2 if case.halves[0] else 1
        seen = min(in_view, case.num_poses)  # MediaPipe reports at most num_poses people
        assert entry["seen"] == {str(seen): frames}, key  # JSON keys are strings
        fitted = seen if case.max_people is None else min(seen, case.max_people)  # pose only: tracked people
        assert entry["fitted"] == {str(fitted): frames}, key
        if case.max_people is not None:
            assert entry["valid_fits"] == fitted * frames, key
    assert cases["people1"]["ratio_to_one_person"] == 1.0
    assert result["inputs"]["canvas"] == "1080x960"  # two portrait 1080x1920 clips at 960 px high
    table = people_markdown(result)
    assert all(entry["what"] in table for entry in cases.values())
    assert "extra fitted person" in table and result["machine"] in table


def test_bench_people_needs_both_clips(test_data):
    from motionllm_ros.cli import main

    assert main(["bench", "people", "--input", str(test_data / "video" / "dribble_single_person.mp4")]) != 0
