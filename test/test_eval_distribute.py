"""The runners behind `motionllm eval`: a local spawn pool and a real local Ray instance, with worker deaths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from motionllm_ros.evaluation.distribute import JobFailed, gpus_per_task, run_in_pool, run_on_ray


def dies_once(name: str, marker_dir: str) -> str:
    """Returns `name` doubled; a job named "crash" kills its worker process on its first attempt."""
    marker = Path(marker_dir) / name
    first_attempt = not marker.exists()
    marker.touch()
    if name == "crash" and first_attempt:
        os._exit(1)  # a native crash, as far as the parent can tell
    return name * 2


def test_pool_reruns_the_jobs_of_a_pool_broken_by_a_dead_worker(tmp_path):
    jobs = [("a", str(tmp_path)), ("crash", str(tmp_path)), ("b", str(tmp_path))]
    assert run_in_pool(dies_once, jobs, workers=2, retries=1) == ["aa", "crashcrash", "bb"]


def test_pool_reports_a_job_that_kills_its_worker_every_time_and_the_others_complete(tmp_path):
    a, crash, b = run_in_pool(dies_always, [("a",), ("crash",), ("b",)], workers=2, retries=1)
    assert (a, b) == ("aa", "bb")
    assert isinstance(crash, JobFailed) and crash.attempts == 2 and "BrokenProcessPool" in crash.message


def dies_always(name: str) -> str:
    """A job named "crash" kills its worker on every attempt; the others return their name doubled."""
    if name == "crash":
        os._exit(1)
    return name * 2


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False)
    yield ray
    ray.shutdown()


def test_ray_retries_a_task_whose_worker_died(local_ray, tmp_path):
    def job(name: str, marker_dir: str) -> str:  # nested: Ray ships it by value to its workers
        marker = Path(marker_dir) / name
        first_attempt = not marker.exists()
        marker.touch()
        if name == "crash" and first_attempt:
            os._exit(1)
        return name * 2

    jobs = [("a", str(tmp_path)), ("crash", str(tmp_path)), ("b", str(tmp_path))]
    assert run_on_ray(job, jobs, "local", retries=1) == ["aa", "crashcrash", "bb"]
    (tmp_path / "crash").unlink()
    a, crash = run_on_ray(job, jobs[:2], "local", retries=0)
    assert a == "aa" and isinstance(crash, JobFailed) and "WorkerCrashedError" in crash.message


def test_a_gpu_is_asked_for_only_where_the_cluster_has_one():
    assert gpus_per_task(None, 4) == 1.0 and gpus_per_task(None, 0) == 0.0  # a model on a non-CPU device
    assert gpus_per_task(0.5, 0) == 0.5 and gpus_per_task(0, 4) == 0  # --ray-gpus given: as asked
