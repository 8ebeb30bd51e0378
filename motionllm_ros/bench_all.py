"""`motionllm bench` (all stages): every pipeline stage timed on this machine, with its same-run baselines.

Stages (median and p95 in ms, with the inputs used): frame decoding, MediaPipe pose, the whole perception chain
(pose, tracking, hip position, SMPL fit), the SMPL fit alone, HumanML3D features, video preprocessing, the video
tower per frame for each backend that runs here, the video projector, LLM prefill and decode, and the end-to-end
window latency of the streaming engine. Baselines measured in the same run: re-encoding 8 frames per window
against the per-frame grid cache (same windows, same tower), the official no-cache generation loop against the KV
cache, and an SMPLify-style fit against ours. The result is a JSON-ready dict; `markdown_table` renders it.
`motionllm bench people` (`run_people`, `people_markdown`): the perception chain with 1, 2 and 3 people in view.

Everything runs on CUDA when torch sees a GPU, else on the CPU. Without a model directory a tiny random checkpoint
is written to a temporary directory: its timings show the pipeline's overheads, not a 7B model's.
"""

from __future__ import annotations

import datetime
import itertools
import os
import tempfile
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from motionllm_ros.cli import machine_name
from motionllm_ros.config import Config
from motionllm_ros.engine import in_window
from motionllm_ros.sources import open_source
from motionllm_ros.sources.base import Frame

# quick: a smoke run for tests (well under a minute on 2 cores); full: `motionllm bench` (under 5 minutes there).
QUICK_WINDOW_S, QUICK_STRIDE_S = 2.0, 0.5  # short: a 1 s clip looped gives several windows in a few seconds
FULL_WINDOWS = 10  # windows described in the end-to-end run (window length and stride: the config's defaults)
QUICK_WINDOWS = 3
MAX_DECODE_PASSES = 10
FEATURE_FRAMES = 196  # 9.8 s at 20 fps: the motion tokenizer's longest input (motion.max_seconds)


def stage(times_s: list[float], inputs: str) -> dict[str, Any]:
    """Median and p95 of per-call times (seconds in, milliseconds out) and what was measured."""
    if not times_s:
        raise ValueError(f"no timings for the stage measured on {inputs}")
    array = np.asarray(times_s) * 1e3
    return {"median_ms": float(np.median(array)), "p95_ms": float(np.percentile(array, 95)),
            "samples": len(array), "inputs": inputs}


def _timed(call: Callable[[], Any], repeats: int, synchronize: Callable[[], None]) -> list[float]:
    """Seconds per call, after one warm-up call (lazy initialisation, allocator, kernel selection)."""
    call()
    synchronize()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        synchronize()
        times.append(time.perf_counter() - start)
    return times


def _proc_status_mb(field: str) -> float:
    """A memory line of /proc/self/status (VmRSS: now, VmHWM: peak resident set), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError(f"no {field} in /proc/self/status")


def _looped(frames: list[Frame], count: int, fps: float) -> list[Frame]:
    """`count` frames: the clip repeated, stamps increasing at the clip's rate (MediaPipe needs increasing time)."""
    return [Frame(i / fps, frames[i % len(frames)].rgb, frames[i % len(frames)].frame_id) for i in range(count)]


def _decode(clip: str, min_frames: int) -> tuple[list[Frame], list[float]]:
    """Decode the clip (whole passes until `min_frames` were timed); returns the first pass's frames."""
    frames: list[Frame] = []
    times: list[float] = []
    for _ in range(MAX_DECODE_PASSES):
        decoded = []
        iterator = iter(open_source(clip))
        while True:
            start = time.perf_counter()
            frame = next(iterator, None)
            if frame is None:
                break
            times.append(time.perf_counter() - start)
            decoded.append(frame)
        if not decoded:
            raise ValueError(f"{clip}: no frames could be decoded")
        frames = frames or decoded
        if len(times) >= min_frames:
            break
    return frames, times


def _clip_fps(frames: list[Frame]) -> float:
    duration = frames[-1].stamp - frames[0].stamp
    if len(frames) < 2 or duration <= 0:
        raise ValueError(f"the benchmark clip needs at least 2 frames with increasing stamps, got {len(frames)} "
                         f"frames over {duration:.3f} s")
    return (len(frames) - 1) / duration


def _pose_stages(pose_model: str, frames: list[Frame]) -> dict[str, dict[str, Any]]:
    """MediaPipe alone, then the whole perception chain, on the same frames (fresh instances: no shared state)."""
    from motionllm_ros.perception.pipeline import PerceptionPipeline
    from motionllm_ros.perception.pose import PoseEstimator

    size = "x".join(map(str, frames[0].rgb.shape[1::-1]))
    pose_times, chain_times = [], []
    with PoseEstimator(pose_model) as estimator:
        for frame in frames:
            start = time.perf_counter()
            estimator.process(frame.rgb, frame.stamp)
            pose_times.append(time.perf_counter() - start)
    with PerceptionPipeline(pose_model) as pipeline:
        for frame in frames:
            start = time.perf_counter()
            pipeline.process(frame.rgb, frame.stamp)
            chain_times.append(time.perf_counter() - start)
        valid = pipeline.counters["valid"]
    # The first frame of each includes MediaPipe's graph start-up: a robot pays it once, not per frame.
    return {
        "pose": stage(pose_times[1:] or pose_times, f"{len(frames)} frames {size}, MediaPipe VIDEO mode, "
                                                     "first frame excluded"),
        "perception": stage(chain_times[1:] or chain_times, f"same frames: pose + tracking + hip + SMPL fit "
                                                            f"({valid} valid), first frame excluded"),
    }


def _feature_stage(repeats: int) -> dict[str, Any]:
    from motionllm_ros.perception.fit_bench import motion_joints, synthetic_motion
    from motionllm_ros.perception.humanml3d import compute_features
    from motionllm_ros.perception.smpl import default_smpl_model

    orient, pose = synthetic_motion(FEATURE_FRAMES, fps=20.0)
    joints = motion_joints(default_smpl_model(), orient, pose)
    times = _timed(lambda: compute_features(joints), repeats, lambda: None)
    return stage(times, f"{FEATURE_FRAMES} frames of 22 joints at 20 fps (synthetic motion)")


def _fit_stages(quick: bool) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """Ours and the SMPLify-style baseline from `run_fit_benchmark`: (stage, baseline stage, comparison)."""
    from motionllm_ros.perception.fit_bench import run_fit_benchmark

    frames, baseline_frames = (30, 2) if quick else (300, 10)
    fit = run_fit_benchmark(n_frames=frames, baseline_frames=baseline_frames)
    ours, base = fit["ours"], fit["baseline"]

    def as_stage(summary: dict[str, Any], count: int, what: str) -> dict[str, Any]:
        return {"median_ms": summary["median_ms"], "p95_ms": summary["p95_ms"], "samples": count,
                "inputs": f"{what}, synthetic motion, one core, mean error {summary['mean_error_m'] * 1e3:.3f} mm"}

    comparison = {"ours_median_ms": ours["median_ms"], "baseline_median_ms": base["median_ms"],
                  "speedup_median": fit["speedup_median"], "frames": fit["frames"],
                  "baseline_frames": fit["baseline_frames"], "ours_mean_error_m": ours["mean_error_m"],
                  "baseline_mean_error_m": base["mean_error_m"]}
    return (as_stage(ours, fit["frames"], "ours (LM, warm start)"),
            as_stage(base, fit["baseline_frames"], "SMPLify-style (smplx + Adam to our error)"), comparison)


def _towers(tower_dir: Path, cache_dir: Path, device: str) -> tuple[dict[str, Any], dict[str, str]]:
    """Each video backend that runs here, and why each other one does not ({name: reason})."""
    from motionllm_ros.encoders.onnx_export import BackendUnavailableError
    from motionllm_ros.encoders.select import BACKENDS, select_backend
    from motionllm_ros.encoders.tensorrt_backend import import_tensorrt, require_cuda

    precision = "fp16" if device == "cuda" else "fp32"
    towers, unavailable = {}, {}
    for name in BACKENDS:
        try:
            if name == "tensorrt":  # checked first: select_backend would fall back instead of saying why
                require_cuda(device)
                import_tensorrt()
            selected = select_backend(name, tower_dir, cache_dir, precision, device)
        except BackendUnavailableError as error:
            unavailable[name] = str(error)
            continue
        if selected.name != name:
            unavailable[name] = "; ".join(selected.skipped)
            continue
        towers[name] = selected.tower
    return towers, unavailable


def _engine_run(config: Config, frames: list[Frame]) -> tuple[list[Any], int, dict[str, int]]:
    """Replay `frames` at their data rate through the lossless engine with the model describer.

    Returns (descriptions, frames the video tower encoded, engine counters)."""
    from motionllm_ros.runtime import build_engine, close_engine

    descriptions: list[Any] = []
    engine = build_engine(config, on_result=descriptions.append)
    try:
        began = time.monotonic()
        for frame in frames:
            # Paced like a camera: a window's latency is then its own, not the backlog of an unpaced replay.
            time.sleep(max(0.0, began + frame.stamp - time.monotonic()))
            engine.submit(frame)
    finally:
        close_engine(engine, flush=False)
    return descriptions, engine.describer.tower_frames_encoded, engine.stats()


def _cache_baseline(tower, frames: list[Frame], windows: list[tuple[float, ...]], window_s: float,
                    synchronize: Callable[[], None]) -> dict[str, Any]:
    """Video-tower work for the same windows: the grid cache over the stream vs 8 frames encoded per window."""
    from motionllm_ros.model.video_tower import (
        FRAMES_PER_CLIP,
        preprocess_frames,
        sample_frame_indices,
    )
    from motionllm_ros.model.window_describer import GridFrameEncoder

    by_stamp = {frame.stamp: frame.rgb for frame in frames}
    last_stamp = max(max(stamps) for stamps in windows)
    grid = GridFrameEncoder(tower, window_s / FRAMES_PER_CLIP)
    encoded_stamps = []
    start = time.perf_counter()
    for frame in frames:
        if frame.stamp <= last_stamp and grid(frame.stamp, frame.rgb) is not None:
            encoded_stamps.append(frame.stamp)
    synchronize()
    cache_s = time.perf_counter() - start
    # The first window pays for all its frames; each later one only for the frames that arrived since the one
    # before it: the steady state a robot runs in, where the saving is window / stride.
    later = [sum(previous[-1] < stamp <= current[-1] for stamp in encoded_stamps)
             for previous, current in itertools.pairwise(windows)]

    reencoded = 0
    start = time.perf_counter()
    for stamps in windows:
        picked = [by_stamp[stamps[i]] for i in sample_frame_indices(len(stamps))]
        for rgb in picked:  # one frame per call, as the cache encodes: the same work per encode
            tower.encode_frames(preprocess_frames([rgb]))
            reencoded += 1
    synchronize()
    reencode_s = time.perf_counter() - start
    return {"windows": len(windows), "encodes_cache": grid.encoded, "encodes_reencode": reencoded,
            "encodes_ratio": reencoded / max(grid.encoded, 1),
            "encodes_per_later_window_cache": float(np.mean(later)) if later else None,
            "encodes_ratio_steady": float(FRAMES_PER_CLIP / np.mean(later)) if later and np.mean(later) > 0 else None,
            "ms_per_window_cache": cache_s * 1e3 / len(windows),
            "ms_per_window_reencode": reencode_s * 1e3 / len(windows),
            "inputs": f"the {len(windows)} windows of the end-to-end run, window {window_s:g} s"}


def run_all(clip: str | Path, pose_model: str | Path, model_dir: str | Path | None = None,
            quick: bool = False) -> dict[str, Any]:
    """Measure every stage on `clip` (looped when short); `quick` uses fewer repeats and a short window."""
    import torch

    from motionllm_ros.model.bench import bench_llm
    from motionllm_ros.model.checkpoint import load_model_dir, make_tiny_checkpoint
    from motionllm_ros.model.towers import CLIP, encode_sampled_frames
    from motionllm_ros.model.video_tower import FRAMES_PER_CLIP, preprocess_frames

    began = time.perf_counter()
    load_at_start = os.getloadavg()[0]
    clip, pose_model = str(clip), str(pose_model)
    cuda = torch.cuda.is_available()
    device = "cuda" if cuda else "cpu"
    synchronize: Callable[[], None] = torch.cuda.synchronize if cuda else (lambda: None)
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    repeats = 5 if quick else 30
    defaults = Config().window
    window_s, stride_s = (QUICK_WINDOW_S, QUICK_STRIDE_S) if quick else (defaults.length_s, defaults.stride_s)
    stages: dict[str, dict[str, Any]] = {}

    with tempfile.TemporaryDirectory(prefix="motionllm-bench-") as scratch:
        tiny = model_dir is None
        model_dir = make_tiny_checkpoint(Path(scratch) / "tiny-model") if tiny else Path(model_dir)

        frames, decode_times = _decode(clip, min_frames=1 if quick else 100)
        size = "x".join(map(str, frames[0].rgb.shape[1::-1]))
        stages["decode"] = stage(decode_times, f"{Path(clip).name}, {size}")
        fps = _clip_fps(frames)
        pose_frames = _looped(frames, len(frames) if quick else max(len(frames), 60), fps)
        stages.update(_pose_stages(pose_model, pose_frames))
        stages["smpl_fit"], stages["smpl_fit_smplify_baseline"], fit_comparison = _fit_stages(quick)
        stages["humanml3d_features"] = _feature_stage(repeats)

        model = load_model_dir(model_dir, dtype="float16" if cuda else "float32", device=device)
        rgb = frames[0].rgb
        stages["video_preprocess"] = stage(_timed(lambda: preprocess_frames([rgb]), repeats, lambda: None),
                                           f"1 frame {size} -> 224x224")
        towers, unavailable = _towers(model.video_tower_dir, Path(scratch) / "engines", device)
        any_tower = next(iter(towers.values()))
        per_frame = any_tower.kind == CLIP  # a languagebind tower encodes a window's 8 frames together
        pixels = preprocess_frames([rgb] if per_frame else [rgb] * FRAMES_PER_CLIP)
        for name, tower in towers.items():
            encode = (lambda t=tower: t.encode_frames(pixels)) if per_frame else (
                lambda t=tower: encode_sampled_frames(t, pixels))
            stages[f"video_encode.{name}"] = stage(
                _timed(encode, repeats, synchronize),
                f"{'1 frame' if per_frame else f'{FRAMES_PER_CLIP} frames together (temporal attention)'}, "
                f"{tower.patches_per_frame} patches x {tower.hidden_size}, {device}")
        with torch.inference_mode():
            features = encode_sampled_frames(any_tower, preprocess_frames([rgb] * FRAMES_PER_CLIP))
            tokens = features.reshape(-1, features.shape[-1]).to(device, torch.float32)
            stages["projector"] = stage(_timed(lambda: model.video_projector(tokens), repeats, synchronize),
                                        f"{FRAMES_PER_CLIP} frames x {features.shape[1]} tokens x "
                                        f"{features.shape[2]} -> {model.config.n_embd}")

        windows_wanted = QUICK_WINDOWS if quick else FULL_WINDOWS
        stream = _looped(frames, int(np.ceil((window_s + windows_wanted * stride_s) * fps)) + 1, fps)
        config = Config().replace({
            "device": device, "pose.model": pose_model, "model.dir": str(model_dir),
            "model.dtype": "float16" if cuda else "float32", "model.max_new_tokens": 16 if quick else 64,
            "engine.lossless": True, "window.length_s": window_s, "window.stride_s": stride_s,
            "video.backend": "torch", "video.engine_cache_dir": str(Path(scratch) / "engines")})
        descriptions, tower_frames, engine_stats = _engine_run(config, stream)
        if not descriptions:
            raise ValueError(f"{clip}: the engine described no window ({engine_stats})")
        stages["window_latency"] = stage(
            [d.latency_s for d in descriptions],
            f"{len(descriptions)} windows of {window_s:g} s every {stride_s:g} s, {len(stream)} frames replayed at "
            f"{fps:.3g} fps, up to {config.model.max_new_tokens} new tokens, torch tower; includes the wait for the "
            "next frame, which closes a window")
        # The same windows as the engine's: every replayed frame each description's window holds.
        windows = [tuple(f.stamp for f in stream if in_window(f.stamp, d.window_start, d.window_end, stream[0].stamp))
                   for d in descriptions]
        if per_frame:
            video_cache = _cache_baseline(towers.get("torch", any_tower), stream, windows, window_s, synchronize)
        else:
            video_cache = {"windows": len(windows), "not_applicable": "the languagebind tower attends across the 8 "
                           "frames of a window, so no frame's features can be reused by another window"}
        video_cache["encodes_in_engine_run"] = tower_frames
        peak_rss_pipeline = _proc_status_mb("VmHWM")

        llm = bench_llm(model, context=256 if quick else 2200, new_tokens=16 if quick else 64,
                        official_tokens=3, repeats=3)
        stages["llm_prefill"] = stage(llm["prefill_s_runs"], f"{llm['context']}-token context, {llm['dtype']}, "
                                                             f"{llm['parameters']:,} parameters")
        stages["llm_decode"] = stage([1.0 / rate for rate in llm["decode_tokens_per_s_runs"]],
                                     f"ms per token over {llm['new_tokens']} KV-cached tokens after that context")
        model_info = {"dir": "tiny random checkpoint (temporary)" if tiny else str(model_dir),
                      "random_weights": model.random_weights, "llm_parameters": llm["parameters"]}

    memory = {"peak_rss_mb_pipeline": peak_rss_pipeline, "peak_rss_mb": _proc_status_mb("VmHWM"),
              "note": "peak_rss_mb includes bench_llm's 1 GiB copy-bandwidth buffers; VmHWM is per process"}
    if cuda:
        memory["cuda_max_allocated_mb"] = torch.cuda.max_memory_allocated() / 2**20
    return {
        "machine": machine_name(),
        "device": torch.cuda.get_device_name() if cuda else "cpu",
        "cpus": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "load_average_at_start": load_at_start,  # other processes on a shared machine skew every number
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": quick,
        "clip": clip,
        "model": model_info,
        "stages": stages,
        "backends_unavailable": unavailable,
        "memory": memory,
        "baselines": {
            "video_cache": video_cache,
            "kv_cache": {"cached_tokens_per_s": llm["decode_tokens_per_s"],
                         "official_tokens_per_s": llm["official_tokens_per_s"], "speedup": llm["speedup"],
                         "inputs": f"{llm['context']}-token context, official loop over {llm['official_tokens']} "
                                   "tokens"},
            "smpl_fit": fit_comparison,
        },
        "total_s": time.perf_counter() - began,
    }


STAGE_NAMES = {
    "decode": "decode frames",
    "pose": "pose (MediaPipe)",
    "perception": "perception chain (pose + tracking + SMPL fit)",
    "smpl_fit": "SMPL fit (ours)",
    "smpl_fit_smplify_baseline": "SMPL fit, SMPLify-style baseline",
    "humanml3d_features": "HumanML3D features",
    "video_preprocess": "video preprocess",
    "projector": "video projector (one window)",
    "llm_prefill": "LLM prefill",
    "llm_decode": "LLM decode, per token",
    "window_latency": "end to end: last frame of a window -> description",
}


def markdown_table(result: dict[str, Any]) -> str:
    """The result as markdown: a header line, one row per stage, then memory and the baselines."""
    model = result["model"]
    header = (f"Measured on {result['machine']}, device {result['device']}, {result['cpus']} CPUs, {result['date']}"
              f"{' (quick run)' if result['quick'] else ''}, load average {result['load_average_at_start']:.2f} at "
              f"the start; model: {model['dir']}{' (random weights)' if model['random_weights'] else ''}.")
    lines = [header, "", "| stage | median ms | p95 ms | samples | inputs |", "|---|---|---|---|---|"]
    for key, entry in result["stages"].items():
        name = STAGE_NAMES.get(key) or f"video encode, {key.removeprefix('video_encode.')}"
        lines.append(f"| {name} | {entry['median_ms']:.3g} | {entry['p95_ms']:.3g} | {entry['samples']} | "
                     f"{entry['inputs']} |")
    for name, reason in result["backends_unavailable"].items():
        lines.append(f"| video encode, {name} | - | - | 0 | unavailable: {reason} |")
    memory, baselines = result["memory"], result["baselines"]
    kv, fit = baselines["kv_cache"], baselines["smpl_fit"]
    cuda = f", CUDA max allocated {memory['cuda_max_allocated_mb']:.0f} MB" if "cuda_max_allocated_mb" in memory else ""
    peak = (f"Peak memory: RSS {memory['peak_rss_mb_pipeline']:.0f} MB for the pipeline stages, "
            f"{memory['peak_rss_mb']:.0f} MB with the LLM benchmark{cuda}.")
    video_row = _video_cache_row(baselines["video_cache"])
    kv_row = (f"| LLM decode ({kv['inputs']}) | {kv['cached_tokens_per_s']:.3g} tok/s (KV cache) | "
              f"{kv['official_tokens_per_s']:.3g} tok/s (official no-cache loop) | {kv['speedup']:.3g}x |")
    fit_row = (f"| SMPL fit per frame | {fit['ours_median_ms']:.3g} ms median ({fit['frames']} frames) | "
               f"{fit['baseline_median_ms']:.3g} ms median ({fit['baseline_frames']} frames, SMPLify-style) | "
               f"{fit['speedup_median']:.3g}x |")
    lines += ["", peak, "", "| baseline (same run) | ours | baseline | ratio |", "|---|---|---|---|",
              video_row, kv_row, fit_row]
    return "\n".join(lines) + "\n"


def _video_cache_row(cache: dict[str, Any]) -> str:
    if "not_applicable" in cache:
        return (f"| video tower work per window ({cache['windows']} windows) | {cache['encodes_in_engine_run']} "
                f"frames encoded | - | no per-frame cache: {cache['not_applicable']} |")
    steady = ("" if cache["encodes_ratio_steady"] is None else f"; after the first window "
              f"{cache['encodes_per_later_window_cache']:.2f} per window: {cache['encodes_ratio_steady']:.2f}x")
    return (f"| video tower work per window ({cache['windows']} windows) | {cache['encodes_cache']} encodes, "
            f"{cache['ms_per_window_cache']:.3g} ms/window (per-frame grid cache) | {cache['encodes_reencode']} "
            f"encodes, {cache['ms_per_window_reencode']:.3g} ms/window (8 frames re-encoded per window) | "
            f"{cache['encodes_ratio']:.2f}x fewer encodes{steady} |")


# ---------------------------------------------------------------------------------------------- people in view
PEOPLE_HEIGHT = 960  # px: both clips scaled to this height and put side by side (1080x960 for two portrait clips)
PEOPLE_WARMUP_FRAMES = 12  # untimed frames per case first: MediaPipe's graph start-up, the detector finding everyone
PEOPLE_ROUNDS, QUICK_PEOPLE_ROUNDS = 120, 3  # timed frames per case
GREY = 128  # the half of the canvas that shows nobody


@dataclass(frozen=True)
class _PeopleCase:
    key: str
    what: str
    halves: tuple[bool, bool]  # (the pair clip shown, the single clip shown); a hidden half is grey
    max_people: int | None  # None: MediaPipe and track association only (PoseEstimator), no fits
    num_poses: int = 3  # MediaPipe's pose.num_poses (the config's default)
    camera_motion: bool = True  # camera.ego_motion "image" (the default) or "none"


PEOPLE_CASES = (
    _PeopleCase("people1", "1 person", (False, True), 3),
    _PeopleCase("people2", "2 people", (True, False), 3),
    _PeopleCase("people3", "3 people", (True, True), 3),
    _PeopleCase("people3_max1", "3 people, max_people 1", (True, True), 1),
    _PeopleCase("people3_max2", "3 people, max_people 2", (True, True), 2),
    # Without the camera's motion from the image, the chain minus pose only is the fits alone.
    _PeopleCase("people3_static", "3 people, camera.ego_motion none", (True, True), 3, camera_motion=False),
    _PeopleCase("pose_people1", "1 person, pose only", (False, True), None),
    _PeopleCase("pose_people2", "2 people, pose only", (True, False), None),
    _PeopleCase("pose_people3", "3 people, pose only", (True, True), None),
    # MediaPipe re-runs its person detector on every frame while it tracks fewer than num_poses people, and runs
    # its landmark model once per tracked person: these show what num_poses, not max_people, decides.
    _PeopleCase("people1_poses1", "1 person, num_poses 1, max_people 1", (False, True), 1, 1),
    _PeopleCase("people3_poses1", "3 people, num_poses 1, max_people 1", (True, True), 1, 1),
    _PeopleCase("people3_poses2", "3 people, num_poses 2, max_people 2", (True, True), 2, 2),
)


def scaled_to_height(image: np.ndarray, height: int) -> np.ndarray:
    """(H, W, 3) -> (height, W * height / H, 3), the aspect kept."""
    import cv2

    return cv2.resize(image, (max(1, round(image.shape[1] * height / image.shape[0])), height),
                      interpolation=cv2.INTER_AREA)


def side_by_side(left: np.ndarray, right: np.ndarray, shown: tuple[bool, bool]) -> np.ndarray:
    """`left` beside `right` (of one height); a half not shown is grey, so that every case of people in view comes
    on images of one size."""
    return np.hstack([left if shown[0] else np.full_like(left, GREY), right if shown[1] else np.full_like(right, GREY)])


def _scaled_frames(clip: str, height: int) -> tuple[list[np.ndarray], float]:
    """Every frame of `clip` scaled to `height` rows, and the clip's frame rate."""
    frames, _ = _decode(clip, min_frames=1)
    return [scaled_to_height(f.rgb, height) for f in frames], _clip_fps(frames)


def _ping_pong(count: int, start: int, length: int) -> list[int]:
    """`length` frame indices walking forward from `start` and back at the ends: motion without a jump."""
    cycle = list(range(count)) + list(range(count - 2, 0, -1)) or [0]
    return [cycle[(start + i) % len(cycle)] for i in range(length)]


def _spread(times_s: list[float]) -> dict[str, float]:
    array = np.asarray(times_s) * 1e3
    p10, median, p90, p95 = np.percentile(array, [10, 50, 90, 95])
    return {"median_ms": float(median), "p10_ms": float(p10), "p90_ms": float(p90), "p95_ms": float(p95),
            "samples": len(array)}


def run_people(single_clip: str | Path, pair_clip: str | Path, pose_model: str | Path, quick: bool = False,
               height: int = PEOPLE_HEIGHT) -> dict[str, Any]:
    """Per-frame perception time with 1, 2 and 3 people in view, and with 3 at max_people 1, 2, 3.

    Each frame is the pair clip's frame (two people) and the single clip's frame (one person), both scaled to
    `height`, side by side; a half showing nobody is grey, so every case sees the same image size. Every case has
    its own pipeline (the node's config defaults, MediaPipe num_poses 3), fed the same frame in turn (cases
    interleaved, the first case rotating every round), so the load of a shared machine falls on all alike.
    """
    from motionllm_ros.perception.pipeline import PerceptionPipeline, perception_params
    from motionllm_ros.perception.pose import PoseEstimator

    began = time.perf_counter()
    load_at_start = os.getloadavg()[0]
    single_clip, pair_clip, pose_model = str(single_clip), str(pair_clip), str(pose_model)
    pair, fps = _scaled_frames(pair_clip, height)
    single, _ = _scaled_frames(single_clip, height)
    count = min(len(pair), len(single))
    rounds = QUICK_PEOPLE_ROUNDS if quick else PEOPLE_ROUNDS
    indices = _ping_pong(count, 0, PEOPLE_WARMUP_FRAMES + rounds)

    def canvas(case: _PeopleCase, index: int) -> np.ndarray:
        return side_by_side(pair[index], single[index], case.halves)

    base = Config()
    runners = [PoseEstimator(pose_model, perception_params(base).pose) if case.max_people is None else
               PerceptionPipeline(pose_model, params=perception_params(base.replace(
                   {"pose.max_people": case.max_people, "pose.num_poses": case.num_poses,
                    "camera.ego_motion": "image" if case.camera_motion else "none"})))
               for case in PEOPLE_CASES]
    times: list[list[float]] = [[] for _ in PEOPLE_CASES]  # wall seconds per frame
    # CPU seconds per frame, all threads of this process (MediaPipe runs its own): the work itself, which the
    # other processes of a shared machine do not stretch as they stretch the wall time.
    cpu: list[list[float]] = [[] for _ in PEOPLE_CASES]
    seen: list[list[int]] = [[] for _ in PEOPLE_CASES]  # people MediaPipe reported, per timed frame
    fitted: list[list[int]] = [[] for _ in PEOPLE_CASES]  # people fitted (chain) or tracked (pose only)
    valid: list[list[int]] = [[] for _ in PEOPLE_CASES]  # fits that came out valid (chain only)
    try:
        for step, index in enumerate(indices):
            stamp = step / fps
            for offset in range(len(PEOPLE_CASES)):
                which = (step + offset) % len(PEOPLE_CASES)
                case, runner = PEOPLE_CASES[which], runners[which]
                rgb = canvas(case, index)
                start, start_cpu = time.perf_counter(), time.process_time()
                result = runner.process(rgb, stamp)
                elapsed, elapsed_cpu = time.perf_counter() - start, time.process_time() - start_cpu
                if step < PEOPLE_WARMUP_FRAMES:
                    continue
                times[which].append(elapsed)
                cpu[which].append(elapsed_cpu)
                seen[which].append(result.num_people)
                fitted[which].append(len(result.people))
                valid[which].append(sum(p.valid for p in result.people) if case.max_people else 0)
    finally:
        for runner in runners:
            runner.close()

    # Ratios frame by frame: each case against the one-person case of the same round, a few ms apart, so that
    # load which comes and goes (a shared machine) cancels; the ratio of the medians is kept next to it.
    one, one_cpu = np.asarray(times[0]), np.asarray(cpu[0])
    cases: dict[str, dict[str, Any]] = {}
    for i, case in enumerate(PEOPLE_CASES):
        paired = np.asarray(times[i]) / one
        cases[case.key] = {"what": case.what, "max_people": case.max_people, "num_poses": case.num_poses,
                           **_spread(times[i]),
                           "ratio_to_one_person": float(np.median(paired)),
                           "ratio_p10": float(np.percentile(paired, 10)),
                           "ratio_p90": float(np.percentile(paired, 90)),
                           "ratio_of_medians": float(np.median(times[i]) / np.median(one)),
                           "cpu_median_ms": float(np.median(cpu[i]) * 1e3),
                           "cpu_ratio_to_one_person": float(np.median(cpu[i]) / np.median(one_cpu)),
                           "seen": dict(sorted(Counter(seen[i]).items())),
                           "fitted": dict(sorted(Counter(fitted[i]).items())),
                           "valid_fits": int(sum(valid[i]))}
    keys = [case.key for case in PEOPLE_CASES]
    # Same frames, same MediaPipe work: what one more fitted person adds (max_people 1 -> 3, frame by frame).
    extra = (np.asarray(times[keys.index("people3")]) - np.asarray(times[keys.index("people3_max1")])) / 2
    extra_cpu = (np.median(cpu[keys.index("people3")]) - np.median(cpu[keys.index("people3_max1")])) / 2
    size = "x".join(map(str, canvas(PEOPLE_CASES[0], 0).shape[1::-1]))
    return {
        "stage": "people",
        "machine": machine_name(),
        "cpus": os.cpu_count(),
        "load_average_at_start": load_at_start,
        "load_average_at_end": os.getloadavg()[0],
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "quick": quick,
        "inputs": {"pair_clip": pair_clip, "single_clip": single_clip, "canvas": size,
                   "layout": f"{Path(pair_clip).name} on the left, {Path(single_clip).name} on the right, each "
                             f"scaled to {height} px high; a half showing nobody is grey",
                   "frames": f"{count} frames walked forward and back, {PEOPLE_WARMUP_FRAMES} untimed, then "
                             f"{rounds} timed per case, cases interleaved",
                   "pose_num_poses": base.pose.num_poses},
        "cases": cases,
        "ms_per_extra_fitted_person": float(np.median(extra) * 1e3),
        "cpu_ms_per_extra_fitted_person": float(extra_cpu * 1e3),
        "total_s": time.perf_counter() - began,
    }


def people_markdown(result: dict[str, Any]) -> str:
    """The people result as markdown: the inputs, a row per case, and what a third person and the cap cost."""
    inputs, cases = result["inputs"], result["cases"]
    lines = [f"Measured on {result['machine']}, {result['cpus']} CPUs, {result['date']}"
             f"{' (quick run)' if result['quick'] else ''}, load average {result['load_average_at_start']:.2f} at "
             f"the start, {result['load_average_at_end']:.2f} at the end. Frames {inputs['canvas']}: "
             f"{inputs['layout']}; {inputs['frames']}. Chain: MediaPipe + tracking + camera motion + SMPL fits "
             f"(config defaults: num_poses {inputs['pose_num_poses']}, max_people 3, unless the case says "
             "otherwise); pose only: MediaPipe + track association.", "",
             "| case | median ms | p10-p90 ms | x one person (frame by frame, p10-p90) | CPU ms (median) | "
             "x one person (CPU) | people seen (frames) | fitted (frames) |",
             "|---|---|---|---|---|---|---|---|"]
    for entry in cases.values():
        counts = ", ".join(f"{k}: {v}" for k, v in entry["seen"].items())
        fits = ("- (no fits)" if entry["max_people"] is None else
                ", ".join(f"{k}: {v}" for k, v in entry["fitted"].items()) + f"; {entry['valid_fits']} valid")
        lines.append(f"| {entry['what']} | {entry['median_ms']:.1f} | {entry['p10_ms']:.1f}-{entry['p90_ms']:.1f} | "
                     f"{entry['ratio_to_one_person']:.2f} ({entry['ratio_p10']:.2f}-{entry['ratio_p90']:.2f}) | "
                     f"{entry['cpu_median_ms']:.1f} | {entry['cpu_ratio_to_one_person']:.2f} | {counts} | {fits} |")
    three = cases["people3"]["ratio_to_one_person"]
    lines += ["", f"3 people in view: {three:.2f}x the one-person frame time, "
                  f"{'within' if three <= 1.2 else 'beyond'} 20% (CPU: "
                  f"{cases['people3']['cpu_ratio_to_one_person']:.2f}x). Each extra fitted person: "
                  f"{result['ms_per_extra_fitted_person']:.1f} ms wall, "
                  f"{result['cpu_ms_per_extra_fitted_person']:.1f} ms CPU (3 people, max_people 3 against 1); "
                  f"max_people 1 keeps 3-people frames at {cases['people3_max1']['ratio_to_one_person']:.2f}x,"
                  f" max_people 2 at {cases['people3_max2']['ratio_to_one_person']:.2f}x; num_poses 1 at "
                  f"{cases['people3_poses1']['ratio_to_one_person']:.2f}x, num_poses 2 at "
                  f"{cases['people3_poses2']['ratio_to_one_person']:.2f}x."]
    return "\n".join(lines) + "\n"
