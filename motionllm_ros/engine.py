"""The ROS-free streaming engine: frames in, behaviour descriptions out, never blocking the producer.

    submit(frame) -> [frame queue] -> perception worker -> windows (data time) -> [window queue] -> model worker
                                                                                         -> on_result, history

Everybody tracked is described: each cut gives one window per person seen in enough of its frames (most salient
first), and each is described on its own; the window still holds every person's samples, so a describer can say
what the people did together.

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


def in_window(stamp: float, start: float, end: float, first_stamp: float | None) -> bool:
    """Whether a window (start, end] holds the frame stamped `stamp`; a window that starts at the input's first
    frame (`first_stamp`, or that of its restart) holds it too, else that frame would be in no window."""
    return start < stamp <= end or stamp == start == first_stamp


@dataclass(frozen=True)
class PersonSample:
    """What the perception stage keeps of one tracked person in one frame: small, no pixels."""

    track_id: int | None  # None: nobody was tracked in the frame (then `reason` says why)
    valid: bool
    reason: str | None
    joints: np.ndarray  # (22, 3) metres, camera-centred, y up; NaN when not valid
    joint_seen: np.ndarray  # (22,) bool: placed from its own landmarks (see PersonFrame.joint_seen)
    bbox: np.ndarray  # (4,) x_min, y_min, x_max, y_max normalised to the image; NaN when unknown
    id_uncertain: bool = False  # the track may have changed person in a crossing

    @property
    def size(self) -> float:
        """sqrt of the normalised box area: how near (large) the person is; 0 when unknown."""
        area = float((self.bbox[2] - self.bbox[0]) * (self.bbox[3] - self.bbox[1]))
        return float(np.sqrt(area)) if np.isfinite(area) and area > 0 else 0.0


@dataclass(frozen=True)
class FrameSample:
    """What the perception stage keeps of one frame."""

    stamp: float  # seconds, data time
    arrived: float  # time.monotonic() when the frame was submitted: for latency
    people: tuple[PersonSample, ...]  # nearest first; one sample with track_id None when nobody was tracked
    video: Any = None  # per-frame video features from the frame encoder, when it encoded this frame
    camera_rotation: np.ndarray | None = None  # (3, 3) camera -> previous camera; None: not estimated

    def person(self, track_id: int | None) -> PersonSample | None:
        return next((p for p in self.people if p.track_id == track_id), None)

    def valid(self, track_id: int | None) -> bool:
        person = self.person(track_id)
        return person is not None and person.valid


@dataclass(frozen=True)
class Window:
    start: float  # seconds, data time: end - window length, or the first frame's stamp (never before it)
    end: float  # seconds, data time: the cut, or the last frame's stamp at the end of the input
    frame_id: str
    samples: tuple[FrameSample, ...]  # every processed frame the window holds (`in_window`), oldest first, with
    # everybody in it
    track_id: int | None  # the person this window describes; None when nobody was fitted
    salience_rank: int = 0  # 0: the most salient person of the cut (seen longest and nearest), 1: the next, ...

    def track_motion(self, unseen_as_nan: bool = False, track_id: int | None = None
                     ) -> tuple[np.ndarray, np.ndarray]:
        """Stamps (N,) and joints (N, 22, 3) of the window's track (or `track_id`), valid frames only; with
        `unseen_as_nan`, joints not placed from their own landmarks are NaN."""
        track = self.track_id if track_id is None else track_id
        picked = [(frame.stamp, person) for frame in self.samples
                  if (person := frame.person(track)) is not None and person.valid]
        if not picked:
            return np.zeros(0), np.zeros((0, 22, 3))
        joints = np.stack([p.joints for _, p in picked])
        if unseen_as_nan:
            joints = np.where(np.stack([p.joint_seen for _, p in picked])[:, :, None], joints, np.nan)
        return np.array([stamp for stamp, _ in picked]), joints

    def others_at(self, stamps: np.ndarray) -> dict[int, np.ndarray]:
        """{track id: (N, 22, 3) joints} of every other valid person at the frames stamped `stamps` (a subset of the
        window's), NaN where that person was not fitted or a joint not seen."""
        frames = {f.stamp: f for f in self.samples}
        others = {p.track_id for f in self.samples for p in f.people
                  if p.valid and p.track_id is not None and p.track_id != self.track_id}
        motion = {}
        for track in sorted(others):
            joints = np.full((len(stamps), 22, 3), np.nan)
            for k, stamp in enumerate(stamps):
                person = frames[float(stamp)].person(track)
                if person is not None and person.valid:
                    joints[k] = np.where(person.joint_seen[:, None], person.joints, np.nan)
            motion[track] = joints
        return motion

    def track_boxes(self) -> list[list[float]]:
        """[stamp s, x_min, y_min, x_max, y_max] (image box normalised to the image) of the window's track at each
        of its valid frames: where in the image the described person was (evaluation matches people by it)."""
        return [[f.stamp, *(round(float(v), 4) for v in person.bbox)] for f in self.samples
                if (person := f.person(self.track_id)) is not None and person.valid]

    @property
    def num_valid(self) -> int:
        return sum(frame.valid(self.track_id) for frame in self.samples)

    @property
    def id_uncertain(self) -> bool:
        return any(p.id_uncertain for f in self.samples if (p := f.person(self.track_id)) is not None)


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
    id_uncertain: bool = False  # the track may have changed person within the window (a crossing)
    salience_rank: int = 0  # 0: the most salient person of the window's cut


class Describer(Protocol):
    """Turns a window into text and labels: the kinematic primitives, or MotionLLM."""

    model_id: str

    def __call__(self, window: Window) -> tuple[str, tuple[str, ...], tuple[float, ...], float, dict[str, Any]]:
        """-> (text, labels, scores, confidence, details)."""


class Perception(Protocol):
    def process(self, rgb: np.ndarray, stamp: float) -> Any: ...  # -> SceneFrame-like

    def set_intrinsics(self, intrinsics: Any) -> None: ...  # a camera calibration for the frames to come


@dataclass(frozen=True)
class EngineParams:
    window_s: float = 4.0  # seconds of data time described together
    stride_s: float = 1.0  # seconds of data time between two window ends
    lossless: bool = False  # True: every frame processed, deterministic (offline); False: live, drop oldest
    frame_queue: int = 2  # live: frames waiting for perception; small so that what is processed is recent
    window_queue: int = 2  # windows waiting for the model
    history: int = 1800  # descriptions kept for queries (10 minutes at a 1 s stride with 3 people)
    min_track_fraction: float = 0.2  # a person is described in a window when fitted in this fraction of its frames
    describer_people: int = 1  # people per cut the main describer describes (most salient first); the others go
    # to `others_describer`. Beyond the first, only while the cut's descriptions so far and one more (at the
    # describer's mean time) fit in one stride: a robot's descriptions must keep up with the stream.

    def __post_init__(self) -> None:
        if not (self.window_s > 0 and 0 < self.stride_s <= self.window_s):
            raise ValueError(f"need 0 < stride_s <= window_s, got window {self.window_s}, stride {self.stride_s}")
        if self.history < 1:
            raise ValueError("history must be >= 1")
        if self.describer_people < 1:
            raise ValueError(f"describer_people must be >= 1, got {self.describer_people}")
        if not 0.0 < self.min_track_fraction <= 1.0:
            raise ValueError(f"min_track_fraction must be in (0, 1], got {self.min_track_fraction}")


class StreamingEngine:
    def __init__(self, perception: Perception, describer: Describer, params: EngineParams | None = None,
                 on_result: Callable[[Description], None] | None = None,
                 frame_encoder: Callable[[float, np.ndarray], Any] | None = None,
                 on_person: Callable[[Frame, Any], None] | None = None,
                 others_describer: Describer | None = None):
        """`frame_encoder(stamp, rgb)` runs on the perception worker and returns the frame's video features, or None
        for a frame it does not need: each frame is encoded once and reused by every window that samples it.
        `on_person(frame, scene)` receives every frame's perception result (a SceneFrame: every fitted person's
        SMPL pose, joints, validity) on the perception worker, e.g. to publish ~/smpl_pose; it must return quickly.
        `others_describer` describes the people of a cut beyond params.describer_people (None: `describer` does
        them all): a language model may describe the most salient person while the primitives describe the
        others."""
        self.params = params or EngineParams()
        self.frame_encoder = frame_encoder
        self.on_person = on_person
        self.perception = perception
        self.describer = describer
        self.others_describer = others_describer or describer
        self._describer_seconds: deque[float] = deque(maxlen=20)  # wall time of the main describer's recent calls
        self.on_result = on_result
        self._counters: Counter[str] = Counter()  # submitted, processed, windows, described, errors by stage
        self._counter_lock = threading.Lock()
        self._flush = True
        self.history: deque[Description] = deque(maxlen=self.params.history)
        self._history_lock = threading.Lock()
        self._frames: DropOldestQueue[tuple[Frame, float]] = DropOldestQueue(self.params.frame_queue,
                                                                             self.params.lossless)
        # One item per cut: the windows of everybody described in it, most salient first.
        self._windows: DropOldestQueue[tuple[Window, ...]] = DropOldestQueue(self.params.window_queue,
                                                                            self.params.lossless)
        self._samples: deque[FrameSample] = deque()  # the current window's worth, oldest first
        self._next_end: float | None = None
        self._last_end: float | None = None
        self._first_stamp: float | None = None  # of the current run of frames (restarts after a gap or a rewind)
        self._frame_id = ""
        self._latest_windows: tuple[Window, ...] = ()  # of the newest cut, for fresh answers to queries
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

    def latest_window(self, track_id: int | None = None) -> Window | None:
        """The newest cut's window of `track_id`, or (None) of its most salient person (described or still queued,
        even if the live queue dropped it); None when that cut has no such window."""
        with self._latest_lock:
            windows = self._latest_windows
        if track_id is None:
            return windows[0] if windows else None
        return next((w for w in windows if w.track_id == track_id), None)

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
                scene = self.perception.process(frame.rgb, frame.stamp)
                video = self.frame_encoder(frame.stamp, frame.rgb) if self.frame_encoder is not None else None
                people = tuple(PersonSample(p.track_id, bool(p.valid), p.reason,
                                            np.asarray(p.joints, dtype=np.float64),
                                            np.asarray(p.joint_seen, dtype=bool),
                                            np.asarray(p.bbox, dtype=np.float64), bool(p.id_uncertain))
                               for p in scene.people)
                if not people:  # nobody tracked: one sample that says why
                    people = (PersonSample(None, False, scene.reason, np.full((22, 3), np.nan), np.zeros(22, bool),
                                           np.full(4, np.nan)),)
                sample = FrameSample(frame.stamp, arrived, people, video, scene.camera_rotation)
            except Exception:  # a stage failure must not stop the stream
                LOG.exception("perception failed on the frame at stamp %.6f", frame.stamp)
                self._count("errors.perception")
                continue
            self._count("processed")
            if self.on_person is not None:
                try:
                    self.on_person(frame, scene)
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

    def _add(self, sample: FrameSample) -> None:
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
        samples = tuple(s for s in self._samples if in_window(s.stamp, start, end, self._first_stamp))
        self._last_end = end
        if not samples:
            return
        self._count("windows")
        windows = tuple(Window(start, end, self._frame_id, samples, track, rank)
                        for rank, track in enumerate(self._described_tracks(samples)))
        with self._latest_lock:
            self._latest_windows = windows
        self._windows.put(windows)

    def _described_tracks(self, samples: tuple[FrameSample, ...]) -> list[int | None]:
        """The tracks fitted in at least min_track_fraction of the frames, most salient first (summed size: seen
        longest and nearest); [None] when there is none (one window says that nobody was tracked)."""
        salience: Counter[int] = Counter()
        fitted: Counter[int] = Counter()
        for frame in samples:
            for person in frame.people:
                if person.valid and person.track_id is not None:
                    fitted[person.track_id] += 1
                    salience[person.track_id] += person.size
        needed = self.params.min_track_fraction * len(samples)
        tracks = sorted((t for t in fitted if fitted[t] >= needed), key=lambda t: (-salience[t], t))
        return tracks or [None]

    # -- model worker -------------------------------------------------------------------------------------------
    def _model_loop(self) -> None:
        while (windows := self._windows.get()) is not None:
            started = time.monotonic()
            for window in windows:
                self._describe(window, self._describer_for(window.salience_rank, time.monotonic() - started))

    def _describer_for(self, rank: int, spent_s: float) -> Describer:
        """The main describer for the first describer_people people of a cut, while they fit in one stride."""
        if rank == 0 or self.others_describer is self.describer:
            return self.describer
        if rank >= self.params.describer_people:
            return self.others_describer
        mean_s = float(np.mean(self._describer_seconds)) if self._describer_seconds else 0.0
        if spent_s + mean_s > self.params.stride_s:
            self._count("model_over_budget")
            return self.others_describer
        return self.describer

    def _describe(self, window: Window, describer: Describer) -> None:
        started = time.monotonic()
        try:
            text, labels, scores, confidence, details = describer(window)
        except Exception:
            LOG.exception("describing the window %.3f..%.3f s of track %s failed", window.start, window.end,
                          window.track_id)
            self._count("errors.model")
            return
        if describer is self.describer:
            self._describer_seconds.append(time.monotonic() - started)
        description = Description(
            window.start, window.end, window.frame_id, window.track_id, len(window.samples), window.num_valid, text,
            tuple(labels), tuple(float(s) for s in scores), float(confidence), describer.model_id,
            time.monotonic() - window.samples[-1].arrived, {**details, "image_boxes": window.track_boxes()},
            window.id_uncertain, window.salience_rank)
        with self._history_lock:
            self.history.append(description)
        self._count("described")
        if self.on_result is not None:
            try:
                self.on_result(description)
            except Exception:
                LOG.exception("the result callback failed")
                self._count("errors.output")
