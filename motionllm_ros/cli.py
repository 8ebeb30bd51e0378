"""`motionllm`: the command line of motionllm_ros. Works without ROS.

Every subcommand imports what it needs when it runs, so `motionllm --help` never loads numpy, OpenCV or torch.
Exit status: 0 on success (also when bad frames were skipped: they are counted in the output), 2 when the input or
the configuration cannot be used at all, with a message on stderr that says why.
"""

from __future__ import annotations

import argparse
import functools
import json
import logging
import os
import sys
from typing import Any, Callable, Sequence

from motionllm_ros import config as config_mod
from motionllm_ros import quiet

LOG = logging.getLogger("motionllm")
RANDOM_WEIGHTS_NOTE = "note: this checkpoint has RANDOM WEIGHTS; {what} meaningless"
RAW_BAG_HINT_BYTES = 100e6  # above this, record-bag suggests --compressed


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params-file", metavar="YAML",
                        help="ROS 2 parameter file (the node's, e.g. config/motionllm.yaml); defaults otherwise")
    parser.add_argument("-p", "--param", metavar="NAME=VALUE", action="append", default=[],
                        help="set one parameter, e.g. -p input.bag_topic=/camera/image_raw (repeatable; "
                             "`motionllm params` lists them)")


def _positive_int(text: str) -> int:
    """argparse type: a whole number >= 1 (frame limits, worker counts)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, got {value}")
    return value


def _number_in(low: float, high: float, expected: str) -> Callable[[str], float]:
    """argparse type: a number x with low < x <= high (NaN never is)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if not low < value <= high:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    return parse


def _config_from_args(args: argparse.Namespace, **flag_overrides: Any) -> config_mod.Config:
    overrides = dict(config_mod.parse_override(text) for text in args.param)
    overrides.update({name: value for name, value in flag_overrides.items() if value is not None})
    return config_mod.load_config(args.params_file, overrides)


def _with_pose_model(config: config_mod.Config) -> config_mod.Config:
    """`pose.model` empty: the cached default, downloaded on first use (announced on stderr). The node never
    downloads: there a missing model is an error naming the file and how to get it."""
    from motionllm_ros import models_cache
    from motionllm_ros.perception.pose import PoseModelError

    if config.pose.model:
        return config
    path = models_cache.default_pose_model()
    if not path.exists():
        url = models_cache.url_for()
        print(f"first run: downloading MediaPipe's pose model {url} -> {path} (`motionllm models` does this step)",
              file=sys.stderr, flush=True)
        try:
            models_cache.install(url)
        except models_cache.ModelDownloadError as error:
            raise PoseModelError(f"{error}; without it: {models_cache.how_to_get(path)}") from None
    return config.replace({"pose.model": str(path)})


# ----------------------------------------------------------------------------------------------------- frames
def _cmd_frames(args: argparse.Namespace) -> int:
    from motionllm_ros.sources import open_source

    config = _config_from_args(args, **{"input.bag_topic": args.topic})
    source = open_source(args.input, topic=config.input.bag_topic or None)
    summary = summarize_frames(source, limit=args.limit)
    if args.json:
        print(json.dumps(summary))
    else:
        print(format_frames_summary(summary))
    return 0


def summarize_frames(source, limit: int | None = None) -> dict[str, Any]:
    """Reads a source to its end (or `limit` frames) and describes what it yielded and what it skipped."""
    from collections import Counter

    sizes: Counter[tuple[int, int]] = Counter()
    frame_ids: Counter[str] = Counter()
    first = last = None
    count = 0
    for frame in source:
        height, width = frame.rgb.shape[:2]
        sizes[(width, height)] += 1
        frame_ids[frame.frame_id] += 1
        first = frame.stamp if first is None else first
        last = frame.stamp
        count += 1
        if limit is not None and count >= limit:
            break
    measured = (count - 1) / (last - first) if count > 1 and last > first else None
    (width, height), _ = sizes.most_common(1)[0] if sizes else ((None, None), 0)
    return {
        "input": source.info.name,
        "kind": source.info.kind,
        "topic": getattr(source, "topic", None),
        "frames": count,
        "width": width,
        "height": height,
        "sizes": [[w, h, n] for (w, h), n in sizes.most_common()],
        "fps": source.info.nominal_fps if source.info.nominal_fps else measured,
        "fps_measured": measured,
        "first_stamp": first,
        "last_stamp": last,
        "frame_ids": sorted(frame_ids),
        "skipped": dict(sorted(source.skipped.counts.items())),
    }


def format_frames_summary(s: dict[str, Any]) -> str:
    lines = [f"input:    {s['kind']} {s['input']}"]
    if s["frames"]:
        sizes = ", ".join(f"{w}x{h} ({n})" for w, h, n in s["sizes"])
        fps = f"{s['fps']:.3f} fps" if s["fps"] else "fps unknown"
        measured = f", measured {s['fps_measured']:.3f}" if s["fps_measured"] else ""
        lines.append(f"frames:   {s['frames']}  size {sizes}  {fps}{measured}")
        lines.append(f"stamps:   {s['first_stamp']:.6f} .. {s['last_stamp']:.6f} s  "
                     f"frame_id {', '.join(repr(f) for f in s['frame_ids'])}")
    else:
        lines.append("frames:   0")
    skipped = ", ".join(f"{reason} {n}" for reason, n in s["skipped"].items()) or "none"
    lines.append(f"skipped:  {skipped}")
    return "\n".join(lines)


# -------------------------------------------------------------------------------------------------------- run
def _cmd_run(args: argparse.Namespace) -> int:
    from motionllm_ros.outputs import check_output_file
    from motionllm_ros.runtime import build_engine, close_engine, description_record, intrinsics_of, replay
    from motionllm_ros.sources import at_recorded_rate, open_source

    overrides = {"pose.model": args.pose_model, "smpl.model": args.smpl_model, "input.bag_topic": args.topic,
                 "model.dir": args.model}
    if args.live:
        overrides["engine.lossless"] = False
    elif not args.input.isdigit():
        overrides["engine.lossless"] = True  # files are replayed whole; a camera is live
    config = _config_from_args(args, **overrides)
    if args.out is not None:
        check_output_file(args.out, "--out")
    source = open_source(args.input, topic=config.input.bag_topic or None)
    config = _with_pose_model(config)
    intrinsics = intrinsics_of(source)
    mcap = None
    if args.mcap is not None:  # the path is checked here, the file created once the models have loaded
        from motionllm_ros.recording import BagRecorder, stamp_offset_for

        mcap = BagRecorder(args.mcap, distro=args.distro, compressed=not args.mcap_raw,
                           stamp_offset_s=stamp_offset_for(source.info.kind))
    out = recorder = None  # opened once the models have loaded; publish() runs only after frames were submitted

    def publish(d) -> None:
        track = "-" if d.track_id is None else d.track_id
        print(f"[{d.window_start:10.3f} .. {d.window_end:10.3f}] track {track} ({d.num_valid}/{d.num_frames} frames) "
              f"{d.text}  [{', '.join(_label_with_span(d, k) for k in range(len(d.labels)))}]", flush=True)
        if out is not None:
            out.write(json.dumps(description_record(d, args.input)) + "\n")
            out.flush()
        if recorder is not None:
            recorder.write_description(d)

    # The same models and engine as the ROS node.
    engine = build_engine(config, on_result=publish, intrinsics=intrinsics)
    model = getattr(engine.describer, "model", None)  # MotionLlm with --model; the primitives have none
    if model is not None and model.random_weights:
        print(RANDOM_WEIGHTS_NOTE.format(what="its descriptions are"), file=sys.stderr)
    try:
        out = open(args.out, "w") if args.out is not None else None
        if mcap is not None:
            mcap.open()
            recorder = mcap
        # A camera is live by nature; a recording replayed --live runs at its recorded rate.
        frames = at_recorded_rate(source) if args.live and not args.input.isdigit() else source
        replay(engine, progress(frames, source.info.expected_frames, "run", args.limit), recorder, intrinsics)
    finally:
        close_engine(engine, flush=True)  # before closing the outputs: the last window is described here
        if out is not None:
            out.close()
        if recorder is not None:
            recorder.close()
            print(f"recording: {recorder.output} ({', '.join(f'{t} {n}' for t, n in recorder.counts.items())})")
    stats = engine.stats()
    print(f"frames {stats.get('submitted', 0)} submitted, {stats.get('processed', 0)} processed, "
          f"{stats.get('dropped_frames', 0)} dropped; windows {stats.get('windows', 0)}, described "
          f"{stats.get('described', 0)}, dropped {stats.get('dropped_windows', 0)}; errors "
          f"{ {k: v for k, v in stats.items() if k.startswith('errors.')} or 0}; skipped by the source "
          f"{dict(source.skipped.counts) or 0}")
    return 0


# ------------------------------------------------------------------------------------------------------- eval
def _label_with_span(d, k: int) -> str:
    """'turning_left 0.93 @12.700-13.300': a label, its score and the data-time span it held over, when known."""
    spans = d.details.get("label_spans") or ()
    at = f" @{spans[k][0]:.3f}-{spans[k][1]:.3f}" if k < len(spans) else ""
    return f"{d.labels[k]} {d.scores[k]:.2f}{at}"


def _cmd_eval(args: argparse.Namespace) -> int:
    from motionllm_ros.evaluation.annotations import load_annotations
    from motionllm_ros.evaluation.run import EvalOptions, evaluate
    from motionllm_ros.outputs import check_output_dir

    config = _with_pose_model(_config_from_args(args, **{"pose.model": args.pose_model, "model.dir": args.model}))
    load_annotations(args.labels, args.people)  # size, aliases and content checked before any work
    check_output_dir(args.out, "--out")
    options = EvalOptions(live=args.live, iou_threshold=args.iou, workers=args.workers, ray_address=args.ray,
                          ray_cpus=args.ray_cpus, ray_gpus=args.ray_gpus, retries=args.retries,
                          mcap=not args.no_mcap, bertscore_model=args.bertscore_model,
                          bertscore_layers=args.bertscore_layers)
    result = evaluate(args.labels, args.out, config, args.inputs, options, people_file=args.people)
    failed = [r for r in result["recordings"] if "error" in r]
    for r in failed:
        print(f"failed: {r['input']}: {r['error']}", file=sys.stderr)
    merged = result["merged"]
    print(json.dumps({"recordings": len(result["recordings"]), "failed": len(failed),
                      **{key: merged.get(key) for key in ("micro", "micro_produced", "macro_f1", "latency_s", "frames", "qa",
                                                          "captions")},
                      "per_person": {key: merged["per_person"][key] for key in ("people", "identified", "matched",
                                                                                "micro", "micro_produced")}}))
    print(f"report: {args.out}/report.md, metrics: {args.out}/metrics.json", file=sys.stderr)
    return 1 if failed else 0


# ------------------------------------------------------------------------------------------------- record-bag
def _cmd_record_bag(args: argparse.Namespace) -> int:
    from motionllm_ros.recording import record_bag

    summary = record_bag(args.input, args.out, storage=args.storage, compressed=args.compressed, topic=args.topic,
                         distro=args.distro, frame_id=args.frame_id, scale=args.scale,
                         on_first_frame=None if args.compressed else _say_raw_bag_size)
    print(json.dumps(summary, default=str))
    return 0


def _say_raw_bag_size(frames: int, width: int, height: int) -> None:
    """Raw Image messages hold every pixel: say how much that will be before writing it."""
    size = frames * height * width * 3
    hint = ("; --compressed writes JPEG CompressedImage instead (measured: 10 MB instead of 448 MB for a 2.4 s "
            "1080p clip)") if size > RAW_BAG_HINT_BYTES else ""
    print(f"record-bag: {frames} frames of {width}x{height} as raw rgb8 Image: about {size / 1e6:.0f} MB{hint}",
          file=sys.stderr)


# ------------------------------------------------------------------------------------------------------- pose
def _cmd_pose(args: argparse.Namespace) -> int:
    import numpy as np

    from motionllm_ros.outputs import check_output_file
    from motionllm_ros.perception.pipeline import PerceptionPipeline, perception_params, with_final_shape
    from motionllm_ros.perception.smpl import load_smpl_model
    from motionllm_ros.runtime import intrinsics_of
    from motionllm_ros.sources import SourceError, open_source

    config = _config_from_args(args, **{"pose.model": args.pose_model, "smpl.model": args.smpl_model,
                                        "input.bag_topic": args.topic})
    check_output_file(args.out, "--out")
    smpl = load_smpl_model(config.smpl.model) if config.smpl.model else None
    source = open_source(args.input, topic=config.input.bag_topic or None)
    config = _with_pose_model(config)
    frames = []
    with PerceptionPipeline(config.pose.model, smpl, perception_params(config),
                            intrinsics=intrinsics_of(source)) as pipeline:
        scenes = [pipeline.process(frame.rgb, frame.stamp)
                  for frame in progress(source, source.info.expected_frames, "pose", args.limit)]
        counters = dict(pipeline.counters)
        frames = with_final_shape(main_person_frames(scenes), pipeline.model)
    if not frames:
        raise SourceError(f"{args.input}: the source yielded no frame (skipped: {dict(source.skipped.counts)})")
    result = pose_arrays(frames, source.info.nominal_fps)
    with open(args.out, "wb") as out:  # a file object: numpy would add ".npz" to a name without it
        np.savez(out, **result)
    valid = int(result["valid"].sum())
    print(f"{valid}/{len(frames)} frames with a valid SMPL fit ({100.0 * valid / len(frames):.1f}%) -> {args.out}")
    print(f"per frame: {', '.join(f'{k} {v}' for k, v in sorted(counters.items()))}")
    skipped = dict(source.skipped.counts)
    if skipped:
        print(f"frames skipped by the source: {skipped}")
    return 0


def main_person_frames(scenes) -> list:
    """Per SceneFrame, the PersonFrame of the track fitted in the most frames (the file holds one person), or an
    invalid one that says why that person is missing there."""
    import dataclasses
    from collections import Counter

    import numpy as np

    from motionllm_ros.perception.pipeline import unfitted

    fitted = Counter(p.track_id for scene in scenes for p in scene.people if p.valid)
    main = fitted.most_common(1)[0][0] if fitted else None
    frames = []
    for scene in scenes:
        person = scene.person(main)
        if person is None:
            reason = scene.reason or ("other_person" if scene.people else "no_person")
            person = unfitted(scene.stamp, reason, None, scene.num_people, np.zeros(10))
        frames.append(dataclasses.replace(person, num_people=scene.num_people))
    return frames


def pose_arrays(frames, nominal_fps: float | None) -> dict[str, Any]:
    """The `motionllm pose` .npz: per-frame arrays (T, ...) plus the body shape of the longest track."""
    import numpy as np

    stamps = np.array([f.stamp for f in frames])
    track = np.array([-1 if f.track_id is None else f.track_id for f in frames])
    valid = np.array([f.valid for f in frames])
    # One betas vector for the file: the calibrated shape of the track with the most valid frames.
    betas = np.zeros(10)
    if valid.any():
        ids, counts = np.unique(track[valid], return_counts=True)
        main_track = ids[np.argmax(counts)]
        betas = [f.betas for f in frames if f.valid and f.track_id == main_track][-1]
    measured = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 and stamps[-1] > stamps[0] else 0.0
    return {
        "stamps": stamps,  # (T,) seconds, data time
        "valid": valid,  # (T,) bool
        "reason": np.array([f.reason or "" for f in frames]),  # (T,) why a frame is not valid
        "track_id": track,  # (T,) the target's track id, -1 when nobody was followed
        "num_people": np.array([f.num_people for f in frames]),  # (T,)
        "global_orient": np.stack([f.global_orient for f in frames]),  # (T, 3) axis-angle, output frame
        "body_pose": np.stack([f.body_pose for f in frames]),  # (T, 69) axis-angle
        "betas": np.asarray(betas, dtype=np.float64),  # (10,)
        "betas_per_frame": np.stack([f.betas for f in frames]),  # (T, 10) shape in use at each frame
        "transl": np.stack([f.transl for f in frames]),  # (T, 3) metres
        "joints": np.stack([f.joints for f in frames]),  # (T, 22, 3) metres, y-up, camera-centred
        "residual": np.array([f.residual for f in frames]),  # (T,) metres RMS
        "fps": np.float64(nominal_fps or measured),
    }


def progress(items, total: int | None, label: str, limit: int | None = None):
    """Yields `items`, showing progress on stderr: a live line on a terminal, a line per 10% otherwise."""
    import time

    interactive = sys.stderr.isatty()
    start = time.monotonic()
    next_report = 0.1
    count = 0
    for item in items:
        yield item
        count += 1
        rate = count / max(time.monotonic() - start, 1e-9)
        if interactive:
            of = f"/{total}" if total else ""
            print(f"\r{label}: {count}{of} frames, {rate:.1f} fps", end="", file=sys.stderr, flush=True)
        elif total and count / total >= next_report:
            print(f"{label}: {count}/{total} frames, {rate:.1f} fps", file=sys.stderr, flush=True)
            next_report += 0.1
        if limit is not None and count >= limit:
            break
    if interactive:
        print(file=sys.stderr)


# --------------------------------------------------------------------------------------------------- features
def _cmd_features(args: argparse.Namespace) -> int:
    import numpy as np

    from motionllm_ros.outputs import check_output_file
    from motionllm_ros.perception import humanml3d

    check_output_file(args.out, "--out")
    if args.inverse:
        features = _load_array(args.input, "features")
        joints = humanml3d.recover_from_ric(features)
        _save_npy(args.out, joints)
        print(f"joints {joints.shape} (metres, y-up, 20 fps) -> {args.out}")
        return 0
    joints = _load_array(args.input, "joints")
    if args.input.endswith(".npz"):
        joints = _joints_at_20fps(np.load(args.input), args.max_gap)
    features = humanml3d.compute_features(joints)
    _save_npy(args.out, features)
    print(f"features {features.shape} from {len(joints)} frames at 20 fps -> {args.out}")
    return 0


def _load_array(path: str, what: str):
    """A .npy array of finite numbers, or the `joints` of an .npz from `motionllm pose`; errors name the file."""
    import zipfile

    import numpy as np

    from motionllm_ros.perception.humanml3d import MotionDataError

    try:
        # mmap: a header that claims more elements than the file holds is refused instead of allocated.
        data = np.load(path, allow_pickle=False, mmap_mode="r")
        if isinstance(data, np.lib.npyio.NpzFile):
            if what != "joints" or "joints" not in data.files:
                raise MotionDataError(f"{path}: expected a .npy of {what}, or an .npz from `motionllm pose` with "
                                      f"'joints'; it holds {data.files}")
            data = data["joints"]
        array = np.array(data)
    except FileNotFoundError:
        raise MotionDataError(f"{path}: file not found") from None
    except (OSError, ValueError, EOFError, MemoryError, zipfile.BadZipFile) as error:
        raise MotionDataError(f"{path}: not a readable numpy .npy/.npz file "
                              f"({type(error).__name__}: {' '.join(str(error).split())[:200]})") from None
    if array.dtype.kind not in "fiu":
        raise MotionDataError(f"{path}: holds {array.dtype} values; expected {what} as numbers")
    shape_ok = (array.ndim == 3 and array.shape[0] >= 2 and array.shape[1:] == (22, 3) if what == "joints"
                else array.ndim >= 2 and array.shape[-2] >= 1 and array.shape[-1] == 263)
    if not shape_ok:
        expected = "(T >= 2, 22, 3) joints" if what == "joints" else "(T >= 1, 263) features"
        raise MotionDataError(f"{path}: shape {array.shape}, expected {expected}")
    bad = int(array.size - np.count_nonzero(np.isfinite(array)))
    if bad and not path.endswith(".npz"):  # a pose .npz has NaN joints where the fit failed; only valid ones are used
        raise MotionDataError(f"{path}: {bad} of its {array.size} values are NaN or infinite")
    return array


def _save_npy(path: str, array) -> None:
    import numpy as np

    with open(path, "wb") as out:  # a file object: numpy would add ".npy" to a name without it
        np.save(out, array)


def _joints_at_20fps(pose, max_gap_s: float):
    """(T, 22, 3) joints of the longest tracked segment of a `motionllm pose` result, resampled to 20 fps."""
    import numpy as np

    from motionllm_ros.perception import humanml3d

    for key in ("stamps", "valid", "joints"):
        if key not in pose.files:
            raise humanml3d.MotionDataError(f"pose file lacks '{key}'; it holds {pose.files}")
    stamps, valid, joints = pose["stamps"], pose["valid"].astype(bool), pose["joints"]
    track_id = pose["track_id"] if "track_id" in pose.files else None
    segments = humanml3d.tracked_segments(stamps, valid, max_gap_s, track_id)
    if not segments:
        raise humanml3d.MotionDataError("pose file has no valid frame")
    longest = max(segments, key=lambda s: stamps[s.stop - 1] - stamps[s.start])
    keep = np.zeros(len(stamps), bool)
    keep[longest] = valid[longest]
    if len(segments) > 1:
        LOG.warning("%d tracked segments; using the longest, frames %d..%d", len(segments), longest.start,
                    longest.stop - 1)
    _, resampled = humanml3d.resample(stamps[keep], joints[keep])
    if len(resampled) < 2:
        raise humanml3d.MotionDataError("the longest tracked segment is shorter than two frames at 20 fps")
    return resampled


# ------------------------------------------------------------------------------------------------------ bench
def _cmd_bench(args: argparse.Namespace) -> int:
    config = _config_from_args(args, **{"pose.model": args.pose_model, "model.dir": args.model,
                                        "model.dtype": args.dtype})
    if args.stage == "memory":
        from pathlib import Path

        from motionllm_ros.model.memory import memory_report

        if not config.model.dir:
            raise config_mod.ConfigError("bench memory needs --model DIR")
        print(json.dumps(memory_report(Path(config.model.dir), context=args.context),
                         indent=None if args.json else 1))
        return 0
    if args.stage == "all":
        return _bench_all(args, config)
    if args.stage == "people":
        return _bench_people(args, config)
    if args.stage == "engine":
        return _bench_engine(args, config)
    if args.stage == "llm":
        return _cmd_bench_llm(args, config)
    from motionllm_ros.perception.fit_bench import run_fit_benchmark

    result = run_fit_benchmark(n_frames=args.frames, seed=args.seed, baseline_frames=args.baseline_frames)
    result = {"stage": "fit", "machine": machine_name(), "cpus": os.cpu_count(), **result}
    if args.json:
        print(json.dumps(result))
        return 0
    ours, base = result["ours"], result["baseline"]
    print(f"SMPL fit, {result['frames']} frames of a synthetic motion at {result['fps']:g} fps, one core of "
          f"{result['machine']} (numpy: {result['numpy_threads']})")
    print("| method | frames | median ms | p95 ms | mean error mm | iterations |\n|---|---|---|---|---|---|")
    print(f"| ours (LM, warm start) | {result['frames']} | {ours['median_ms']:.2f} | {ours['p95_ms']:.2f} | "
          f"{ours['mean_error_m'] * 1e3:.3f} | {ours['mean_iterations']:.1f} |")
    print(f"| SMPLify-style (smplx + Adam) | {result['baseline_frames']} | {base['median_ms']:.1f} | "
          f"{base['p95_ms']:.1f} | {base['mean_error_m'] * 1e3:.3f} | {base['mean_iterations']:.0f} |")
    print(f"speed-up (median): {result['speedup_median']:.0f}x")
    return 0


def _bench_all(args: argparse.Namespace, config: config_mod.Config) -> int:
    from motionllm_ros.bench_all import markdown_table, run_all

    if not args.input:
        raise config_mod.ConfigError("bench all needs --input CLIP")
    config = _with_pose_model(config)
    result = run_all(args.input, config.pose.model, config.model.dir or None, quick=args.quick)
    print(json.dumps(result) if args.json else markdown_table(result))
    return 0


def _bench_people(args: argparse.Namespace, config: config_mod.Config) -> int:
    from motionllm_ros.bench_all import people_markdown, run_people

    if not args.input or not args.pair:
        raise config_mod.ConfigError("bench people needs --input CLIP (one person) and --pair CLIP (two people)")
    config = _with_pose_model(config)
    result = run_people(args.input, args.pair, config.pose.model, quick=args.quick)
    print(json.dumps(result) if args.json else people_markdown(result))
    return 0


def _bench_engine(args: argparse.Namespace, config: config_mod.Config) -> int:
    from motionllm_ros.engine_bench import run_load_benchmark

    if not args.input:
        raise config_mod.ConfigError("bench engine needs --input CLIP")
    config = _with_pose_model(config)
    result = {"stage": "engine", "machine": machine_name(), "cpus": os.cpu_count(),
              **run_load_benchmark(args.input, config.pose.model, seconds=args.seconds, overload=args.overload)}
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"live engine on {result['machine']}: {result['clip']} offered at {result['offered_hz']:.0f} Hz = "
          f"{result['overload']:g}x the measured {result['processing_ms_per_frame']:.1f} ms/frame, "
          f"for {result['seconds']:g} s")
    print(f"frames: {result['offered']} offered = {result['processed']} processed + {result['dropped_frames']} "
          f"dropped (accounted: {result['accounted']}); windows {result['windows']}, described "
          f"{result['described']}, dropped {result['dropped_windows']}")
    print(f"RSS: {result['rss_mb_after_warmup']:.1f} MB after warm-up, peak {result['rss_mb_peak']:.1f} MB, growth "
          f"{result['rss_growth_mb']:.1f} MB")
    if result["latency_s_median"] is not None:
        print(f"latency (last frame of a window -> description): median {result['latency_s_median'] * 1e3:.0f} ms, "
              f"p95 {result['latency_s_p95'] * 1e3:.0f} ms, max {result['latency_s_max'] * 1e3:.0f} ms")
    return 0


def machine_name() -> str:
    """CPU model and architecture, printed with every benchmark so that numbers keep their context."""
    import platform

    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return f"{line.split(':', 1)[1].strip()} ({platform.machine()})"
    except OSError:
        pass
    return platform.processor() or platform.machine()


# ------------------------------------------------------------------------------------------------------ model
def _cmd_make_tiny(args: argparse.Namespace) -> int:
    from pathlib import Path

    from motionllm_ros.model.checkpoint import BENCH_LLM, TINY_LLM, make_tiny_checkpoint

    out = make_tiny_checkpoint(Path(args.dir), seed=args.seed, llm=BENCH_LLM if args.bench_size else TINY_LLM,
                               video_tower_kind=args.video_tower)
    print(f"random {'~114M-parameter' if args.bench_size else 'tiny'} MotionLLM checkpoint with a {args.video_tower} "
          f"video tower (RANDOM WEIGHTS: answers are meaningless) -> {out}")
    return 0


def _cmd_convert(args: argparse.Namespace) -> int:
    from pathlib import Path

    import torch

    from motionllm_ros.model.checkpoint import check_release_files, read_manifest
    from motionllm_ros.model.convert import convert_release

    check_release_files({"LLM checkpoint": Path(args.lit_model), "LoRA checkpoint": Path(args.lora),
                         "video projector": Path(args.video_projector)}, Path(args.tokenizer))
    out = convert_release(Path(args.lit_model), Path(args.lora), Path(args.video_projector), Path(args.tokenizer),
                          Path(args.out), n_head=args.n_head, n_query_groups=args.n_query_groups,
                          lora_r=args.lora_r, lora_alpha=args.lora_alpha, dtype=getattr(torch, args.dtype),
                          video_tower=Path(args.video_tower) if args.video_tower else None)
    kind = read_manifest(out)["video_tower_kind"]
    print(f"converted model directory -> {out}" + (f" (video tower: {kind})" if kind else " (no video tower)"))
    return 0


def _cmd_describe(args: argparse.Namespace) -> int:
    import dataclasses
    from pathlib import Path

    from motionllm_ros.model.checkpoint import load_model_dir
    from motionllm_ros.model.describe import describe, load_video_tower, video_embeddings
    from motionllm_ros.model.generate import GREEDY, OFFICIAL_SAMPLING, Generator
    from motionllm_ros.model.memory import quantize_llm
    from motionllm_ros.sources import open_source

    config = _config_from_args(args, **{"model.dir": args.model, "model.question": args.question,
                                        "model.dtype": args.dtype, "input.bag_topic": args.topic,
                                        "model.sampling": "official" if args.official_sampling else None})
    if not config.model.dir:
        raise config_mod.ConfigError("describe needs --model DIR (or -p model.dir=DIR)")
    m = config.model
    model = quantize_llm(load_model_dir(Path(m.dir), dtype=m.dtype), m.quantization)
    tower = load_video_tower(model)
    source = open_source(args.input, topic=config.input.bag_topic or None)
    frames = [frame.rgb for frame in progress(source, source.info.expected_frames, "read")]
    video = video_embeddings(model, tower, frames, flip=args.flip, tokens_per_frame=m.video_tokens_per_frame)
    sampling = dataclasses.replace(OFFICIAL_SAMPLING if m.sampling == "official" else GREEDY,
                                   max_new_tokens=m.max_new_tokens)

    def stream(text: str) -> None:
        print(f"\r{text}", end="", file=sys.stderr, flush=True)

    result = describe(Generator(model), m.question, video=video, sampling=sampling,
                      on_text=stream if sys.stderr.isatty() else None)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    if model.random_weights:
        print(RANDOM_WEIGHTS_NOTE.format(what="its answer is"), file=sys.stderr)
    # An empty answer is a real outcome (end of sequence first); say so rather than print a blank line alone.
    print(f"{len(result.token_ids)} tokens generated, stopped by {result.stop_reason}", file=sys.stderr)
    print(result.answer)
    return 0


def _cmd_build_engine(args: argparse.Namespace) -> int:
    from pathlib import Path

    from motionllm_ros.encoders.select import build_engine_cli
    from motionllm_ros.model.checkpoint import load_model_dir

    config = _config_from_args(args, **{"model.dir": args.model, "video.engine_cache_dir": args.cache_dir,
                                        "video.precision": args.precision})
    if not config.model.dir:
        raise config_mod.ConfigError("build-engine needs --model DIR (or -p model.dir=DIR)")
    tower_dir = load_model_dir(Path(config.model.dir)).video_tower_dir
    if tower_dir is None:
        raise config_mod.ConfigError(f"{config.model.dir}: the model names no video tower")
    engine = build_engine_cli(tower_dir, Path(config.video.engine_cache_dir).expanduser(), config.video.precision)
    print(f"TensorRT engine ready: {engine}")
    return 0


def _cmd_bench_llm(args: argparse.Namespace, config: config_mod.Config) -> int:
    from pathlib import Path

    from motionllm_ros.model.bench import bench_llm
    from motionllm_ros.model.checkpoint import load_model_dir

    if not config.model.dir:
        raise config_mod.ConfigError("bench llm needs --model DIR (e.g. from `motionllm make-tiny-checkpoint DIR "
                                     "--bench-size`)")
    model = load_model_dir(Path(config.model.dir), dtype=config.model.dtype)
    result = {"stage": "llm", "machine": machine_name(), "cpus": os.cpu_count(), "model": config.model.dir,
              **bench_llm(model, context=args.context, new_tokens=args.new_tokens)}
    print(json.dumps(result) if args.json else json.dumps(result, indent=1))
    return 0


# ----------------------------------------------------------------------------------------------------- models
def _cmd_models(args: argparse.Namespace) -> int:
    from motionllm_ros import models_cache

    path = models_cache.cache_dir() / models_cache.file_name(args.variant)
    if path.exists() and not (args.force or args.source):
        print(f"{path} (present; --force fetches it again)")
        return 0
    source = args.source or models_cache.url_for(args.variant)
    print(f"fetching {source} -> {path}", file=sys.stderr, flush=True)
    try:
        installed = models_cache.install(source, args.variant, sha256=args.sha256)
    except models_cache.ModelDownloadError as error:
        raise models_cache.ModelDownloadError(f"{error}; the cache is unchanged ({path.parent})") from None
    print(f"{installed} ({installed.stat().st_size} bytes, checked: complete, MediaPipe loads it"
          + (", sha256 matches)" if args.sha256 else "; no sha256 is published for it)"))
    return 0


# ----------------------------------------------------------------------------------------------------- params
def _cmd_params(args: argparse.Namespace) -> int:
    config = _config_from_args(args)
    values = config.flat()
    if args.json:
        print(json.dumps(values))
        return 0
    for spec in config_mod.parameter_specs():
        limits = f" {list(spec.choices)}" if spec.choices else ""
        if spec.min is not None or spec.max is not None:
            limits = f" [{spec.min}, {spec.max}]"
        print(f"{spec.name} = {values[spec.name]!r}  ({spec.type.__name__}{limits})\n    {spec.help}")
    return 0


# ------------------------------------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="motionllm", description="motionllm_ros without ROS: inspect inputs and run the perception offline.")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    # Also after the subcommand (`motionllm run CLIP -v`); SUPPRESS keeps a subcommand from resetting the top one.
    verbose = argparse.ArgumentParser(add_help=False)
    verbose.add_argument("-v", "--verbose", action="store_true", default=argparse.SUPPRESS,
                         help="also show other libraries' log lines (MediaPipe, LiteRT, onnxscript, torchao, ...)")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also show other libraries' log lines (MediaPipe, LiteRT, onnxscript, torchao, ...)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser = functools.partial(commands.add_parser, parents=[verbose])  # type: ignore[method-assign]

    frames = commands.add_parser(
        "frames", help="read a video, rosbag2 recording or camera and report what it yields",
        description="Read INPUT to the end and report frame count, size, fps, stamps and skipped frames by reason.")
    frames.add_argument("input", metavar="INPUT", help="video file, rosbag2 directory / .mcap / .db3, or a camera "
                                                       "index such as 0")
    frames.add_argument("--topic", help="image topic of a rosbag2 recording (default: the image topic with the "
                                        "most messages)")
    frames.add_argument("--limit", type=_positive_int, help="stop after this many frames (cameras never end)")
    frames.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    _add_config_flags(frames)
    frames.set_defaults(handler=_cmd_frames)

    run = commands.add_parser(
        "run", help="describe what the person in a video, bag or camera is doing, window by window",
        description="Drives the same streaming engine as the ROS node over INPUT and prints one description per "
                    "window (window.length_s, every window.stride_s of data time). Files are processed losslessly "
                    "(every frame, deterministic); --live replays at the recorded rate with the live drop policy.")
    run.add_argument("input", metavar="INPUT", help="video file, rosbag2 recording or camera index")
    run.add_argument("--pose-model", metavar="PATH", help="MediaPipe pose_landmarker .task (pose.model)")
    run.add_argument("--smpl-model", metavar="PATH", help="SMPL .pkl/.npz (smpl.model)")
    run.add_argument("--model", metavar="DIR", help="MotionLLM model directory (model.dir); default: the kinematic "
                                                    "behaviour primitives write the text")
    run.add_argument("--topic", help="image topic of a rosbag2 recording")
    run.add_argument("--out", metavar="OUT.jsonl", help="also write one JSON object per description")
    run.add_argument("--live", action="store_true", help="replay at the recorded rate, dropping what the engine "
                                                         "cannot keep up with (what a robot would have seen)")
    run.add_argument("--mcap", metavar="OUT", help="also record the input images (JPEG), camera_info and the "
                                                   "BehaviorDescription stream: OUT.mcap, or a rosbag2 directory")
    run.add_argument("--mcap-raw", action="store_true", help="record raw Image instead of JPEG CompressedImage")
    run.add_argument("--distro", default="humble", choices=["humble", "jazzy"], help="rosbag2 flavour to write")
    run.add_argument("--limit", type=_positive_int, help="stop after this many frames")
    _add_config_flags(run)
    run.set_defaults(handler=_cmd_run)

    evaluation = commands.add_parser(
        "eval", help="score recordings against annotations (labels, captions, latency, drops, QA) with a report",
        description="Runs recordings (videos, rosbag2) through the same engine as `motionllm run`, losslessly "
                    "unless --live, scores them against the annotation file (YAML; format in "
                    "motionllm_ros/evaluation/annotations.py) and writes metrics.json, predictions.jsonl, one MCAP "
                    "per recording, report.md and timeline plots. Locally, or as tasks on a Ray cluster (--ray). A "
                    "recording that fails is reported and the others complete (exit 1 if any failed).")
    evaluation.add_argument("inputs", nargs="*", metavar="INPUT",
                            help="recordings to evaluate, matched to the annotation file by path or file name "
                                 "(default: every recording it names)")
    evaluation.add_argument("--labels", required=True, metavar="FILE", help="annotation file")
    evaluation.add_argument("--people", metavar="FILE", help="overlay file of `identify` lists (which track is "
                                                             "which annotated person) for the recordings of --labels; "
                                                             "each identified person is then scored on his track")
    evaluation.add_argument("--out", required=True, metavar="DIR")
    evaluation.add_argument("--pose-model", metavar="PATH", help="MediaPipe pose_landmarker .task (pose.model)")
    evaluation.add_argument("--model", metavar="DIR", help="MotionLLM model directory (model.dir)")
    evaluation.add_argument("--workers", type=_positive_int, default=1,
                            help="recordings evaluated in parallel processes")
    evaluation.add_argument("--live", action="store_true", help="replay at the recorded rate with the live drop "
                                                                "policy (what a robot would have seen)")
    evaluation.add_argument("--iou", type=_number_in(0.0, 1.0, "a number in (0, 1]"), default=0.3,
                            help="temporal IoU for a label to match (0.3)")
    evaluation.add_argument("--ray", metavar="ADDRESS", help="run the recordings as Ray tasks: a cluster address, "
                                                             "'auto' (this machine's cluster) or 'local' (start one)")
    evaluation.add_argument("--ray-cpus", type=float, default=1.0, help="CPUs per Ray task (1)")
    evaluation.add_argument("--ray-gpus", type=float, help="GPUs per Ray task (default: 1 when a model is set, "
                                                            "device is not cpu and the cluster has GPUs, else 0)")
    evaluation.add_argument("--retries", type=int, default=2, help="re-runs of a recording whose worker died (2)")
    evaluation.add_argument("--no-mcap", action="store_true", help="do not write recordings/NNN_NAME.mcap")
    evaluation.add_argument("--bertscore-model", metavar="DIR", help="local transformers model directory for "
                                                                     "BERTScore (not computed without one)")
    evaluation.add_argument("--bertscore-layers", type=int, metavar="N", help="hidden layer BERTScore uses "
                                                                              "(default: the last)")
    _add_config_flags(evaluation)
    evaluation.set_defaults(handler=_cmd_eval)

    record = commands.add_parser(
        "record-bag", help="write a video into a rosbag2 recording (images + camera_info) for ros2 bag play",
        description="Video presentation times start at 0 s, which ROS treats as 'no stamp': stamps are offset by "
                    "1700000000 s (2023-11-14).")
    record.add_argument("input", metavar="VIDEO")
    record.add_argument("--out", required=True, metavar="BAG", help="OUT.mcap (one file) or a rosbag2 directory")
    record.add_argument("--storage", default="mcap", choices=["mcap", "sqlite3"])
    record.add_argument("--compressed", action="store_true", help="CompressedImage (JPEG) instead of raw Image")
    record.add_argument("--topic", default="/camera/image_raw")
    record.add_argument("--distro", default="humble", choices=["humble", "jazzy"])
    record.add_argument("--frame-id", default="camera")
    record.add_argument("--scale", type=float, default=1.0, help="resize the frames by this factor")
    record.set_defaults(handler=_cmd_record_bag)

    pose = commands.add_parser(
        "pose", help="online SMPL fit of the target person of a video or bag, written to an .npz",
        description="Runs MediaPipe pose, target tracking and the online SMPL fit over INPUT frame by frame, as "
                    "the node does, and writes stamps (T,), valid (T,), global_orient (T,3), body_pose (T,69), "
                    "betas (10,), transl (T,3), joints (T,22,3) metres y-up, fps, plus track_id, reason, "
                    "num_people, residual and betas_per_frame.")
    pose.add_argument("input", metavar="INPUT", help="video file or rosbag2 recording")
    pose.add_argument("--out", required=True, metavar="OUT.npz")
    pose.add_argument("--pose-model", metavar="PATH", help="MediaPipe pose_landmarker .task (pose.model)")
    pose.add_argument("--smpl-model", metavar="PATH",
                      help="SMPL .pkl/.npz (smpl.model); default: the built-in synthetic skeleton")
    pose.add_argument("--topic", help="image topic of a rosbag2 recording")
    pose.add_argument("--limit", type=_positive_int, help="stop after this many frames")
    _add_config_flags(pose)
    pose.set_defaults(handler=_cmd_pose)

    features = commands.add_parser(
        "features", help="HumanML3D 263-dim motion features from joints, or joints back from features",
        description="IN: an .npz from `motionllm pose` (valid frames of the longest tracked segment, resampled to "
                    "20 fps) or a (T, 22, 3) joints .npy at 20 fps (metres, y-up). Writes raw (T-1, 263) "
                    "features. With --inverse, IN is a (T, 263) features .npy and OUT the (T, 22, 3) joints.")
    features.add_argument("input", metavar="IN")
    features.add_argument("--out", required=True, metavar="OUT.npy")
    features.add_argument("--inverse", action="store_true", help="features -> joints (recover_from_ric)")
    features.add_argument("--max-gap", type=_number_in(0.0, sys.float_info.max, "a finite number of seconds > 0"),
                          default=0.5, metavar="S",
                          help="a tracking gap longer than this ends a segment (default 0.5 s)")
    features.set_defaults(handler=_cmd_features)

    bench = commands.add_parser(
        "bench", help="measure a pipeline stage on this machine, with its same-run baseline",
        description="all: every stage (decode, pose, SMPL fit, HumanML3D features, video encode per backend, "
                    "projector, LLM prefill and decode, end-to-end window latency, peak memory) with the same-run "
                    "baselines, as JSON or a markdown table (scripts/perf_table.py puts it in the README). "
                    "fit: per-frame time of the online SMPL fit (warm start, one core) on a synthetic motion, next "
                    "to an SMPLify-style fit (smplx forward + Adam) run to the same error on the same targets. "
                    "engine: the live engine fed a clip, looped, at --overload times the rate it can process, for "
                    "--seconds: drops, memory (RSS) and latency. memory: LLM weight and KV-cache bytes for each "
                    "precision / quantisation option (--model DIR), and Vicuna-7B's computed. llm: prefill and KV-cached decode next to the "
                    "official no-cache loop, and the fraction of the memory-bandwidth bound reached. "
                    "people: per-frame perception time with 1, 2 and 3 people in view (a frame of --pair next to "
                    "one of --input) and with 3 in view at max_people 1, 2, 3, cases interleaved, as ratios to "
                    "the one-person frame, next to MediaPipe alone on the same frames. "
                    "ros: raw and JPEG camera images over DDS to the real node, with and without the shipped Fast "
                    "DDS profile (needs ROS 2: scripts/setup_ros.sh; its options: motionllm bench ros --help).")
    bench.add_argument("stage", choices=["all", "fit", "engine", "llm", "memory", "people", "ros"])
    bench.add_argument("--frames", type=int, default=300, help="frames for our fitter (default 300)")
    bench.add_argument("--baseline-frames", type=int, default=30,
                       help="frames for the ~500x slower baseline (default 30)")
    bench.add_argument("--seed", type=int, default=0)
    bench.add_argument("--input", metavar="CLIP", help="engine, all: the video to offer; people: a clip of one "
                                                       "person")
    bench.add_argument("--pair", metavar="CLIP", help="people: a clip of two people, put left of --input's")
    bench.add_argument("--pose-model", metavar="PATH", help="engine, all, people: MediaPipe pose_landmarker .task "
                                                             "(pose.model; default: the cached one)")
    bench.add_argument("--seconds", type=float, default=120.0, help="engine: how long to offer frames")
    bench.add_argument("--overload", type=float, default=4.0, help="engine: offered rate / processing rate")
    bench.add_argument("--model", metavar="DIR", help="llm, memory, all: model directory (model.dir)")
    bench.add_argument("--context", type=int, default=2200, help="llm: prompt length in tokens (default 2200)")
    bench.add_argument("--new-tokens", type=int, default=64, help="llm: tokens to decode (default 64)")
    bench.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], help="llm: model.dtype")
    bench.add_argument("--quick", action="store_true", help="all, people: fewer samples (smoke test)")
    bench.add_argument("--json", action="store_true")
    _add_config_flags(bench)
    bench.set_defaults(handler=_cmd_bench)

    tiny = commands.add_parser("make-tiny-checkpoint", help="write a random tiny MotionLLM model directory",
                               description="A random, untrained model in the same on-disk format as a converted "
                                           "release (labelled random in its manifest): for tests and smoke runs.")
    tiny.add_argument("dir", metavar="DIR")
    tiny.add_argument("--seed", type=int, default=0)
    tiny.add_argument("--bench-size", action="store_true", help="~114M parameters, for `motionllm bench llm`")
    tiny.add_argument("--video-tower", choices=["clip", "languagebind"], default="clip",
                      help="a plain CLIP tower (frames encoded one by one) or a LanguageBind one (temporal attention "
                           "across the 8 frames, MotionLLM's real layout); default: clip")
    tiny.set_defaults(handler=_cmd_make_tiny)

    convert = commands.add_parser(
        "convert", help="official MotionLLM release (or any Llama-family lit-gpt checkpoint) -> one model directory",
        description="Defaults are the release's (Vicuna-7B v1.5: 32 heads, LoRA r 64 alpha 16). Another Llama-family "
                    "lit-gpt checkpoint needs its head count: lit_model.pth does not record it and, without "
                    "grouped-query attention, no tensor shape shows it, so a wrong --n-head gives a wrong model. "
                    "Checked against the tensors: n_embd divisible by --n-head, the key/value heads (from the fused "
                    "QKV rows) and the LoRA rank (from lora_A's rows).")
    convert.add_argument("--lit-model", required=True, metavar="lit_model.pth",
                         help="the LLM in lit-gpt format (the release: Vicuna-7B v1.5)")
    convert.add_argument("--lora", required=True, metavar="LORA.pth", help="MotionLLM's LoRA weights")
    convert.add_argument("--video-projector", required=True, metavar="PROJ.pth", help="mlp2x_gelu video projector")
    convert.add_argument("--tokenizer", required=True, metavar="tokenizer.model", help="Vicuna's SentencePiece model")
    convert.add_argument("--video-tower", metavar="DIR",
                         help="LanguageBind_Video_merge or CLIP vision model directory (its kind is read from its "
                              "files; recorded, not copied)")
    convert.add_argument("--n-head", type=int, default=32, metavar="N", help="attention heads (default 32)")
    convert.add_argument("--n-query-groups", type=int, metavar="N",
                         help="key/value heads (grouped-query attention); default: read from the fused QKV weight")
    convert.add_argument("--lora-r", type=int, metavar="R",
                         help="LoRA rank; default: read from lora_A (the release: 64)")
    convert.add_argument("--lora-alpha", type=float, default=16.0, metavar="A", help="LoRA alpha (default 16)")
    convert.add_argument("--dtype", default="bfloat16", choices=["float32", "bfloat16", "float16"])
    convert.add_argument("--out", required=True, metavar="DIR")
    convert.set_defaults(handler=_cmd_convert)

    build = commands.add_parser(
        "build-engine", help="prebuild the TensorRT engine of the video tower (on the robot, once)",
        description="Exports the model's video tower to ONNX and builds a TensorRT engine into the engine cache, "
                    "keyed by the ONNX hash, TensorRT version, GPU and precision; the node then never builds at "
                    "start-up. Needs TensorRT and a CUDA GPU.")
    build.add_argument("--model", metavar="DIR", help="model directory (model.dir)")
    build.add_argument("--cache-dir", metavar="DIR", help="engine cache (video.engine_cache_dir)")
    build.add_argument("--precision", choices=["fp16", "fp32"], help="video.precision")
    _add_config_flags(build)
    build.set_defaults(handler=_cmd_build_engine)

    describe = commands.add_parser("describe", help="one clip in, one MotionLLM answer out",
                                   description="Samples 8 frames of INPUT as the official code does, encodes them "
                                               "(together, with a LanguageBind video tower), "
                                               "and answers QUESTION with the model (greedy unless "
                                               "--official-sampling), with the model.* parameters "
                                               "(max_new_tokens, dtype, quantization, video_tokens_per_frame).")
    describe.add_argument("input", metavar="INPUT", help="video file or rosbag2 recording")
    describe.add_argument("--model", metavar="DIR", help="model directory (model.dir)")
    describe.add_argument("--question", help="what to ask (model.question)")
    describe.add_argument("--topic", help="image topic of a rosbag2 recording")
    describe.add_argument("--official-sampling", action="store_true",
                          help="temperature 0.8, top-k 200 (-p model.sampling=official)")
    describe.add_argument("--flip", action="store_true", help="mirror the frames, as the official preprocessing "
                                                              "randomly does")
    describe.add_argument("--dtype", choices=["float32", "bfloat16", "float16"], help="model.dtype")
    _add_config_flags(describe)
    describe.set_defaults(handler=_cmd_describe)

    models = commands.add_parser(
        "models", help="download MediaPipe's pose model into the user cache (pose.model's default)",
        description="Fetches pose_landmarker_{lite,full,heavy}.task from MediaPipe's published URL (or --from a "
                    "local file or another URL) into $XDG_CACHE_HOME/motionllm/models (default "
                    "~/.cache/motionllm/models). The file enters the cache only when it arrived whole, is a "
                    "PoseLandmarker bundle that MediaPipe loads, and matches --sha256 when given (Google publishes "
                    "no checksum for the 'latest' files). An empty pose.model means the 'full' one there.")
    models.add_argument("--variant", default="full", choices=["lite", "full", "heavy"],
                        help="model size (default full: pose.model's default)")
    models.add_argument("--from", dest="source", metavar="FILE|URL",
                        help="install this file (e.g. on a machine without internet) instead of downloading")
    models.add_argument("--sha256", metavar="HEX", help="expected sha256 of the file")
    models.add_argument("--force", action="store_true", help="fetch again even when present")
    models.set_defaults(handler=_cmd_models)

    params = commands.add_parser("params", help="list every parameter with its value, type and help")
    params.add_argument("--json", action="store_true")
    _add_config_flags(params)
    params.set_defaults(handler=_cmd_params)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["bench", "ros"] and "-h" not in argv[2:3]:  # the delivery benchmark parses its own options
        from motionllm_ros.ros.delivery_bench import main as bench_ros

        return bench_ros(argv[2:])
    parser = build_parser()
    args = parser.parse_args(argv)
    quiet.configure_logging(args.log_level, args.verbose)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        with quiet.native_stderr_silenced():  # MediaPipe, LiteRT, absl write to fd 2 directly
            return handler(args)
    except _usage_errors() as error:
        print(f"motionllm: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("motionllm: interrupted", file=sys.stderr)
        return 130


def _usage_errors() -> tuple[type[Exception], ...]:
    """Errors that mean 'this input, file or setting cannot be used': one line on stderr, exit 2."""
    from motionllm_ros.perception.humanml3d import MotionDataError
    from motionllm_ros.perception.pose import PoseModelError
    from motionllm_ros.perception.smpl import SmplModelError
    from motionllm_ros.sources.base import SourceError

    from motionllm_ros.evaluation.annotations import AnnotationError
    from motionllm_ros.models_cache import ModelDownloadError
    from motionllm_ros.evaluation.captions import CaptionMetricError
    from motionllm_ros.recording import RecordingError
    from motionllm_ros.typestore import InterfaceDefinitionError

    errors: tuple[type[Exception], ...] = (SourceError, config_mod.ConfigError, MotionDataError, PoseModelError,
                                           SmplModelError, RecordingError, InterfaceDefinitionError, AnnotationError,
                                           CaptionMetricError, ModelDownloadError)
    if "motionllm_ros.model.errors" in sys.modules:  # only model commands import torch
        errors += (sys.modules["motionllm_ros.model.errors"].ModelError,)
    return errors


if __name__ == "__main__":
    sys.exit(main())
