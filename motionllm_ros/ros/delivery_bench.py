"""`motionllm bench ros`: do a camera's images reach the node over DDS on one host, and what does the node make of them?

    python -m motionllm_ros.ros.delivery_bench [--seconds 10] [--profiles none,both] [--readme README.md] [--json]
    python -m motionllm_ros.ros.delivery_bench --pair CLIP [--rounds 2] ...   the node's frame rate, 1 vs 3 people

For each stream (raw 640x480 rgb8 at 30 Hz, raw 1080x1920 bgr8 at 12 Hz, JPEG 1080x1920 at 12 Hz) and each Fast DDS
configuration, one case starts the real node (`motionllm_node`, MediaPipe on the CPU) as a subprocess, publishes the
frames of a real clip to it as a camera driver does (best effort, sensor-data depth, header stamp = publish time)
and reads the node's own counters from its last /diagnostics.

Fast DDS reads its XML profile once per process, when the first participant is created, and the node is a process
of its own: so each case's publisher runs in a fresh process too (this module with --case), and a configuration is
just the environment of the two processes, the profile variable set to config/fastdds_profile.xml or unset.
Run it with ROS_DOMAIN_ID set to a domain nobody else uses: every process of the bench joins the caller's domain.

With --pair, every frame is the pair clip's frame (two people) beside the clip's (one person), both scaled to one
height, then letterboxed to the stream's size; each stream and configuration runs twice per round, once with the
pair's half grey (1 person in view) and once with it shown (3 people), alternating for --rounds rounds: the node's
own frame rate ("processed" per second) with 3 people against 1, on the same image size.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

TOPIC = "/bench/image"
CLIP = "video/dribble_single_person.mp4"
POSE_MODEL = "pose_landmarker_full.task"
JPEG_QUALITY = 95  # image_transport's compressed default
STARTUP_TIMEOUT_S = 120.0  # the node loads MediaPipe; on a busy 2-core machine that takes a while
SETTLE_TIMEOUT_S = 15.0  # after the last image, for the node's counters to stop moving
README_BEGIN, README_END = "<!-- delivery:begin -->", "<!-- delivery:end -->"


@dataclass(frozen=True)
class Stream:
    key: str
    width: int
    height: int
    encoding: str  # rgb8 | bgr8 (sensor_msgs/Image) or jpeg (sensor_msgs/CompressedImage)
    rate_hz: float

    @property
    def label(self) -> str:
        kind = "JPEG" if self.encoding == "jpeg" else f"raw {self.encoding}"
        return f"{kind} {self.width}x{self.height} @ {self.rate_hz:g} Hz"


STREAMS = {s.key: s for s in (Stream("vga", 640, 480, "rgb8", 30.0),
                              Stream("full", 1080, 1920, "bgr8", 12.0),  # the clip's own size and rate
                              Stream("jpeg", 1080, 1920, "jpeg", 12.0))}
# Which processes load the shipped profile: (the camera's publisher, the node).
CONFIGS = {"none": (False, False), "both": (True, True), "publisher": (True, False), "node": (False, True)}
CONFIG_LABELS = {"none": "defaults", "both": "shipped, both", "publisher": "shipped, camera only",
                 "node": "shipped, node only"}


@dataclass
class CaseResult:
    stream: str  # Stream.key
    config: str  # CONFIGS key
    published: int
    publish_s: float  # wall time the publishing took: above --seconds when the publisher fell behind its rate
    received: int  # by the node (its "received" counter: images that arrived while active)
    processed: int  # frames through perception
    dropped_busy: int  # frames the node's engine dropped because it was busy (not a transport loss)
    described: int  # windows described
    lost_by_dds: int  # samples Fast DDS itself reports the node's reader never got (its lost-sample status)
    node_message: str  # the last /diagnostics message (the node's own transport-loss estimate is in it)
    camera_segment_mib: float  # the publisher's own largest shared-memory segment: 0.5 = defaults, ~67 = profile
    node_segment_mib: float  # the node's
    people: int = 0  # with --pair: people in view (1 or 3); 0: the clip as it is

    @property
    def received_pct(self) -> float:
        return 100.0 * self.received / self.published if self.published else 0.0


# ------------------------------------------------------------------------------------------------ environment
def find_inputs(video: str | None, pose_model: str | None) -> tuple[Path, Path]:
    """The clip and the MediaPipe model: given, or from $MOTIONLLM_TEST_DATA / $MOTIONLLM_TEST_MODELS (the tests'
    variables), else ../shared/data and ../shared/models as the repository's scripts find them."""
    data = Path(os.environ.get("MOTIONLLM_TEST_DATA") or "../shared/data")
    models = Path(os.environ.get("MOTIONLLM_TEST_MODELS") or data.parent / "models")
    paths = (Path(video) if video else data / CLIP, Path(pose_model) if pose_model else models / POSE_MODEL)
    for path, how in zip(paths, ("--video or MOTIONLLM_TEST_DATA", "--pose-model or MOTIONLLM_TEST_MODELS")):
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: give {how}")
    return paths[0].resolve(), paths[1].resolve()


def shipped_profile() -> Path:
    """config/fastdds_profile.xml as installed with the package (the one setup.bash and the launch file use)."""
    from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

    try:
        return Path(get_package_share_directory("motionllm_ros")) / "config" / "fastdds_profile.xml"
    except PackageNotFoundError:
        raise FileNotFoundError("motionllm_ros is not installed in a ROS prefix (source build/ros-DISTRO/setup.bash)"
                                " or give --profile") from None


def fast_dds_version() -> str:
    """'3.2.2' from the Fast DDS library of the ROS prefixes (libfastdds 3.x, libfastrtps 2.x); '' if not found."""
    for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep):
        for library in sorted(Path(prefix, "lib").glob("libfast*.so.*.*.*")):
            match = re.fullmatch(r"libfast(?:dds|rtps)\.so\.(\d+\.\d+\.\d+)", library.name)
            if match:
                return match.group(1)
    return ""


def profile_variable(version: str) -> str:
    # Fast DDS 2 reads FASTRTPS_..., 3 reads FASTDDS_... Kilted's rmw also honours FASTRTPS_... (deprecated) and then
    # loads the file a second time, which logs "There is other transport with the same id": set only one.
    major = int(version.split(".")[0] or 0)
    return "FASTDDS_DEFAULT_PROFILES_FILE" if major >= 3 else "FASTRTPS_DEFAULT_PROFILES_FILE"


def with_profile(profile: Path | None, version: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")}
    if profile is not None:
        env[profile_variable(version)] = str(profile)
    return env


def ros_distro() -> str:
    """'jazzy' or 'kilted': from ROS_DISTRO, else from the PyPI wheel that installed rclpy (ros-<distro>-rclpy)."""
    if os.environ.get("ROS_DISTRO"):
        return os.environ["ROS_DISTRO"]
    for dist in importlib.metadata.distributions():
        match = re.fullmatch(r"ros-(\w+)-rclpy", dist.metadata["Name"] or "")
        if match:
            return match.group(1)
    return "unknown"


# ------------------------------------------------------------------------------------------------ one case
def read_bgr(clip: Path) -> list[Any]:
    """Every frame of `clip`, (H, W, 3) uint8 BGR."""
    import cv2

    capture = cv2.VideoCapture(str(clip))
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            return frames
        frames.append(bgr)


def side_by_side(pair: list[Any], clip: list[Any], pair_shown: bool) -> list[Any]:
    """The pair's frame left of the clip's, both scaled to the smaller of their heights; the pair's half grey when
    not shown, so that 1 and 3 people in view come on images of one size (as `motionllm bench people` composes
    them)."""
    from motionllm_ros.bench_all import scaled_to_height, side_by_side as beside

    height = min(pair[0].shape[0], clip[0].shape[0])
    return [beside(scaled_to_height(left, height), scaled_to_height(right, height), (pair_shown, True))
            for left, right in zip(pair, clip)]


def camera_messages(stream: Stream, frames: list[Any]) -> list[Any]:
    """One message per frame (BGR), converted once here so that publishing costs what a driver's does."""
    import cv2
    import numpy as np
    from sensor_msgs.msg import CompressedImage, Image

    messages: list[Any] = []
    for bgr in frames:
        height, width = bgr.shape[:2]
        if (width, height) != (stream.width, stream.height):
            # Letterbox instead of stretching, so MediaPipe sees a person of natural proportions.
            scale = min(stream.width / width, stream.height / height)
            small = cv2.resize(bgr, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_AREA)
            bgr = np.zeros((stream.height, stream.width, 3), np.uint8)
            top, left = (stream.height - small.shape[0]) // 2, (stream.width - small.shape[1]) // 2
            bgr[top:top + small.shape[0], left:left + small.shape[1]] = small
        if stream.encoding == "jpeg":
            _, jpeg = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            msg: Any = CompressedImage(format="bgr8; jpeg compressed bgr8", data=jpeg.tobytes())
        else:
            pixels = cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB) if stream.encoding == "rgb8" else bgr
            msg = Image(height=stream.height, width=stream.width, encoding=stream.encoding, is_bigendian=0,
                        step=stream.width * 3, data=pixels.tobytes())
        msg.header.frame_id = "camera"
        messages.append(msg)
    return messages


class NodeStatus:
    """The node's newest 'image input' status from /diagnostics, as {key: value} plus 'message'."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.arrivals = 0  # statuses seen so far
        self._lock = threading.Lock()

    def on_diagnostics(self, msg: Any) -> None:
        for status in msg.status:
            if status.name.endswith(": image input"):
                with self._lock:
                    self.values = {kv.key: kv.value for kv in status.values} | {"message": status.message}
                    self.arrivals += 1

    def read(self) -> tuple[int, dict[str, str]]:
        with self._lock:
            return self.arrivals, self.values


def shm_segments(pid: int | str = "self") -> dict[str, int]:
    """{name: bytes} of the Fast DDS shared-memory segments process `pid` maps: its own, and those of the
    participants it has received from (a reader maps the writer's segment to read the samples from it)."""
    segments: dict[str, int] = {}
    with open(f"/proc/{pid}/maps") as maps:
        for line in maps:
            match = re.match(r"([0-9a-f]+)-([0-9a-f]+) .* /dev/shm/(fast(?:rtps|dds)_(?!port)\w+)$", line.strip())
            if match:
                name = match.group(3)
                segments[name] = segments.get(name, 0) + int(match.group(2), 16) - int(match.group(1), 16)
    return segments


def largest_mib(segments: dict[str, int]) -> float:
    return max(segments.values(), default=0) / 2**20


def run_case(stream: Stream, config: str, seconds: float, node_profile: Path | None, clip: Path,
             pose_model: Path, pair: Path | None = None, people: int = 0) -> CaseResult:
    """Starts the node (its Fast DDS profile: `node_profile`; this process's own comes from its environment),
    waits until it is active and matched, publishes for `seconds`, and returns the node's settled counters."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data

    frames = read_bgr(clip)
    if pair is not None:
        frames = side_by_side(read_bgr(pair), frames, pair_shown=people == 3)
    if not frames:
        raise RuntimeError(f"no frames could be read from {clip}")
    messages = camera_messages(stream, frames)
    topic = f"{TOPIC}/compressed" if stream.encoding == "jpeg" else TOPIC
    transport = "compressed" if stream.encoding == "jpeg" else "raw"
    command = ["motionllm_node", "--ros-args", "-p", f"pose.model:={pose_model}", "-p", f"input.image_topic:={TOPIC}",
               "-p", f"input.image_transport:={transport}", "-p", "device:=cpu"]
    rclpy.init()
    status = NodeStatus()
    bench = rclpy.create_node("delivery_bench")
    # A camera driver's QoS (usb_cam, realsense2_camera: sensor data = best effort, keep last 5).
    publisher = bench.create_publisher(type(messages[0]), topic, qos_profile_sensor_data)
    bench.create_subscription(DiagnosticArray, "/diagnostics", status.on_diagnostics, 10)
    executor = SingleThreadedExecutor()
    executor.add_node(bench)
    spinner = threading.Thread(target=executor.spin)
    spinner.start()
    # Our own segments, before any other participant is there to be mapped too. Their size shows whether the
    # profile loaded: one that fails to parse only logs an XMLPARSER error, and the process runs on the defaults.
    camera_segments = shm_segments()
    log = tempfile.TemporaryFile("w+")
    node = subprocess.Popen(command, env=with_profile(node_profile, fast_dds_version()), stdout=log,
                            stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        # Active and matched both ways: best-effort images sent before that would count as lost.
        while not (status.read()[1].get("state") == "active" and publisher.get_subscription_count() > 0):
            if node.poll() is not None or time.monotonic() > deadline:
                log.seek(0)
                raise RuntimeError(f"the node did not become active (exit status {node.poll()}):\n"
                                   + log.read()[-3000:])
            time.sleep(0.1)
        time.sleep(0.5)
        node_segments = {k: v for k, v in shm_segments(node.pid).items() if k not in camera_segments}
        published = publish(bench, publisher, messages, stream.rate_hz, seconds)  # (count, seconds)
        final = settled(status)
    finally:
        node.send_signal(signal.SIGINT)
        try:
            node.wait(timeout=20)
        except subprocess.TimeoutExpired:
            node.kill()
            node.wait()
        log.close()
        executor.shutdown()  # spin() returns: destroying a node that is being spun can abort the process
        spinner.join()
        bench.destroy_node()
        rclpy.shutdown()
    counts = [int(final.get(key, 0)) for key in ("received", "frames processed", "frames dropped (engine busy)",
                                                 "described", "lost (reported by DDS)")]
    return CaseResult(stream.key, config, *published, *counts, final.get("message", ""),
                      largest_mib(camera_segments), largest_mib(node_segments), people)


def publish(bench: Any, publisher: Any, messages: list[Any], rate_hz: float, seconds: float) -> tuple[int, float]:
    """Publishes the clip in a loop at `rate_hz` for `seconds`, each header stamped with the publish time (a
    driver's clock), on an absolute schedule so that a late frame does not shift the ones after it."""
    period = 1.0 / rate_hz
    start = time.monotonic()
    count = 0
    while count < round(seconds * rate_hz):
        delay = start + count * period - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        msg = messages[count % len(messages)]
        msg.header.stamp = bench.get_clock().now().to_msg()
        publisher.publish(msg)
        count += 1
    return count, time.monotonic() - start


def settled(status: NodeStatus) -> dict[str, str]:
    """The node's status once its counters stop moving: two /diagnostics in a row (1 s apart), both sent after the
    last image had time to arrive, with the same received, processed and described counts."""
    keys = ("received", "frames processed", "described")
    time.sleep(1.0)
    arrivals, values = status.read()
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while time.monotonic() < deadline:
        time.sleep(0.1)
        newer, latest = status.read()
        if newer == arrivals:
            continue
        if all(latest.get(k) == values.get(k) for k in keys):
            return latest
        arrivals, values = newer, latest
    return values


# ------------------------------------------------------------------------------------------------ the bench
def run_bench(streams: list[str], configs: list[str], seconds: float, profile: Path, clip: Path,
              pose_model: Path, pair: Path | None = None, rounds: int = 1) -> list[CaseResult]:
    """Every stream under every configuration, one fresh publisher process per case (see the module docstring);
    with `pair`, each case with 1 and with 3 people in view, alternating, `rounds` times."""
    results = []
    version = fast_dds_version()
    variants = [(round_, people) for round_ in range(rounds) for people in (1, 3)] if pair else [(0, 0)]
    for key in streams:
        for config in configs:
            for _, people in variants:
                results.append(_one_case(key, config, seconds, profile, clip, pose_model, version, pair, people))
    return results


def _one_case(key: str, config: str, seconds: float, profile: Path, clip: Path, pose_model: Path, version: str,
              pair: Path | None, people: int) -> CaseResult:
    """One case in a fresh publisher process whose Fast DDS environment is the case's (module docstring)."""
    camera_side, node_side = CONFIGS[config]
    command = [sys.executable, "-m", "motionllm_ros.ros.delivery_bench", "--case", key, "--config", config,
               "--seconds", str(seconds), "--profile", str(profile), "--video", str(clip),
               "--pose-model", str(pose_model)]
    if not node_side:
        command.append("--node-without-profile")
    if pair is not None:
        command += ["--pair", str(pair), "--people", str(people)]
    print(f"running {STREAMS[key].label}, Fast DDS profile: {CONFIG_LABELS[config]}"
          f"{f', {people} in view' if people else ''} ...", file=sys.stderr)
    done = subprocess.run(command, env=with_profile(profile if camera_side else None, version),
                          capture_output=True, text=True, timeout=seconds + STARTUP_TIMEOUT_S + 120)
    if done.returncode != 0:
        raise RuntimeError(f"case {key}/{config} failed ({done.returncode}):\n{done.stderr[-4000:]}")
    return CaseResult(**json.loads(done.stdout.strip().splitlines()[-1]))


def conditions(seconds: float, load_before: float, load_after: float) -> dict[str, Any]:
    return {"distro": ros_distro(), "fast_dds": fast_dds_version() or "unknown",
            "python": sys.version.split()[0], "cpus": os.cpu_count(), "seconds": seconds,
            "load_average": [round(load_before, 2), round(load_after, 2)],
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "domain": os.environ.get("ROS_DOMAIN_ID", "0"),
            "discovery_range": os.environ.get("ROS_AUTOMATIC_DISCOVERY_RANGE", "(unset)")}


def markdown(inputs: dict[str, Any], results: list[CaseResult]) -> str:
    load = inputs["load_average"]
    lines = [f"**ROS 2 {inputs['distro'].capitalize()}** (Fast DDS {inputs['fast_dds']}, Python {inputs['python']}), "
             f"{inputs['seconds']:g} s per case, ROS_AUTOMATIC_DISCOVERY_RANGE={inputs['discovery_range']}, "
             f"{inputs['cpus']} CPUs, load average {load[0]:.2f} at the start and {load[1]:.2f} at the end, "
             f"{inputs['date']}.",
             "",
             "| stream | Fast DDS profile | SHM segment, camera / node [MiB] | published (in s) | received by the node "
             "| received | lost (Fast DDS's count) | processed | dropped (engine busy) | described |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {STREAMS[r.stream].label} | {CONFIG_LABELS[r.config]} | "
                     f"{r.camera_segment_mib:.1f} / {r.node_segment_mib:.1f} | {r.published} ({r.publish_s:.1f}) | "
                     f"{r.received} | {r.received_pct:.1f}% | {r.lost_by_dds} | {r.processed} | {r.dropped_busy} | "
                     f"{r.described} |")
    return "\n".join(lines)


def people_markdown(inputs: dict[str, Any], results: list[CaseResult]) -> str:
    """With --pair: the node's frame rate (processed images per second of publishing) with 3 people in view against
    1, per stream and configuration, each round's 3-people case against the 1-person case just before it."""
    load = inputs["load_average"]
    lines = [f"**ROS 2 {inputs['distro'].capitalize()}**, {inputs['seconds']:g} s per case, {inputs['cpus']} CPUs, "
             f"load average {load[0]:.2f} at the start and {load[1]:.2f} at the end, {inputs['date']}.",
             "",
             "| stream | Fast DDS profile | round | 1 person: processed (per s) | 3 people: processed (per s) | "
             "3 people / 1 person |",
             "|---|---|---|---|---|---|"]
    ones = [r for r in results if r.people == 1]
    threes = [r for r in results if r.people == 3]
    for round_, (one, three) in enumerate(zip(ones, threes), start=1):
        lines.append(f"| {STREAMS[one.stream].label} | {CONFIG_LABELS[one.config]} | {round_} | "
                     f"{one.processed} ({one.processed / one.publish_s:.1f}) | "
                     f"{three.processed} ({three.processed / three.publish_s:.1f}) | "
                     f"{three.processed / max(one.processed, 1):.2f} |")
    return "\n".join(lines)


def update_readme(text: str, distro: str, table: str) -> str:
    """`text` with this distro's part of the delivery block replaced (each distro's part starts with a line
    `<!-- delivery:DISTRO -->`), the other distros' parts kept."""
    head, rest = text.split(README_BEGIN, 1)
    block, tail = rest.split(README_END, 1)
    parts = dict(re.findall(r"<!-- delivery:(\w+) -->\n(.*?)(?=<!-- delivery:\w+ -->|\Z)", block, re.S))
    parts[distro] = table
    body = "\n\n".join(f"<!-- delivery:{name} -->\n{parts[name].strip()}" for name in sorted(parts))
    return f"{head}{README_BEGIN}\n{body}\n{README_END}{tail}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="motionllm bench ros", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="publishing time per case (default 10)")
    parser.add_argument("--streams", default=",".join(STREAMS),
                        help="of " + ", ".join(f"{k} ({s.label})" for k, s in STREAMS.items()) + " (default: all)")
    parser.add_argument("--profiles", default="none,both",
                        help="who loads the shipped Fast DDS profile, of none,both,publisher,node (default none,both)")
    parser.add_argument("--profile", help="the Fast DDS profile (default: the installed config/fastdds_profile.xml)")
    parser.add_argument("--video", help=f"the clip (default: $MOTIONLLM_TEST_DATA/{CLIP})")
    parser.add_argument("--pose-model", help=f"MediaPipe model (default: $MOTIONLLM_TEST_MODELS/{POSE_MODEL})")
    parser.add_argument("--readme", help="rewrite this distro's table between the delivery markers of this file")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--pair", help="a clip with two people, shown beside the clip: the node's frame rate with 3 "
                                       "people in view against 1 (see the module docstring)")
    parser.add_argument("--rounds", type=int, default=2, help="with --pair: rounds of the 1- and 3-people cases")
    # One case in this process (the orchestrator starts it with the publisher's Fast DDS environment).
    parser.add_argument("--case", choices=STREAMS, help=argparse.SUPPRESS)
    parser.add_argument("--config", choices=CONFIGS, default="both", help=argparse.SUPPRESS)
    parser.add_argument("--node-without-profile", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--people", type=int, choices=(1, 3), default=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        import rclpy  # noqa: F401  (the publisher's process needs it; the node's too)
    except ImportError:
        print("motionllm bench ros: needs ROS 2's rclpy: bash scripts/setup_ros.sh, then source "
              "build/ros-DISTRO/setup.bash", file=sys.stderr)
        return 2
    streams, configs = args.streams.split(","), args.profiles.split(",")
    unknown = [s for s in streams if s not in STREAMS] + [c for c in configs if c not in CONFIGS]
    if unknown:
        parser.error(f"unknown stream or profile choice: {', '.join(unknown)}")
    try:
        clip, pose_model = find_inputs(args.video, args.pose_model)
        profile = Path(args.profile) if args.profile else shipped_profile()
        pair = Path(args.pair) if args.pair else None
        if pair is not None and not pair.is_file():
            raise FileNotFoundError(f"{pair} not found (--pair)")
        if args.case:
            result = run_case(STREAMS[args.case], args.config, args.seconds,
                              None if args.node_without_profile else profile, clip, pose_model, pair,
                              args.people if pair else 0)
            print(json.dumps(asdict(result)))
            return 0
        load_before = os.getloadavg()[0]
        results = run_bench(streams, configs, args.seconds, profile, clip, pose_model, pair, args.rounds)
    except (FileNotFoundError, RuntimeError) as error:
        print(f"motionllm bench ros: {error}", file=sys.stderr)
        return 1
    inputs = conditions(args.seconds, load_before, os.getloadavg()[0])
    table = people_markdown(inputs, results) if pair is not None else markdown(inputs, results)
    if args.json:
        print(json.dumps({"inputs": inputs, "results": [asdict(r) | {"received_pct": r.received_pct}
                                                         for r in results]}, indent=2))
    else:
        print(table)
    if args.readme and pair is None:  # the people table goes into the README by hand, beside `bench people`
        readme = Path(args.readme)
        readme.write_text(update_readme(readme.read_text(), inputs["distro"], table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
