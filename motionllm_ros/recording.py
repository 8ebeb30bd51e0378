"""Recordings out: camera frames, CameraInfo and BehaviorDescriptions into MCAP or rosbag2, without ROS installed.

`motionllm run --mcap` writes the input images beside the descriptions so both can be looked at together in
Foxglove; `motionllm record-bag` turns any clip into a rosbag2 for `ros2 bag play` and for test fixtures.

Output layout. A path ending in ".mcap" (storage "mcap") becomes one self-contained MCAP file: Foxglove opens it,
and every message definition it needs is embedded as a ros2msg schema (rosbags' MCAP writer stores the full
definition, dependencies included, of every type). Any other path becomes a rosbag2 directory (metadata.yaml plus
PATH/NAME.mcap or PATH/NAME.db3), which is what `ros2 bag play PATH` takes. An existing path is never overwritten.

Times. Every message is logged at its data time (log time = header stamp), so a player replays the recording at
its recorded rate and the descriptions appear when their window ends. Video files have presentation times that
start at 0 s, i.e. at the 1970 epoch: ROS tools take a zero header stamp for "not set" (our own bag reader falls
back to the receive time then) and a player's clock would start in 1970. So stamps of video frames are shifted by
VIDEO_EPOCH_OFFSET_S; subtract it to get the presentation time back. Bags and cameras already carry valid stamps
and are written unshifted.
"""

from __future__ import annotations

import math
import shutil
import threading
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from motionllm_ros.engine import Description
from motionllm_ros.outputs import OutputPathError, check_output_file
from motionllm_ros.ros.conversions import (INT32_MAX, behavior_description_msg, behavior_result, camera_info_topic,
                                           seconds_to_time)
from motionllm_ros.sources.base import Frame

if TYPE_CHECKING:
    from motionllm_ros.perception.camera import Intrinsics

# Added to the presentation time of video frames: 2023-11-14T22:13:20Z, a round number of seconds, so that
# `stamp - VIDEO_EPOCH_OFFSET_S` gives the presentation time back exactly to the nanosecond.
VIDEO_EPOCH_OFFSET_S = 1_700_000_000

IMAGE_TOPIC = "/camera/image_raw"
BEHAVIOR_TOPIC = "/motionllm/behavior"
JPEG_QUALITY = 90  # OpenCV's default 95 makes files a third larger for no visible gain at these resolutions
STORAGES = ("mcap", "sqlite3")
# rosbag2 metadata version per distro: Humble's rosbag2 reads the offered QoS profiles as one YAML string (version
# 8 layout); version 9 (Jazzy) writes them as a YAML list.
BAG_VERSIONS = {"humble": 8, "jazzy": 9}

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"
BEHAVIOR_TYPE = "motionllm_ros/msg/BehaviorDescription"


class RecordingError(ValueError):
    """The recording cannot be written (output exists, bad option, bad image); the text names the path or value."""


def stamp_offset_for(source_kind: str) -> int:
    """Seconds to add to the stamps of a source of this `SourceInfo.kind`: VIDEO_EPOCH_OFFSET_S for video files
    (presentation time from 0), 0 for bags and cameras (real stamps)."""
    return VIDEO_EPOCH_OFFSET_S if source_kind == "video" else 0


class BagRecorder:
    """Writes frames, their CameraInfo and BehaviorDescriptions into one recording; use as a context manager.

    Topics: `image_topic` (sensor_msgs/Image rgb8), or `image_topic + "/compressed"` (CompressedImage JPEG) when
    `compressed`; `camera_info_topic(image_topic)`; `behavior_topic`. A topic appears in the recording with its
    first message. Every stamp written is the data-time stamp plus `stamp_offset_s` (see the module docstring).

    Leaving the `with` block on an exception still closes the recording properly: what was written so far stays a
    valid, shorter recording (a run stopped with Ctrl-C keeps its MCAP). The write methods may be called from
    several threads (frames from the reading loop, descriptions from the engine's result callback).
    """

    def __init__(self, path: str | Path, storage: str = "mcap", distro: str = "humble", *,
                 image_topic: str = IMAGE_TOPIC, compressed: bool = False, behavior_topic: str = BEHAVIOR_TOPIC,
                 stamp_offset_s: int = 0):
        from motionllm_ros.typestore import make_typestore

        if storage not in STORAGES:
            raise RecordingError(f"unknown storage {storage!r}; expected one of {', '.join(STORAGES)}")
        if distro not in BAG_VERSIONS:
            raise RecordingError(f"unknown ROS distro {distro!r}; expected one of {', '.join(BAG_VERSIONS)}")
        for name, topic in (("image_topic", image_topic), ("behavior_topic", behavior_topic)):
            if not topic.startswith("/") or topic.endswith("/") or len(topic) < 2:
                raise RecordingError(f"{name} must be an absolute topic name such as /camera/image_raw, got "
                                     f"{topic!r}")
        if not isinstance(stamp_offset_s, int) or stamp_offset_s < 0:
            raise RecordingError(f"stamp_offset_s must be a whole number of seconds >= 0, got {stamp_offset_s!r}")
        self.path = Path(path).expanduser()
        self.single_file = self.path.suffix == ".mcap"
        if self.single_file and storage != "mcap":
            raise RecordingError(f"{self.path}: a .mcap path needs storage 'mcap', not {storage!r}; give a "
                                 f"directory path for a {storage} rosbag2")
        # A single .mcap is written as a rosbag2 into a hidden staging folder beside it, then moved out.
        self._bag_dir = self.path.with_name(f".{self.path.name}.partial") if self.single_file else self.path
        for taken in (self.path, self._bag_dir):
            if taken.exists() or taken.is_symlink():
                raise RecordingError(f"{taken} already exists; recordings are never overwritten: choose another "
                                     f"path or delete it")
        try:  # a missing folder, /proc or a read-only place is refused before anything is recorded
            check_output_file(self.path, "recording")
        except OutputPathError as error:
            raise RecordingError(str(error)) from None
        self.storage = storage
        self.distro = distro
        self.compressed = compressed
        self.image_topic = f"{image_topic}/compressed" if compressed else image_topic
        self.camera_info_topic = camera_info_topic(image_topic)
        self.behavior_topic = behavior_topic
        self.stamp_offset_s = stamp_offset_s
        self.counts: Counter[str] = Counter()  # messages written per topic
        self._store = make_typestore(distro)
        self._writer: Any = None
        self._connections: dict[str, Any] = {}
        self._output: Path | None = None
        self._created = False  # only what this recorder created may be deleted by discard()
        self._lock = threading.Lock()  # rosbags' writer is not thread-safe

    # ------------------------------------------------------------------------------------------ lifecycle
    def __enter__(self) -> BagRecorder:
        self.open()
        return self

    def __exit__(self, exc_type, exc_value, traceback) -> None:
        self.close()

    def open(self) -> None:
        from rosbags.rosbag2 import StoragePlugin, Writer, WriterError

        plugin = StoragePlugin.MCAP if self.storage == "mcap" else StoragePlugin.SQLITE3
        try:
            writer = Writer(self._bag_dir, version=BAG_VERSIONS[self.distro], storage_plugin=plugin)
            writer.open()
        except (WriterError, OSError) as error:  # e.g. the path appeared since __init__, or no permission
            raise RecordingError(f"{self.path}: cannot create the recording: {error}") from error
        self._writer = writer
        self._created = True

    def close(self) -> None:
        """Finishes the recording (index, metadata); `output` then names the file written. Idempotent."""
        with self._lock:
            writer, self._writer = self._writer, None
        if writer is None:
            return
        try:
            writer.close()
        except BaseException:
            writer.abort()
            raise
        suffix = ".mcap" if self.storage == "mcap" else ".db3"
        stored = self._bag_dir / f"{self._bag_dir.name}{suffix}"
        if self.single_file:
            # The MCAP file holds the rosbag2 metadata itself (a metadata record); metadata.yaml is redundant.
            stored.replace(self.path)
            (self._bag_dir / "metadata.yaml").unlink()
            self._bag_dir.rmdir()
            stored = self.path
        self._output = stored

    @property
    def output(self) -> Path:
        """The MCAP or sqlite3 file written (inside the rosbag2 directory unless a single .mcap was asked for)."""
        if self._output is None:
            raise RecordingError(f"{self.path}: the recording is not closed yet")
        return self._output

    def discard(self) -> None:
        """Closes and deletes what this recorder created (for a failed conversion that must leave nothing)."""
        try:
            self.close()
        finally:
            for created in (self.path, self._bag_dir) if self._created else ():
                if created.is_dir():
                    shutil.rmtree(created)
                elif created.is_file():
                    created.unlink()

    # ------------------------------------------------------------------------------------------ writing
    def write_frame(self, frame: Frame, intrinsics: Intrinsics | None = None) -> None:
        """One camera frame and its CameraInfo, both stamped with `frame.stamp` (+ offset).

        `intrinsics`: the camera model to publish; None writes `Intrinsics.default` for the frame size (a guess,
        as the perception stage makes for an unknown camera).
        """
        from motionllm_ros.perception.camera import Intrinsics

        rgb = frame.rgb
        if not (isinstance(rgb, np.ndarray) and rgb.dtype == np.uint8 and rgb.ndim == 3 and rgb.shape[2] == 3
                and rgb.shape[0] > 0 and rgb.shape[1] > 0):
            shape = getattr(rgb, "shape", None)
            raise RecordingError(f"frame at stamp {frame.stamp}: expected (H, W, 3) uint8 RGB, got "
                                 f"{getattr(rgb, 'dtype', type(rgb).__name__)} {shape}")
        height, width = rgb.shape[:2]
        if intrinsics is not None and (intrinsics.width, intrinsics.height) != (width, height):
            # A frame of another size than the calibration (as the perception stage does): the default guess for
            # its size is written rather than ending the recording.
            intrinsics = None
        if intrinsics is None:
            intrinsics = Intrinsics.default(width, height)
        header = self._header(frame.stamp, frame.frame_id)
        types = self._store.types
        if self.compressed:
            image = types[COMPRESSED_TYPE](header=header, format="jpeg", data=_jpeg(rgb))
        else:
            image = types[IMAGE_TYPE](header=header, height=height, width=width, encoding="rgb8", is_bigendian=0,
                                      step=width * 3, data=np.ascontiguousarray(rgb).reshape(-1))
        self._write(self.image_topic, image, header)
        self._write(self.camera_info_topic, self._camera_info(header, intrinsics), header)

    def write_description(self, description: Description) -> None:
        """One BehaviorDescription: header stamp = window end (+ offset), window_start clamped at 0 before the
        offset, latency_sec = the engine's latency. Raises ConversionError (a ValueError naming the field) for a
        description that breaks the message's rules."""
        types = self._store.types
        message = behavior_description_msg(behavior_result(description), description.latency_s,
                                           msg_type=types[BEHAVIOR_TYPE], header_type=types["std_msgs/msg/Header"],
                                           time_type=types["builtin_interfaces/msg/Time"])
        message = replace(message, header=replace(message.header, stamp=self._shifted(message.header.stamp)),
                          window_start=self._shifted(message.window_start),
                          window_end=self._shifted(message.window_end),
                          label_starts=[self._shifted(time) for time in message.label_starts],
                          label_ends=[self._shifted(time) for time in message.label_ends],
                          # rosbags serialises numeric sequences from numpy arrays; the builder makes array.array.
                          scores=np.asarray(message.scores, dtype=np.float32),
                          label_partners=np.asarray(message.label_partners, dtype=np.int32))
        self._write(self.behavior_topic, message, message.header)

    # ------------------------------------------------------------------------------------------ internals
    def _header(self, stamp: float, frame_id: str) -> Any:
        types = self._store.types
        time = seconds_to_time(stamp, types["builtin_interfaces/msg/Time"])
        return types["std_msgs/msg/Header"](stamp=self._shifted(time), frame_id=frame_id)

    def _shifted(self, time: Any) -> Any:
        # Whole seconds added to `sec`: exact, where adding them to a float stamp would round to ~0.2 us.
        sec = time.sec + self.stamp_offset_s
        if sec > INT32_MAX:
            raise RecordingError(f"stamp {time.sec}.{time.nanosec:09d} s + offset {self.stamp_offset_s} s does not "
                                 f"fit builtin_interfaces/Time.sec (int32)")
        return replace(time, sec=sec)

    def _camera_info(self, header: Any, intrinsics: Intrinsics) -> Any:
        types = self._store.types
        fx, fy, cx, cy = intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy
        return types[CAMERA_INFO_TYPE](
            header=header, height=intrinsics.height, width=intrinsics.width,
            # Undistorted pinhole: plumb_bob with zero coefficients, identity rectification, P = [K | 0].
            distortion_model="plumb_bob", d=np.zeros(5),
            k=np.array([fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0]),
            r=np.eye(3).reshape(-1),
            p=np.array([fx, 0.0, cx, 0.0, 0.0, fy, cy, 0.0, 0.0, 0.0, 1.0, 0.0]),
            binning_x=0, binning_y=0,
            roi=types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0,
                                                           do_rectify=False))

    def _write(self, topic: str, message: Any, header: Any) -> None:
        msgtype = message.__msgtype__
        data = self._store.serialize_cdr(message, msgtype)
        log_time_ns = header.stamp.sec * 1_000_000_000 + header.stamp.nanosec  # log time = data time
        with self._lock:
            if self._writer is None:
                raise RecordingError(f"{self.path}: the recording is not open (use BagRecorder as a context "
                                     f"manager)")
            connection = self._connections.get(topic)
            if connection is None:
                connection = self._writer.add_connection(topic, msgtype, typestore=self._store)
                self._connections[topic] = connection
            self._writer.write(connection, log_time_ns, data)
            self.counts[topic] += 1


def _jpeg(rgb: np.ndarray) -> np.ndarray:
    import cv2

    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RecordingError(f"OpenCV could not JPEG-encode a {rgb.shape[1]}x{rgb.shape[0]} image")
    return encoded.reshape(-1)


def record_bag(video_path: str | Path, out: str | Path, storage: str = "mcap", compressed: bool = False,
               topic: str = IMAGE_TOPIC, distro: str = "humble", frame_id: str = "camera",
               scale: float = 1.0, on_first_frame: Callable[[int, int, int], None] | None = None) -> dict[str, Any]:
    """Writes every frame of a clip (anything `open_source` reads) with its CameraInfo into a new recording.

    `on_first_frame(expected_frames, width, height)` is called once the output is open and the first frame is
    scaled, before anything is written (the CLI says there how large the recording will be).

    `scale` resizes the frames (0.5: half width and height; smaller fixtures); the CameraInfo is the default guess
    for the written size. Stamps of a video are its presentation times + VIDEO_EPOCH_OFFSET_S. Raises SourceError
    when the clip cannot be read and RecordingError when `out` exists; a conversion that fails part-way leaves no
    output behind (an interrupted one keeps a valid, shorter recording).

    Returns a summary: input, output (the file written), frames, width, height, topics, first/last stamp (ROS
    seconds as written), stamp_offset_s and the frames the source skipped by reason.
    """
    from motionllm_ros.sources import open_source

    if not (math.isfinite(scale) and scale > 0):
        raise RecordingError(f"scale must be a positive number, got {scale}")
    source = open_source(str(video_path), frame_id=frame_id)
    offset = stamp_offset_for(source.info.kind)
    recorder = BagRecorder(out, storage=storage, distro=distro, image_topic=topic, compressed=compressed,
                           stamp_offset_s=offset)
    frames = 0
    first = last = None
    size = None
    try:
        with recorder:
            for frame in source:
                if scale != 1.0:
                    frame = frame._replace(rgb=_resized(frame.rgb, scale))
                if frames == 0 and on_first_frame is not None:
                    on_first_frame(source.info.expected_frames or 0, frame.rgb.shape[1], frame.rgb.shape[0])
                recorder.write_frame(frame)
                frames += 1
                first = frame.stamp if first is None else first
                last = frame.stamp
                size = frame.rgb.shape[1], frame.rgb.shape[0]
    except Exception:
        recorder.discard()
        raise
    return {
        "input": str(video_path), "output": str(recorder.output), "storage": storage, "distro": distro,
        "frames": frames, "width": size[0] if size else None, "height": size[1] if size else None,
        "image_topic": recorder.image_topic, "camera_info_topic": recorder.camera_info_topic,
        "first_stamp": None if first is None else first + offset, "last_stamp": None if last is None else last + offset,
        "stamp_offset_s": offset, "skipped": dict(source.skipped.counts),
    }


def _resized(rgb: np.ndarray, scale: float) -> np.ndarray:
    import cv2

    from motionllm_ros.sources.images import MAX_PIXELS

    width = max(1, round(rgb.shape[1] * scale))
    height = max(1, round(rgb.shape[0] * scale))
    if width * height > MAX_PIXELS:  # --scale 50 would write gigabytes per frame
        raise RecordingError(f"scale {scale} makes a {rgb.shape[1]}x{rgb.shape[0]} frame {width}x{height}, more "
                             f"than the {MAX_PIXELS} pixels an image may have")
    # INTER_AREA averages the pixels a downscaled pixel covers (no aliasing); upscaling interpolates linearly.
    return cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
