"""Bad input never ends in a traceback, a hang or a silent loss (README: "Inputs and what happens to bad frames").

Each test builds one class of bad input with the generators of fuzz_corpus.py and runs the real CLI on it in a
subprocess with a time limit and an address-space limit: exit 0 with the bad items counted, or exit 2 with one
line on stderr that names the input and the problem. Cases of one class share a process (test/fuzz_driver.py).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest

import fuzz_corpus as corpus
from conftest import REPO_ROOT, _data_dir, _models_dir

DRIVER = Path(__file__).with_name("fuzz_driver.py")
ADDRESS_SPACE_LIMIT = 3 * 1024**3  # virtual memory: MediaPipe and torch reserve more than they use
MAX_RSS_MB = 2048


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE_LIMIT, ADDRESS_SPACE_LIMIT))


def run_cases(cases: list[corpus.Case], folder: Path, timeout_s: float) -> list[tuple[corpus.Case, dict]]:
    """Runs the cases in one driver process; fails naming the case that hung or killed the process."""
    folder.mkdir(parents=True, exist_ok=True)
    cases_file, results_file = folder / "cases.json", folder / "results.json"
    cases_file.write_text(json.dumps([list(case.argv) for case in cases]))
    try:
        process = subprocess.run([sys.executable, str(DRIVER), str(cases_file), str(results_file)],
                                 capture_output=True, text=True, timeout=timeout_s, preexec_fn=_limit_memory,
                                 cwd=REPO_ROOT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"no result within {timeout_s} s; running: {_current(results_file)}")
    results = json.loads(results_file.read_text()) if results_file.exists() else []
    if len(results) != len(cases):
        pytest.fail(f"the driver died (exit {process.returncode}) on {_current(results_file)}: "
                    f"{process.stderr[-2000:]}")
    return list(zip(cases, results))


def _current(results_file: Path) -> str:
    current = results_file.with_name(results_file.name + ".current")
    return current.read_text() if current.exists() else "?"


def problems(case: corpus.Case, result: dict) -> list[str]:
    """What is wrong with one outcome; empty when it keeps the promise."""
    found = []
    code, stdout, stderr = result["code"], result["stdout"], result["stderr"]
    if "Traceback" in stderr or "Traceback" in stdout:
        found.append(f"traceback: ...{stderr[-600:]}")
    if code not in case.exits:
        found.append(f"exit {code}, expected {sorted(case.exits)}; stderr: {stderr[-400:]!r}")
    if code == 2:
        found += _exit_2_problems(case, stderr)
    if code == 0 and (case.skipped or case.min_frames or case.max_frames is not None):
        summary = json.loads(stdout.strip().splitlines()[-1])
        missing = [reason for reason in case.skipped if not summary["skipped"].get(reason)]
        if missing:
            found.append(f"not counted: {missing}; skipped {summary['skipped']}")
        if summary["frames"] < case.min_frames or (case.max_frames is not None
                                                     and summary["frames"] > case.max_frames):
            found.append(f"{summary['frames']} frames, expected {case.min_frames}..{case.max_frames}; "
                         f"skipped {summary['skipped']}")
    if result["max_rss_mb"] > MAX_RSS_MB:
        found.append(f"RSS {result['max_rss_mb']:.0f} MB")
    return found


def _exit_2_problems(case: corpus.Case, stderr: str) -> list[str]:
    lines = [line for line in stderr.splitlines() if line.strip() and not line.startswith("[")]  # "[WARNING] ..."
    if lines and lines[0].startswith("usage:"):  # argparse: its usage, then one error line naming the option
        lines = lines[-1:]
    if len(lines) != 1:
        return [f"exit 2 with {len(lines)} lines instead of one: {lines[:8]}"]
    if case.names and case.names not in lines[0]:
        return [f"the error line does not name {case.names!r}: {lines[0]!r}"]
    return []


def assert_all_kept(outcomes: list[tuple[corpus.Case, dict]]) -> None:
    failures = [f"{case.name}: {'; '.join(found)}" for case, result in outcomes if (found := problems(case, result))]
    assert not failures, f"{len(failures)} of {len(outcomes)} cases broke the promise:\n" + "\n".join(failures)


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return corpus.write_video(tmp_path_factory.mktemp("clip") / "clip.mp4")


# ---------------------------------------------------------------------------------------------------- classes
def test_damaged_videos_are_read_up_to_the_damage_or_refused_in_one_line(tmp_path):
    cases = corpus.video_cases(tmp_path / "videos", _data_dir())
    assert_all_kept(run_cases(cases, tmp_path / "run", timeout_s=240))


def test_bad_frames_and_damaged_regions_of_bags_are_counted_and_the_rest_is_read(tmp_path):
    cases = corpus.bag_cases(tmp_path / "bags", _data_dir())
    assert_all_kept(run_cases(cases, tmp_path / "run", timeout_s=240))


def test_bad_parameter_files_and_values_exit_2_naming_them(tmp_path):
    cases = corpus.param_cases(tmp_path / "params")
    assert_all_kept(run_cases(cases, tmp_path / "run", timeout_s=120))


def test_bad_arrays_exit_2_naming_the_file(tmp_path):
    cases = corpus.array_cases(tmp_path / "arrays")
    assert_all_kept(run_cases(cases, tmp_path / "run", timeout_s=120))


def test_bad_annotation_files_exit_2_before_any_recording_runs(tmp_path, clip):
    cases = corpus.label_cases(tmp_path / "labels", clip)
    assert_all_kept(run_cases(cases, tmp_path / "run", timeout_s=120))


def test_unwritable_outputs_are_refused_before_the_work(tmp_path, clip):
    import numpy as np

    features = tmp_path / "features.npy"
    np.save(features, np.zeros((30, 263), np.float32))
    cases = corpus.output_cases(tmp_path / "out", clip, features)
    assert_all_kept(run_cases(cases, tmp_path / "run", timeout_s=180))
    assert not (tmp_path / "out" / "big.mcap").exists()


def test_numeric_options_out_of_range_exit_2_naming_the_option(tmp_path, clip):
    cases = corpus.argument_cases(clip, tmp_path)
    assert_all_kept(run_cases(cases, tmp_path / "run", timeout_s=60))


def _pose_model() -> Path:
    models = _models_dir()
    if models is None or not (models / "pose_landmarker_full.task").is_file():
        pytest.skip("pose model not available: set MOTIONLLM_TEST_MODELS (or MOTIONLLM_TEST_DATA beside models/)")
    return models / "pose_landmarker_full.task"


def test_bad_frames_do_not_end_a_run_and_its_recording(tmp_path):
    """`run --mcap` over a bag with bad frames, a CameraInfo with inf in K and a frame of another size."""
    pose = _pose_model()
    bag = corpus.write_bag(tmp_path / "bag", "mcap", corpus.bad_frames_messages())
    case = corpus.ok("run/bad_frames", ["run", bag, "--topic", "/cam/image_raw", "--pose-model", pose,
                                        "--mcap", tmp_path / "out.mcap", "--out", tmp_path / "out.jsonl"])
    [(case, result)] = run_cases([case], tmp_path / "run", timeout_s=120)
    assert_all_kept([(case, result)])
    assert "frames 7 submitted" in result["stdout"]
    assert "odd_width" in result["stdout"] and "size_mismatch" in result["stdout"]
    assert (tmp_path / "out.mcap").stat().st_size > 0


def test_live_replay_takes_a_far_future_stamp_as_a_gap_not_a_wait(tmp_path):
    pose = _pose_model()
    bag = corpus.far_future_bag(tmp_path)
    started = time.monotonic()
    # The real entry point, alone: a replay that waited for the stamp would sleep 11.6 days.
    process = subprocess.run([sys.executable, "-m", "motionllm_ros.cli", "run", str(bag), "--live",
                              "--pose-model", str(pose)], capture_output=True, text=True, timeout=120,
                             preexec_fn=_limit_memory, cwd=REPO_ROOT, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert process.returncode == 0, process.stderr[-2000:]
    assert "Traceback" not in process.stderr
    assert "frames 5 submitted" in process.stdout
    assert "replayed as a gap" in process.stderr
    assert time.monotonic() - started < 120


def test_damaged_model_directories_exit_2_naming_the_file(tmp_path_factory, clip):
    pytest.importorskip("torch")
    from motionllm_ros.model.checkpoint import make_tiny_checkpoint

    tiny = make_tiny_checkpoint(tmp_path_factory.mktemp("model") / "tiny")
    folder = tmp_path_factory.mktemp("models")
    cases = corpus.model_dir_cases(folder / "damaged", tiny, clip)
    assert_all_kept(run_cases(cases, folder / "run", timeout_s=300))


def test_a_release_file_that_is_not_one_is_refused_before_converting(tmp_path):
    pytest.importorskip("torch")
    from motionllm_ros.model.checkpoint import write_tiny_release

    _, _, release = write_tiny_release(tmp_path / "release")
    cases = corpus.release_cases(tmp_path / "bad", release)
    assert_all_kept(run_cases(cases, tmp_path / "run", timeout_s=240))
    assert not any((tmp_path / "bad").glob("out*")), "a refused conversion left an output behind"


def test_annotation_content_errors_exit_2_naming_the_file(tmp_path, clip):
    cases = corpus.annotation_content_cases(tmp_path / "labels", clip, _pose_model())
    assert_all_kept(run_cases(cases, tmp_path / "run", timeout_s=180))
