"""`motionllm`: the command line of motionllm_ros. Works without ROS.

Every subcommand imports what it needs when it runs, so `motionllm --help` never loads numpy, OpenCV or torch.
Exit status: 0 on success (also when bad frames were skipped: they are counted in the output), 2 when the input or
the configuration cannot be used at all, with a message on stderr that says why.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import Any, Callable, Sequence

from motionllm_ros import config as config_mod

LOG = logging.getLogger("motionllm")


def _add_config_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params-file", metavar="YAML",
                        help="ROS 2 parameter file (the node's, e.g. config/motionllm.yaml); defaults otherwise")
    parser.add_argument("-p", "--param", metavar="NAME=VALUE", action="append", default=[],
                        help="set one parameter, e.g. -p input.bag_topic=/camera/image_raw (repeatable; "
                             "`motionllm params` lists them)")


def _config_from_args(args: argparse.Namespace, **flag_overrides: Any) -> config_mod.Config:
    overrides = dict(config_mod.parse_override(text) for text in args.param)
    overrides.update({name: value for name, value in flag_overrides.items() if value is not None})
    return config_mod.load_config(args.params_file, overrides)


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
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    frames = commands.add_parser(
        "frames", help="read a video, rosbag2 recording or camera and report what it yields",
        description="Read INPUT to the end and report frame count, size, fps, stamps and skipped frames by reason.")
    frames.add_argument("input", metavar="INPUT", help="video file, rosbag2 directory / .mcap / .db3, or a camera "
                                                       "index such as 0")
    frames.add_argument("--topic", help="image topic of a rosbag2 recording (default: the image topic with the "
                                        "most messages)")
    frames.add_argument("--limit", type=int, help="stop after this many frames (cameras never end)")
    frames.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    _add_config_flags(frames)
    frames.set_defaults(handler=_cmd_frames)

    params = commands.add_parser("params", help="list every parameter with its value, type and help")
    params.add_argument("--json", action="store_true")
    _add_config_flags(params)
    params.set_defaults(handler=_cmd_params)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="[%(levelname)s] %(name)s: %(message)s")
    handler: Callable[[argparse.Namespace], int] = args.handler
    from motionllm_ros.sources.base import SourceError

    try:
        return handler(args)
    except (SourceError, config_mod.ConfigError) as error:
        print(f"motionllm: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
