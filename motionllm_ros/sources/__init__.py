"""Frame sources: video files, rosbag2 recordings and cameras behind one iterator of `Frame`s."""

from __future__ import annotations

import logging
from pathlib import Path

from motionllm_ros.sources.base import LOG, Frame, FrameSource, SourceError

__all__ = ["Frame", "FrameSource", "SourceError", "detect_format", "open_source"]

# Leading bytes of the containers we accept. Recognised by content so that a bag renamed .mp4, a video without
# an extension or a .MOV from a phone all go to the right reader.
_SQLITE_MAGIC = b"SQLite format 3\x00"
_MCAP_MAGIC = b"\x89MCAP0\r\n"


def detect_format(path: Path) -> str:
    """'rosbag2' (directory, sqlite3 or mcap file) or 'video'; SourceError when it is neither."""
    if path.is_dir():
        return "rosbag2"
    if not path.exists():
        raise SourceError(f"input not found: {path}")
    if not path.is_file():  # checked before opening: reading a FIFO would block, /dev/zero never ends
        raise SourceError(f"{path}: not a regular file (a device, FIFO or socket); give a video file or a rosbag2 "
                          f"recording")
    try:
        with path.open("rb") as handle:
            head = handle.read(16)
    except OSError as error:
        raise SourceError(f"{path}: cannot be read: {error.strerror or error}") from None
    if not head:
        raise SourceError(f"{path}: the file is empty")
    if head.startswith(_MCAP_MAGIC) or head.startswith(_SQLITE_MAGIC):
        return "rosbag2"
    if _looks_like_video(head):
        return "video"
    raise SourceError(f"{path}: not a video (MP4/MOV, Matroska/WebM, AVI, MPEG-TS/PS) nor a rosbag2 recording "
                      f"(first bytes {head[:8].hex()})")


def _looks_like_video(head: bytes) -> bool:
    return (head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"wide")  # ISO base media: MP4, MOV, 3GP
            or head.startswith(b"\x1a\x45\xdf\xa3")  # EBML: Matroska, WebM
            or (head.startswith(b"RIFF") and head[8:12] == b"AVI ")
            or head.startswith(b"\x47")  # MPEG transport stream sync byte
            or head.startswith(b"\x00\x00\x01\xba")  # MPEG program stream
            or head.startswith(b"FLV"))


def open_source(spec: str | int, topic: str | None = None, frame_id: str = "",
                logger: logging.Logger = LOG) -> FrameSource:
    """A camera index ('0'), a video file or a rosbag2 recording (directory, .mcap or .db3)."""
    if isinstance(spec, int) or (isinstance(spec, str) and spec.isdigit()):
        from motionllm_ros.sources.camera import CameraSource

        return CameraSource(int(spec), frame_id=frame_id or "camera", logger=logger)
    path = Path(spec).expanduser()
    kind = detect_format(path)
    if kind == "rosbag2":
        from motionllm_ros.sources.rosbag import RosbagSource

        return RosbagSource(path, topic=topic, logger=logger)
    if topic:
        raise SourceError(f"{path} is a video file; --topic only applies to rosbag2 recordings")
    from motionllm_ros.sources.video import VideoFileSource

    return VideoFileSource(path, frame_id=frame_id, logger=logger)


# Longest pause of a real-time replay. A longer step in data time (a far-future stamp, a recorder paused for a
# day) is a gap, not a wait: replay continues at once from the new stamp.
MAX_REPLAY_GAP_S = 2.0


def at_recorded_rate(frames, max_gap_s: float = MAX_REPLAY_GAP_S, logger: logging.Logger = LOG):
    """Yields `frames` no faster than their stamps advance: a recording replayed in real time, so that the live drop
    policy sees the timing a robot would have seen. A step forward of more than `max_gap_s` or any step backwards
    restarts the clock at that frame (logged once, then counted in the log at the end)."""
    import time

    first_stamp = first_wall = previous = None
    gaps = 0
    for frame in frames:
        if previous is None or not 0.0 <= frame.stamp - previous <= max_gap_s:
            if previous is not None:
                gaps += 1
                if gaps == 1:
                    logger.warning("replay: the stamps jump by %.3f s at %.6f; replayed as a gap, not waited for "
                                   "(further jumps are only counted)", frame.stamp - previous, frame.stamp)
            first_stamp, first_wall = frame.stamp, time.monotonic()
        time.sleep(max(0.0, (frame.stamp - first_stamp) - (time.monotonic() - first_wall)))
        previous = frame.stamp
        yield frame
    if gaps > 1:
        logger.warning("replay: %d jumps in the stamps were replayed as gaps", gaps)
