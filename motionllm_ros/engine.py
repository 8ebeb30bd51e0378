"""The ROS-free streaming engine: frames in, behaviour descriptions out, never blocking the producer.

    submit(frame) -> [frame queue] -> perception worker -> windows (data time) -> [window queue] -> model worker
                                                                                         -> on_result, history

Two modes:
- live: the queues keep the newest items and drop the oldest (counted), so a slow stage makes the engine skip
  frames or windows rather than fall behind; `submit` never waits. What a robot runs.
- lossless: `submit` waits for room, so every frame is processed and the output is deterministic. What offline
  replay and evaluation run.

Windows are cut in data time (the frames' stamps): a window of `window_s` ends every `stride_s`, whatever the rate or
the speed of replay. Windows fit the data: the first starts at the first frame; at the end of the input
the next window of the stride grid is clipped to the last frame (a clip shorter than one window gets one window from
its first frame to its last), never shifted off the grid. A failure in a stage is logged with its context, counted,
and the next item proceeds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any, Callable, Generic, Protocol, TypeVar

import numpy as np

from motionllm_ros.sources.base import Frame

LOG = logging.getLogger("motionllm.engine")
T = TypeVar("T")


class DropOldestQueue(Generic[T]):
    """A bounded FIFO. Live: a full queue drops its oldest item (counted). Lossless: `put` waits for room."""

    def __init__(self, maxsize: int, lossless: bool):
        if maxsize < 1:
            raise ValueError(f"queue size must be >= 1, got {maxsize}")
        self._items: deque[T] = deque()
        self._maxsize = maxsize
        self._lossless = lossless
        self._closed = False
        self._condition = threading.Condition()
        self.dropped = 0

    def put(self, item: T) -> None:
        with self._condition:
            if self._lossless:
                self._condition.wait_for(lambda: len(self._items) < self._maxsize or self._closed)
            elif len(self._items) >= self._maxsize:
                self._items.popleft()
                self.dropped += 1
            if self._closed:
                raise RuntimeError("queue is closed")
            self._items.append(item)
            self._condition.notify_all()

    def get(self) -> T | None:
        """The oldest item; None once the queue is closed and empty."""
        with self._condition:
            self._condition.wait_for(lambda: self._items or self._closed)
            if not self._items:
                return None
            item = self._items.popleft()
            self._condition.notify_all()
            return item

    def close(self) -> None:
        with self._condition:
            self._closed = True
            self._condition.notify_all()

    def __len__(self) -> int:
        with self._condition:
            return len(self._items)


@dataclass(frozen=True)
class PersonSample:
    """What the perception stage keeps of one frame: small, no pixels."""

    stamp: float  # seconds, data time
    arrived: float  # time.monotonic() when the frame was submitted: for latency
    valid: bool
    reason: str | None
    track_id: int | None
    joints: np.ndarray  # (22, 3) metres, camera-centred, y up; NaN when not valid
    joint_seen: np.ndarray  # (22,) bool: placed from its own landmarks (see PersonFrame.joint_seen)
    video: Any = None  # per-frame video features from the frame encoder, when it encoded this frame
    camera_rotation: np.ndarray | None = None  # (3, 3) camera -> world-fixed frame; None: not estimated


@dataclass(frozen=True)
class Window:
    start: float  # seconds, data time: end - window length, or the first frame's stamp (never before it)
    end: float  # seconds, data time: the cut, or the last frame's stamp at the end of the input
    frame_id: str
    samples: tuple[PersonSample, ...]  # every processed frame in (start, end], oldest first
    track_id: int | None  # the track with the most valid frames in the window; None when nobody was fitted

    def track_motion(self, unseen_as_nan: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """Stamps (N,) and joints (N, 22, 3) of the window's track, valid frames only; with `unseen_as_nan`,
        joints not placed from their own landmarks are NaN."""
        picked = [s for s in self.samples if s.valid and s.track_id == self.track_id]
        if not picked:
            return np.zeros(0), np.zeros((0, 22, 3))
        joints = np.stack([s.joints for s in picked])
        if unseen_as_nan:
            joints = np.where(np.stack([s.joint_seen for s in picked])[:, :, None], joints, np.nan)
        return np.array([s.stamp for s in picked]), joints


@dataclass(frozen=True)
class Description:
    """One result: what a describer said about one window."""

    window_start: float  # seconds, data time
    window_end: float
    frame_id: str
    track_id: int | None
    num_frames: int  # processed frames in the window
    num_valid: int  # of which with a fit of the track described
    text: str
    labels: tuple[str, ...]
    scores: tuple[float, ...]
    confidence: float
    model_id: str
    latency_s: float  # wall seconds from the submission of the window's last frame to this result
    details: dict[str, Any] = field(default_factory=dict)


class Describer(Protocol):
    """Turns a window into text and labels: the kinematic primitives, or MotionLLM."""

    model_id: str

    def __call__(self, window: Window) -> tuple[str, tuple[str, ...], tuple[float, ...], float, dict[str, Any]]:
        """-> (text, labels, scores, confidence, details)."""


class Perception(Protocol):
    def process(self, rgb: np.ndarray, stamp: float) -> Any: ...  # -> PersonFrame-like

    def set_intrinsics(self, intrinsics: Any) -> None: ...  # a camera calibration for the frames to come


@dataclass(frozen=True)
class EngineParams:
    window_s: float = 4.0  # seconds of data time described together
    stride_s: float = 1.0  # seconds of data time between two window ends
    lossless: bool = False  # True: every frame processed, deterministic (offline); False: live, drop oldest
    frame_queue: int = 2  # live: frames waiting for perception; small so that what is processed is recent
    window_queue: int = 2  # windows waiting for the model
    history: int = 600  # descriptions kept for queries (10 minutes at a 1 s stride)

    def __post_init__(self) -> None:
        if not (self.window_s > 0 and 0 < self.stride_s <= self.window_s):
            raise ValueError(f"need 0 < stride_s <= window_s, got window {self.window_s}, stride {self.stride_s}")
        if self.history < 1:
            raise ValueError("history must be >= 1")


class StreamingEngine:
    def __init__(self, perception: Perception, describer: Describer, params: EngineParams | None = None,
                 on_result: Callable[[Description], None] | None = None,
                 frame_encoder: Callable[[float, np.ndarray], Any] | None = None,
                 on_person: Callable[[Frame, Any], None] | None = None):
        """`frame_encoder(stamp, rgb)` runs on the perception worker and returns the frame's video features, or None
        for a frame it does not need: each frame is encoded once and reused by every window that samples it.
        `on_person(frame, person)` receives every frame's perception result (a PersonFrame: SMPL pose, joints,
        validity) on the perception worker, e.g. to publish ~/smpl_pose; it must return quickly."""
        self.params = params or EngineParams()
        self.frame_encoder = frame_encoder
        self.on_person = on_person
        self.perception = perception
        self.describer = describer
        self.on_result = on_result
        self._counters: Counter[str] = Counter()  # submitted, processed, windows, described, errors by stage
        self._counter_lock = threading.Lock()
        self._flush = True
        self.history: deque[Description] = deque(maxlen=self.params.history)
        self._history_lock = threading.Lock()
        self._frames: DropOldestQueue[tuple[Frame, float]] = DropOldestQueue(self.params.frame_queue,
                                                                             self.params.lossless)
        self._windows: DropOldestQueue[Window] = DropOldestQueue(self.params.window_queue, self.params.lossless)
        self._samples: deque[PersonSample] = deque()  # the current window's worth, oldest first
        self._next_end: float | None = None
        self._last_end: float | None = None
        self._first_stamp: float | None = None  # of the current run of frames (restarts after a gap or a rewind)
        self._frame_id = ""
        self._latest_window: Window | None = None  # for fresh answers to queries
        self._latest_lock = threading.Lock()
        self._workers = [threading.Thread(target=self._perception_loop, name="motionllm-perception", daemon=True),
                         threading.Thread(target=self._model_loop, name="motionllm-model", daemon=True)]
        for worker in self._workers:
            worker.start()

    # -- producer side ------------------------------------------------------------------------------------------
    def submit(self, frame: Frame) -> None:
        """Hand over a frame. Live: returns at once. Lossless: waits while the perception stage is busy."""
        self._count("submitted")
        self._frames.put((frame, time.monotonic()))

    def close(self, flush: bool = True) -> None:
        """Stop after the queued work; with `flush`, a last window covers frames after the last cut."""
        self._flush = flush
        self._frames.close()
        self._workers[0].join()
        self._windows.close()
        self._workers[1].join()

    def _count(self, key: str) -> None:
        with self._counter_lock:
            self._counters[key] += 1

    def stats(self) -> dict[str, int]:
        """Counters: submitted, processed, windows, described, errors.<stage>, dropped_frames, dropped_windows."""
        with self._counter_lock:
            counts = dict(self._counters)
        counts["dropped_frames"] = self._frames.dropped
        counts["dropped_windows"] = self._windows.dropped
        return counts

    def latest_window(self) -> Window | None:
        """The newest window cut (described or still queued, even if the live queue dropped it)."""
        with self._latest_lock:
            return self._latest_window

    def recent(self, lookback_s: float, track_id: int | None = None) -> list[Description]:
        """Descriptions whose window ends within `lookback_s` of the newest one, oldest first."""
        with self._history_lock:
            items = list(self.history)
        if not items:
            return []
        newest = items[-1].window_end
        return [d for d in items if d.window_end >= newest - lookback_s and (track_id is None or d.track_id == track_id)]

    # -- perception worker --------------------------------------------------------------------------------------
    def _perception_loop(self) -> None:
        while (item := self._frames.get()) is not None:
            frame, arrived = item
            try:
                result = self.perception.process(frame.rgb, frame.stamp)
                video = self.frame_encoder(frame.stamp, frame.rgb) if self.frame_encoder is not None else None
                sample = PersonSample(frame.stamp, arrived, bool(result.valid), result.reason, result.track_id,
                                      np.asarray(result.joints, dtype=np.float64),
                                      np.asarray(result.joint_seen, dtype=bool), video,
                                      getattr(result, "camera_rotation", None))
            except Exception:  # a stage failure must not stop the stream
                LOG.exception("perception failed on the frame at stamp %.6f", frame.stamp)
                self._count("errors.perception")
                continue
            self._count("processed")
            if self.on_person is not None:
                try:
                    self.on_person(frame, result)
                except Exception:
                    LOG.exception("the per-frame callback failed at stamp %.6f", frame.stamp)
                    self._count("errors.output")
            self._frame_id = frame.frame_id
            self._add(sample)
        if self._flush:
            self._cut_rest()

    def _cut_rest(self) -> None:
        """When frames arrived after the last cut: the next window of the stride grid, clipped to the newest frame."""
        if self._samples and self._next_end is not None and (
                self._last_end is None or self._samples[-1].stamp > self._last_end):
            self._cut(self._samples[-1].stamp, start=self._next_end - self.params.window_s)

    def _add(self, sample: PersonSample) -> None:
        if self._samples and sample.stamp < self._samples[-1].stamp - self.params.window_s:
            # Time went back by more than a window (a bag replayed again): start over.
            LOG.warning("data time went back from %.3f to %.3f s: windows restart", self._samples[-1].stamp,
                        sample.stamp)
            self._cut_rest()
            self._samples.clear()
            self._last_end = None
            self._next_end = None
        if self._next_end is None:
            self._first_stamp = sample.stamp
            self._next_end = sample.stamp + self.params.window_s
        # Frames up to a cut belong to the window that ends there; a frame past it closes the window first.
        while sample.stamp > self._next_end:
            self._cut(self._next_end)
            self._next_end += self.params.stride_s
            if sample.stamp > self._next_end and (
                    not self._samples or self._samples[-1].stamp <= self._next_end - self.params.window_s):
                # The next window would hold no frame (a gap longer than a window): start over as at the beginning.
                self._samples.clear()
                self._first_stamp = sample.stamp
                self._next_end = sample.stamp + self.params.window_s
                break
        self._samples.append(sample)
        while self._samples and self._samples[0].stamp < sample.stamp - self.params.window_s:
            self._samples.popleft()

    def _cut(self, end: float, start: float | None = None) -> None:
        start = end - self.params.window_s if start is None else start
        if self._first_stamp is not None:
            start = max(start, self._first_stamp)  # never before the first frame
        samples = tuple(s for s in self._samples if start < s.stamp <= end)
        self._last_end = end
        if not samples:
            return
        tracks = Counter(s.track_id for s in samples if s.valid)
        track = tracks.most_common(1)[0][0] if tracks else None
        self._count("windows")
        window = Window(start, end, self._frame_id, samples, track)
        with self._latest_lock:
            self._latest_window = window
        self._windows.put(window)

    # -- model worker -------------------------------------------------------------------------------------------
    def _model_loop(self) -> None:
        while (window := self._windows.get()) is not None:
            try:
                text, labels, scores, confidence, details = self.describer(window)
            except Exception:
                LOG.exception("describing the window %.3f..%.3f s failed", window.start, window.end)
                self._count("errors.model")
                continue
            description = Description(
                window.start, window.end, window.frame_id, window.track_id, len(window.samples),
                sum(s.valid and s.track_id == window.track_id for s in window.samples), text, tuple(labels),
                tuple(float(s) for s in scores), float(confidence), self.describer.model_id,
                time.monotonic() - window.samples[-1].arrived, details)
            with self._history_lock:
                self.history.append(description)
            self._count("described")
            if self.on_result is not None:
                try:
                    self.on_result(description)
                except Exception:
                    LOG.exception("the result callback failed")
                    self._count("errors.output")
