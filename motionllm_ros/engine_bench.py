"""Load test of the live engine: frames offered faster than it can process them, for minutes.

What a robot's camera does to the node when perception is slower than the camera: the engine must drop the oldest
frames (and count them), keep its memory flat and keep describing recent windows with bounded latency.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from motionllm_ros.behavior.describer import PrimitivesDescriber
from motionllm_ros.engine import EngineParams, StreamingEngine
from motionllm_ros.perception.pipeline import PerceptionPipeline
from motionllm_ros.sources import open_source
from motionllm_ros.sources.base import Frame


def rss_mb() -> float:
    """Resident set size of this process now, from /proc (Linux)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("no VmRSS in /proc/self/status")


def run_load_benchmark(clip: str | Path, pose_model: str | Path, seconds: float = 120.0, overload: float = 4.0,
                       warmup_s: float = 10.0, window_s: float = 4.0, stride_s: float = 1.0) -> dict[str, Any]:
    """Offer the clip's frames, looped with increasing stamps, at `overload` times the measured processing rate
    for `seconds`; RSS growth is measured from the end of `warmup_s` (model and allocator warm-up) to the peak."""
    frames = list(open_source(str(clip)))
    if not frames:
        raise ValueError(f"{clip}: no frames")
    results = []
    with PerceptionPipeline(pose_model) as pipeline:
        # The rate the engine can process: perception on every frame of the clip once, after one warm-up frame.
        pipeline.process(frames[0].rgb, -1.0)
        start = time.perf_counter()
        for i, frame in enumerate(frames):
            pipeline.process(frame.rgb, float(i))
        per_frame = (time.perf_counter() - start) / len(frames)
        offered_hz = overload / per_frame
        engine = StreamingEngine(pipeline, PrimitivesDescriber(),
                                 EngineParams(window_s=window_s, stride_s=stride_s, lossless=False),
                                 on_result=results.append)
        rss_samples: list[tuple[float, float]] = []
        began = time.monotonic()
        offered = 0
        next_sample = began
        stamp0 = 1000.0  # data time of the offered stream, well after the calibration stamps above
        while (now := time.monotonic()) - began < seconds:
            frame = frames[offered % len(frames)]
            engine.submit(Frame(stamp0 + offered / offered_hz, frame.rgb, frame.frame_id))
            offered += 1
            if now >= next_sample:
                rss_samples.append((now - began, rss_mb()))
                next_sample += 1.0
            time.sleep(max(0.0, began + offered / offered_hz - time.monotonic()))
        engine.close(flush=False)
    stats = engine.stats()
    after_warmup = [rss for t, rss in rss_samples if t >= warmup_s] or [rss_samples[-1][1]]
    latencies = [d.latency_s for d in results]
    return {
        "clip": str(clip),
        "seconds": seconds,
        "processing_ms_per_frame": per_frame * 1e3,
        "offered_hz": offered_hz,
        "overload": overload,
        "offered": offered,
        "processed": stats.get("processed", 0),
        "dropped_frames": stats.get("dropped_frames", 0),
        "errors": {k: v for k, v in stats.items() if k.startswith("errors.")},
        "accounted": stats.get("processed", 0) + stats.get("dropped_frames", 0)
        + stats.get("errors.perception", 0) == offered,
        "windows": stats.get("windows", 0),
        "described": stats.get("described", 0),
        "dropped_windows": stats.get("dropped_windows", 0),
        "rss_mb_after_warmup": after_warmup[0],
        "rss_mb_peak": max(after_warmup),
        "rss_growth_mb": max(after_warmup) - after_warmup[0],
        "rss_mb_series": [round(rss, 1) for _, rss in rss_samples],
        "latency_s_median": statistics.median(latencies) if latencies else None,
        "latency_s_p95": float(np.percentile(latencies, 95)) if latencies else None,
        "latency_s_max": max(latencies) if latencies else None,
    }
