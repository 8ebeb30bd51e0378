"""A live camera by device index, through OpenCV. Data time = capture time (wall clock)."""

from __future__ import annotations

import logging
import time
from typing import Iterator

from motionllm_ros.sources.base import LOG, BadFrame, Frame, SkipCounter, SourceError, SourceInfo

# A camera that fails this many reads in a row is gone (unplugged, taken by another process).
MAX_CONSECUTIVE_FAILURES = 30


class CameraSource:
    def __init__(self, index: int, frame_id: str = "camera", logger: logging.Logger = LOG):
        import cv2

        self.index = index
        self.frame_id = frame_id
        self.camera_info = None
        self.skipped = SkipCounter(logger)
        self._capture = cv2.VideoCapture(index)
        if not self._capture.isOpened():
            raise SourceError(f"camera {index} cannot be opened (does /dev/video{index} exist and is it free?)")
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.info = SourceInfo("camera", f"camera {index}", fps if fps and fps > 0 else None)

    def __iter__(self) -> Iterator[Frame]:
        import cv2

        failures = 0
        try:
            while failures < MAX_CONSECUTIVE_FAILURES:
                ok, bgr = self._capture.read()
                stamp = time.time()
                if not ok or bgr is None or bgr.ndim != 3:
                    failures += 1
                    self.skipped.skip(BadFrame("read_failed", "the camera returned no image"),
                                      self.info.name, stamp)
                    continue
                failures = 0
                yield Frame(stamp, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), self.frame_id)
        finally:
            self._capture.release()
        raise SourceError(f"camera {self.index} stopped delivering images "
                          f"({MAX_CONSECUTIVE_FAILURES} failed reads in a row)")
