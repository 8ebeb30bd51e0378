"""rosbag2 recordings (sqlite3 or mcap, Humble or Jazzy) through the `rosbags` library, without ROS installed."""

from __future__ import annotations

import logging
import math
import shutil
import tempfile
from pathlib import Path
from typing import Iterator

from motionllm_ros.sources.base import LOG, BadFrame, CameraInfoData, Frame, SkipCounter, SourceError, SourceInfo
from motionllm_ros.sources.images import compressed_to_rgb, image_to_rgb

IMAGE_TYPE = "sensor_msgs/msg/Image"
COMPRESSED_TYPE = "sensor_msgs/msg/CompressedImage"
CAMERA_TYPES = (IMAGE_TYPE, COMPRESSED_TYPE)
CAMERA_INFO_TYPE = "sensor_msgs/msg/CameraInfo"


def bag_paths(path: Path) -> list[Path]:
    """What `rosbags.highlevel.AnyReader` must be given for `path`.

    A rosbag2 directory has a metadata.yaml. `ros2 bag record` with the mcap plugin can leave a bare .mcap (killed
    recorder, copied file) without one; mcap files carry their own schemas, so they can be read one by one.
    """
    if path.is_dir():
        if (path / "metadata.yaml").is_file():
            return [path]
        mcaps = sorted(path.glob("*.mcap"))
        if mcaps:
            return mcaps
        raise SourceError(f"{path}: neither a rosbag2 directory (no metadata.yaml) nor a folder of .mcap files")
    if path.suffix == ".db3" or path.name.endswith(".db3.zstd"):
        if (path.parent / "metadata.yaml").is_file():
            return [path.parent]
        raise SourceError(f"{path}: a sqlite3 bag file cannot be read without the metadata.yaml of its directory")
    return [path]


class RosbagSource:
    """Camera frames of one image topic of a rosbag2 recording, in recording order.

    `topic=None` picks the camera topic with the most messages (raw Image before CompressedImage on a tie, since it
    needs no decoding). Stamps are the header stamps; a zero header stamp (some drivers) falls back to the time the
    recorder received the message.
    """

    def __init__(self, path: str | Path, topic: str | None = None, logger: logging.Logger = LOG):
        self.path = Path(path)
        if not self.path.exists():
            raise SourceError(f"rosbag2 recording not found: {self.path}")
        paths = bag_paths(self.path)
        self._repaired: Path | None = None  # a temporary readable copy of a cut .mcap, deleted on close
        self._damaged_regions = 0  # unreadable regions skipped by the last iteration
        try:
            self._reader = _open_reader(paths)
        except Exception as error:  # rosbags raises several unrelated types for unreadable files
            readable = _readable_copy_of_cut_mcap(paths)
            if readable is None:
                raise SourceError(f"{self.path}: cannot open as a rosbag2 recording: {_one_line(error)}") from None
            logger.warning("%s: the file ends mid-record (a recorder that was killed?); reading the %d bytes of "
                           "complete records before the cut", self.path, readable.stat().st_size)
            self._repaired = readable.parent
            try:
                self._reader = _open_reader([readable])
            except Exception as error2:
                self._discard_repaired()
                raise SourceError(f"{self.path}: cannot open as a rosbag2 recording: {_one_line(error2)}") from None
            if not self._reader.connections:
                self._close()
                raise SourceError(f"{self.path}: the file is cut short inside its first chunk of records; nothing "
                                  f"in it can be read")
        try:
            self.connections, self.topic, self._choice_note = self._select(topic)
        except SourceError:
            self._close()
            raise
        self.skipped = SkipCounter(logger)
        self.camera_info = self._read_camera_info(logger)
        self.info = SourceInfo("rosbag2", f"{self.path} {self.topic}", None,
                               sum(c.msgcount for c in self.connections) or None)
        self._logger = logger

    def topics(self) -> dict[str, str]:
        """Every topic of the recording -> its message type."""
        return {c.topic: c.msgtype for c in self._reader.connections}

    def camera_topics(self) -> dict[str, int]:
        """Camera topics -> message count."""
        counts: dict[str, int] = {}
        for c in self._reader.connections:
            if c.msgtype in CAMERA_TYPES:
                counts[c.topic] = counts.get(c.topic, 0) + c.msgcount
        return counts

    def _select(self, topic: str | None) -> tuple[list, str, str | None]:
        cameras = self.camera_topics()
        if not cameras:
            listing = ", ".join(f"{t} ({m})" for t, m in sorted(self.topics().items())) or "none"
            raise SourceError(f"{self.path}: no sensor_msgs/msg/Image or CompressedImage topic in this recording; "
                              f"its topics are: {listing}")
        note = None
        if topic is None:
            is_raw = {c.topic: c.msgtype == IMAGE_TYPE for c in self._reader.connections}
            topic = max(sorted(cameras), key=lambda t: (cameras[t], is_raw[t]))
            if len(cameras) > 1:
                others = ", ".join(sorted(t for t in cameras if t != topic))
                note = f"using image topic {topic} (most messages); other image topics: {others}"
        elif topic not in cameras:
            raise SourceError(f"{self.path}: topic {topic!r} is not an image topic of this recording; image topics: "
                              f"{', '.join(sorted(cameras))}")
        return [c for c in self._reader.connections if c.topic == topic], topic, note

    def _read_camera_info(self, logger: logging.Logger) -> CameraInfoData | None:
        """The first CameraInfo of the image topic's camera: the sibling `camera_info` topic of the image topic
        (/cam/image_raw[/compressed] -> /cam/camera_info), else the recording's only CameraInfo topic."""
        infos = sorted({c.topic for c in self._reader.connections if c.msgtype == CAMERA_INFO_TYPE})
        namespace = self.topic.removesuffix("/compressed").rsplit("/", 1)[0]
        topic = namespace + "/camera_info" if namespace + "/camera_info" in infos else None
        if topic is None and len(infos) == 1:
            topic = infos[0]
        if topic is None:
            if infos:
                logger.warning("%s: several CameraInfo topics (%s), none beside %s: not using any", self.path,
                               ", ".join(infos), self.topic)
            return None
        connections = [c for c in self._reader.connections if c.topic == topic]
        for connection, _, raw in self._reader.messages(connections=connections):
            try:
                message = self._deserialize(raw, connection.msgtype)
            except BadFrame as error:
                logger.warning("%s: unreadable CameraInfo on %s: %s", self.path, topic, error)
                continue
            except Exception as error:  # a corrupt region: the camera field of view is used instead
                logger.warning("%s: CameraInfo on %s cannot be read: %s", self.path, topic, _one_line(error))
                return None
            k = [float(v) for v in message.k]
            if len(k) == 9 and all(math.isfinite(v) for v in k) and k[0] > 0 and k[4] > 0 and message.width > 0 \
                    and message.height > 0:
                return CameraInfoData(tuple(float(v) for v in message.k), int(message.width), int(message.height),
                                      topic)
        return None

    def __iter__(self) -> Iterator[Frame]:
        if self._choice_note:
            self._logger.info(self._choice_note)
        read = 0
        try:
            for connection, bag_time_ns, raw in self._messages_around_damage():
                read += 1
                stamp = bag_time_ns * 1e-9
                try:
                    message = self._deserialize(raw, connection.msgtype)
                    header_stamp = message.header.stamp.sec + message.header.stamp.nanosec * 1e-9
                    stamp = header_stamp if header_stamp > 0 else stamp
                    if connection.msgtype == IMAGE_TYPE:
                        rgb = image_to_rgb(message.height, message.width, message.encoding, message.is_bigendian,
                                           message.step, message.data)
                    else:
                        rgb = compressed_to_rgb(message.format, message.data)
                except BadFrame as error:
                    self.skipped.skip(error, self.topic, stamp)
                    continue
                yield Frame(stamp, rgb, message.header.frame_id)
            if self._damaged_regions:
                # The index's count against what was delivered: the messages inside the damaged regions.
                lost = max(self._damaged_regions, (self.info.expected_frames or 0) - read)
                self.skipped.skip(BadFrame("corrupt_bag", f"{self._damaged_regions} damaged region(s) skipped"),
                                  self.topic, None, count=lost)
        finally:
            self._close()

    def _messages_around_damage(self) -> Iterator[tuple]:
        """The image topic's (connection, log time ns, raw) in time order. A region the reader cannot read (bad
        chunk, corrupt sqlite page) is skipped: reading resumes at the earliest log time after it that reads, found
        by bisection to 1 ms, so what lies before and after the damage is kept."""
        self._damaged_regions = 0
        start: int | None = None
        while True:
            last = None
            messages = self._reader.messages(connections=self.connections, start=start)
            try:
                for item in messages:
                    last = item[1]
                    yield item
                return
            except Exception as error:  # ReaderError, apsw.CorruptError, zstd errors: a damaged region
                failed_from = last + 1 if last is not None else (start or self._reader.start_time)
                self._damaged_regions += 1
                self._logger.warning("%s: unreadable region after log time %d ns (%s); skipping it", self.path,
                                     failed_from, _one_line(error))
            finally:
                messages.close()
            resume = self._first_readable(failed_from, self._reader.end_time + 1)
            if resume <= (start or 0):
                return  # no progress: give up on the rest rather than loop
            start = resume

    def _first_readable(self, failing: int, readable: int) -> int:
        """The smallest start (to 1 ms) in (failing, readable] from which reading the topic begins without error."""
        while readable - failing > 1_000_000:
            middle = (failing + readable) // 2
            messages = self._reader.messages(connections=self.connections, start=middle)
            try:
                next(messages, None)
                readable = middle
            except Exception:  # still inside the damage
                failing = middle
            finally:
                messages.close()
        return readable

    def _close(self) -> None:
        try:
            self._reader.close()
        finally:
            self._discard_repaired()

    def _discard_repaired(self) -> None:
        if self._repaired is not None:
            shutil.rmtree(self._repaired, ignore_errors=True)
            self._repaired = None

    def _deserialize(self, raw: bytes, msgtype: str):
        try:
            return self._reader.deserialize(raw, msgtype)
        except Exception as error:  # corrupt CDR surfaces as struct/index/value errors from rosbags
            raise BadFrame("deserialize_failed", f"{type(error).__name__}: {error}") from error


def _open_reader(paths: list[Path]):
    from rosbags.highlevel import AnyReader
    from rosbags.typesys import Stores, get_typestore

    # Old sqlite3 bags store no message definitions; Image and CompressedImage are the same in Humble and Jazzy.
    reader = AnyReader(paths, default_typestore=get_typestore(Stores.ROS2_HUMBLE))
    reader.open()
    return reader


_MCAP_MAGIC = b"\x89MCAP0\r\n"
_MCAP_FOOTER = 0x02
_MCAP_DATA_END = 0x0F


def _readable_copy_of_cut_mcap(paths: list[Path]) -> Path | None:
    """A temporary copy of a single .mcap file that ends mid-record, cut at its last complete record and closed
    with an empty DataEnd and a Footer without summary, which rosbags then reads by scanning (`meta_scan`).
    None when `paths` is not one such file. A killed recorder leaves exactly this: no index, no footer."""
    if len(paths) != 1 or not paths[0].is_file() or paths[0].suffix != ".mcap":
        return None
    size = paths[0].stat().st_size
    with paths[0].open("rb") as handle:
        if handle.read(len(_MCAP_MAGIC)) != _MCAP_MAGIC:
            return None
        handle.seek(size - len(_MCAP_MAGIC))
        if handle.read() == _MCAP_MAGIC:
            return None  # complete, and broken in some other way
        end = offset = len(_MCAP_MAGIC)
        while offset + 9 <= size:  # records: opcode (1 byte), length (uint64 LE), content
            handle.seek(offset)
            head = handle.read(9)
            opcode, length = head[0], int.from_bytes(head[1:9], "little")
            if opcode in (_MCAP_DATA_END, _MCAP_FOOTER) or offset + 9 + length > size:
                break
            offset = end = offset + 9 + length
        if end == len(_MCAP_MAGIC):
            return None  # not even the header record survived
        folder = Path(tempfile.mkdtemp(prefix="motionllm-cut-mcap-"))
        copy = folder / paths[0].name
        handle.seek(0)
        with copy.open("wb") as out:
            remaining = end
            while remaining:
                block = handle.read(min(remaining, 1 << 20))
                out.write(block)
                remaining -= len(block)
            out.write(bytes([_MCAP_DATA_END]) + (4).to_bytes(8, "little") + bytes(4))  # data CRC 0: unchecked
            out.write(bytes([_MCAP_FOOTER]) + (20).to_bytes(8, "little") + bytes(20))  # no summary section
            out.write(_MCAP_MAGIC)
    return copy


def _one_line(error: Exception) -> str:
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
