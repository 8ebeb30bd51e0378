"""Video files through OpenCV, with presentation timestamps as data time."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Iterator

from motionllm_ros.sources.base import LOG, BadFrame, Frame, SkipCounter, SourceError, SourceInfo


class VideoFileSource:
    """Frames of a video file in decode order, stamped with their presentation time (seconds from 0).

    Presentation time, not index / fps: variable-frame-rate files (phones) have irregular gaps, and windows are cut
    in data time. When the backend reports no usable time, the nominal rate is used instead.
    """

    def __init__(self, path: str | Path, frame_id: str = "", logger: logging.Logger = LOG):
        import cv2

        self.path = Path(path)
        if not self.path.is_file():
            raise SourceError(f"video file not found: {self.path}")
        capture = cv2.VideoCapture(str(self.path))
        opened = capture.isOpened()
        fps = capture.get(cv2.CAP_PROP_FPS)
        declared = int(capture.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        capture.release()
        if not opened:
            raise SourceError(f"{self.path}: OpenCV cannot open this file as a video")
        self.frame_id = frame_id
        self._logger = logger
        self.camera_info = None
        self.skipped = SkipCounter(logger)
        self.info = SourceInfo("video", str(self.path), fps if fps and fps > 0 else None, declared or None)

    def __iter__(self) -> Iterator[Frame]:
        import cv2

        capture = cv2.VideoCapture(str(self.path))
        declared = self.info.expected_frames or 0
        decoded = 0
        last_stamp = -1.0
        by_index = False  # the backend reports no presentation times: stamps are index / nominal rate throughout
        try:
            while True:
                ok, bgr = capture.read()
                if not ok:
                    break
                stamp = capture.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                if decoded == 1 and stamp <= 0.0 and last_stamp == 0.0 and self.info.nominal_fps:
                    self._logger.warning("%s: the decoder reports no presentation times; stamping frames at the "
                                         "nominal %.3f fps", self.path, self.info.nominal_fps)
                    by_index = True
                if by_index:
                    stamp = decoded / self.info.nominal_fps
                decoded += 1
                if bgr is None or bgr.ndim != 3 or bgr.shape[2] != 3 or bgr.size == 0:
                    shape = None if bgr is None else bgr.shape
                    self.skipped.skip(BadFrame("decode_failed", f"decoder returned {shape}"), str(self.path), stamp)
                    continue
                if not stamp > last_stamp:
                    # Two frames at one presentation time (or a step back) cannot both be placed in data time;
                    # the later one is skipped and counted rather than given a made-up stamp.
                    reason = "duplicate_stamp" if stamp == last_stamp else "non_increasing_stamp"
                    self.skipped.skip(BadFrame(reason, f"stamp {stamp:.6f} after {last_stamp:.6f}"),
                                      str(self.path), stamp)
                    continue
                last_stamp = stamp
                yield Frame(stamp, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB), self.frame_id)
        finally:
            capture.release()
        if decoded == 0:
            raise SourceError(f"{self.path}: no frame could be decoded")
        if declared > decoded:
            # The container promised more frames than the decoder delivered: a truncated or damaged file.
            # FFmpeg also stops at the end of the container's edit list: frames stored after it are not presented.
            self.skipped.skip(BadFrame("undecodable_frame", f"the container declares {declared} frames, the "
                                                            f"decoder delivered {decoded} (damaged data, or frames "
                                                            f"after the end of the edit list)"), str(self.path),
                              None, count=declared - decoded)
