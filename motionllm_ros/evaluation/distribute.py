"""Running one function over many jobs: in this process, in a local process pool, or as tasks on a Ray cluster.

Both parallel runners re-run a job whose worker process died (a crash in native code: MediaPipe, torch) or that
raised, up to `retries` times, then report it as failed (JobFailed); a job that returns is never re-run. The results come back in
the order of the jobs, so the merged outcome does not depend on where or in which order the jobs ran.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Sequence

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobFailed:
    """A job that did not return: why, after how many attempts."""
    message: str
    attempts: int


def run_in_process(function: Callable[..., Any], jobs: Sequence[tuple]) -> list[Any]:
    return [function(*job) for job in jobs]


def run_in_pool(function: Callable[..., Any], jobs: Sequence[tuple], workers: int, retries: int = 2) -> list[Any]:
    """A spawn process pool of `workers`. A dead worker breaks the pool for every job still in it, so the jobs
    that did not return are then re-run one at a time, each alone in a fresh process (a crash is then the job's
    own), up to `retries` times."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    spawn = get_context("spawn")  # MediaPipe and torch threads do not survive fork
    results: list[Any] = [None] * len(jobs)
    failed: dict[int, str] = {}
    with ProcessPoolExecutor(max_workers=workers, mp_context=spawn) as pool:
        futures = [pool.submit(function, *job) for job in jobs]
        for index, future in enumerate(futures):
            try:
                results[index] = future.result()
            except Exception as error:  # noqa: BLE001 - BrokenProcessPool or an exception of the job itself
                failed[index] = f"{type(error).__name__}: {error}"
    for index, message in failed.items():
        attempts = 1
        while attempts <= retries:
            log.warning("re-running job %d alone (attempt %d) after: %s", index, attempts + 1, message)
            attempts += 1
            try:
                with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as alone:
                    results[index] = alone.submit(function, *jobs[index]).result()
                break
            except Exception as error:  # noqa: BLE001 - as above
                message = f"{type(error).__name__}: {error}"
        else:
            results[index] = JobFailed(message, attempts)
    return results


def gpus_per_task(requested: float | None, cluster_gpus: float) -> float:
    """`requested`, or for None one GPU when the cluster has any (a task asking for a GPU that no node has would
    wait forever)."""
    if requested is not None:
        return requested
    return 1.0 if cluster_gpus > 0 else 0.0


def run_on_ray(function: Callable[..., Any], jobs: Sequence[tuple], address: str, *, num_cpus: float = 1,
               num_gpus: float | None = 0, retries: int = 2) -> list[Any]:
    """Each job a Ray task asking for `num_cpus` / `num_gpus` (None: see gpus_per_task); Ray re-runs a task whose
    worker died (and one that raised) up to `retries` times. `address`: a cluster address, "auto" (the cluster this
    machine belongs to) or "local" (start a Ray instance on this machine for the run). An already initialised Ray
    is used as it is."""
    import ray

    started_here = not ray.is_initialized()
    if started_here:
        # Workers' output stays in Ray's session logs: MediaPipe writes pages of it; failures come back as results.
        ray.init(address=None if address == "local" else address, include_dashboard=False,
                 logging_level=logging.WARNING, log_to_driver=False)
    try:
        num_gpus = gpus_per_task(num_gpus, ray.cluster_resources().get("GPU", 0))
        log.info("ray: %d task(s), %g CPU and %g GPU each, up to %d retries", len(jobs), num_cpus, num_gpus, retries)
        task = ray.remote(function).options(num_cpus=num_cpus, num_gpus=num_gpus, max_retries=retries,
                                            retry_exceptions=True)
        references = [task.remote(*job) for job in jobs]
        results: list[Any] = []
        for reference in references:
            try:
                results.append(ray.get(reference))
            except ray.exceptions.RayError as error:
                # The first line names the cause (WorkerCrashedError, the job's exception); the rest is a traceback.
                results.append(JobFailed(f"{type(error).__name__}: {str(error).strip().splitlines()[0]}",
                                         retries + 1))
        return results
    finally:
        if started_here:
            ray.shutdown()
