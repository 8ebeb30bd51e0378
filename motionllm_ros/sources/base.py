"""What every frame source yields, and how it accounts for what it could not yield."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass
from typing import Iterator, NamedTuple, Protocol

import numpy as np

LOG = logging.getLogger("motionllm.sources")


class Frame(NamedTuple):
    stamp: float  # seconds, data time: header stamp (bags, ROS) or presentation time (video files)
    rgb: np.ndarray  # (H, W, 3) uint8, RGB order, C-contiguous
    frame_id: str  # camera frame of the image ("" when the source has none)


class SourceError(ValueError):
    """The source as a whole cannot be read (missing file, unknown format, bag without the topic)."""


class BadFrame(ValueError):
    """One frame cannot be turned into RGB; `reason` is a short stable key used for counting."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class SkipCounter:
    """Counts skipped frames by reason and logs the first of each reason, so nothing is lost silently.

    One log line per reason (with where and when it happened) rather than one per frame: a camera that sends a bad
    encoding at 30 Hz must not flood the log, but the first occurrence must say exactly what was wrong.
    """

    def __init__(self, logger: logging.Logger = LOG):
        self.counts: Counter[str] = Counter()
        self._logger = logger

    def skip(self, error: BadFrame, where: str, stamp: float | None, count: int = 1) -> None:
        first = error.reason not in self.counts
        self.counts[error.reason] += count
        if first:
            at = f" at stamp {stamp:.6f}" if stamp is not None else ""
            self._logger.warning("skipping frame from %s%s: %s (further '%s' skips are only counted)",
                                 where, at, error, error.reason)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass(frozen=True)
class CameraInfoData:
    """The intrinsics a recording carries for its image topic (sensor_msgs/CameraInfo)."""

    k: tuple[float, ...]  # (9,) row-major 3x3 camera matrix, pixels
    width: int
    height: int
    topic: str


@dataclass(frozen=True)
class SourceInfo:
    kind: str  # "video", "rosbag2" or "camera"
    name: str  # file path, bag path + topic, or camera index
    nominal_fps: float | None  # what the container / driver declares; None when unknown (bags)
    expected_frames: int | None = None  # what the container / bag index declares; None for cameras (endless)


class FrameSource(Protocol):
    info: SourceInfo
    skipped: SkipCounter
    camera_info: CameraInfoData | None  # None when the source has no calibration (video files, cameras)

    def __iter__(self) -> Iterator[Frame]: ...
