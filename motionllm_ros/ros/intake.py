"""What the node's image callback hands over, accounted for: every image received, accepted or skipped by reason,
the input rate and the transport loss from the header stamps, and the status /diagnostics reports. ROS-free (the
node passes plain numbers), so it is tested without rclpy.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import dataclass
from typing import Protocol, Sequence

import numpy as np

from motionllm_ros.sources.base import BadFrame, Frame, SkipCounter

LOG = logging.getLogger("motionllm.ros")

STALE_AFTER_SEC = 2.0  # node-clock seconds without any image while active before /diagnostics warns
ALL_SKIPPED_WINDOW = 10  # /diagnostics reports an error when this many images in a row were all skipped
RATE_WINDOW = 30  # accepted frames whose header stamps give the input rate
# Transport loss: images the header stamps say were sent but never arrived, over the newest LOSS_WINDOW arrivals.
LOSS_WINDOW = 90
LOSS_MIN_FRAMES = 10  # arrivals needed before a loss is estimated
LOSS_WARN = 0.05  # fraction lost above which /diagnostics warns


class FrameSink(Protocol):
    """Where accepted frames go. `submit` must return at once (enqueue, never compute): it runs in the callback.
    The streaming engine is one; in lossless mode its `submit` waits for room, which is what lossless means."""

    def submit(self, frame: Frame) -> None: ...


@dataclass(frozen=True)
class IntakeSnapshot:
    received: int  # images that arrived while active
    accepted: int  # of those, turned into frames and submitted
    skipped: dict[str, int]  # reason -> images that could not become frames
    dropped_inactive: int  # images that arrived while the node was not active
    lost_by_dds: int  # samples the middleware itself reports lost (its message_lost event) since configure
    input_rate_hz: float | None  # accepted frames per second of data time (header stamps); None below 2 frames
    last_arrival: float | None  # node-clock seconds of the newest image since activation; None if none
    all_recent_skipped: bool  # the last ALL_SKIPPED_WINDOW images were all skipped
    # (received, expected) over the newest LOSS_WINDOW arrivals: images that arrived, and images the publisher sent
    # in the same span of header stamps (see `expected_frames`); None until LOSS_MIN_FRAMES have arrived.
    transport: tuple[int, int] | None

    @property
    def transport_loss(self) -> float | None:
        """Fraction of the published images that never arrived (lost by DDS or the subscription queue)."""
        if self.transport is None:
            return None
        received, expected = self.transport
        return 1.0 - received / expected


def expected_frames(stamps: Sequence[float]) -> tuple[int, int] | None:
    """(received, expected) for the images whose header stamps are `stamps` [s]: the images that arrived, and how
    many a publisher at a steady rate sent from the first to the last of them.

    The frame period starts as the shortest gap between arrived stamps that another gap confirms (within 1.5x; a
    single shorter gap is stamping noise); each gap is then a whole number of periods, which numbers the frames,
    and the period is refined as the slope of stamp over frame number. When so many images are lost that no two
    consecutive ones arrive twice, the period comes out too long and the loss too small, never too large. None
    below LOSS_MIN_FRAMES distinct stamps, or without a period.
    """
    unique = np.unique(np.asarray(stamps, dtype=np.float64))
    if len(unique) < LOSS_MIN_FRAMES:
        return None
    gaps = np.diff(unique)
    for shortest in np.sort(gaps):
        confirming = gaps[(gaps >= shortest) & (gaps <= 1.5 * shortest)]
        if len(confirming) >= 2:
            break
    else:
        return None
    period = float(np.median(confirming))
    for _ in range(2):  # each image's frame number, then the period as the slope of stamp over frame number
        frame_numbers = np.concatenate([[0.0], np.cumsum(np.maximum(np.round(gaps / period), 1.0))])
        period = float(np.polyfit(frame_numbers, unique, 1)[0])
    return len(unique), int(frame_numbers[-1]) + 1


class FrameIntake:
    """Accounts for every image the node receives and passes the good ones on to `downstream`.

    It is itself a `FrameSink`, the one the image callback submits to, so that the counters stay right whatever
    consumes the frames (the engine of the current configuration, connected at configure).
    Written by the image callback and read by the diagnostics timer, which run on different executor threads.
    """

    def __init__(self, logger: logging.Logger = LOG):
        self._downstream: FrameSink | None = None
        self._logger = logger
        self._lock = threading.Lock()
        self.reset()

    def connect(self, downstream: FrameSink | None) -> None:
        """Accepted frames go to `downstream` from now on (None: they are counted and go nowhere)."""
        with self._lock:
            self._downstream = downstream

    def reset(self) -> None:
        """Forget everything: a new configuration (maybe another topic) starts from zero."""
        with self._lock:
            self._skipped = SkipCounter(self._logger)
            self._received = self._accepted = self._dropped_inactive = self._lost_by_dds = 0
            self._stamps: deque[float] = deque(maxlen=RATE_WINDOW)  # s, data time of the newest accepted frames
            self._recent: deque[bool] = deque(maxlen=ALL_SKIPPED_WINDOW)  # True = accepted
            self._last_arrival: float | None = None
            self._arrived_stamps: deque[float] = deque(maxlen=LOSS_WINDOW)  # s, header stamps of arrived images

    def restart_window(self) -> None:
        """On activation: rate, recency and silence are measured from now on; totals are kept."""
        with self._lock:
            self._stamps.clear()
            self._recent.clear()
            self._last_arrival = None
            self._arrived_stamps.clear()

    def arrived(self, at: float, stamp: float) -> None:
        """An image stamped `stamp` [s, data time; 0 = unstamped] arrived while active, at node-clock time `at` [s];
        `submit` or `skip` follows."""
        with self._lock:
            self._received += 1
            self._last_arrival = at
            if stamp > 0.0:
                if self._arrived_stamps and stamp < self._arrived_stamps[-1]:
                    self._arrived_stamps.clear()  # data time went backwards (a looped bag): measure afresh
                self._arrived_stamps.append(stamp)

    def submit(self, frame: Frame) -> None:
        with self._lock:
            self._accepted += 1
            self._recent.append(True)
            if self._stamps and frame.stamp < self._stamps[-1]:
                self._stamps.clear()  # data time went backwards (a bag started over): measure afresh
            if not self._stamps or frame.stamp > self._stamps[-1]:
                self._stamps.append(frame.stamp)
            downstream = self._downstream
        if downstream is not None:  # outside the lock: a lossless engine's submit waits for room
            downstream.submit(frame)

    def skip(self, error: BadFrame, where: str, stamp: float | None) -> None:
        with self._lock:
            self._skipped.skip(error, where, stamp)
            self._recent.append(False)

    def drop_inactive(self) -> None:
        with self._lock:
            self._dropped_inactive += 1

    def lost_by_dds(self, count: int) -> None:
        """`count` more samples the middleware reports it never delivered (a reader's lost-sample status)."""
        with self._lock:
            self._lost_by_dds += count

    def snapshot(self) -> IntakeSnapshot:
        with self._lock:
            span = self._stamps[-1] - self._stamps[0] if len(self._stamps) >= 2 else 0.0
            return IntakeSnapshot(
                received=self._received,
                accepted=self._accepted,
                skipped=dict(self._skipped.counts),
                dropped_inactive=self._dropped_inactive,
                lost_by_dds=self._lost_by_dds,
                input_rate_hz=(len(self._stamps) - 1) / span if span > 0 else None,
                last_arrival=self._last_arrival,
                all_recent_skipped=len(self._recent) == ALL_SKIPPED_WINDOW and not any(self._recent),
                transport=expected_frames(self._arrived_stamps),
            )


def input_status(snapshot: IntakeSnapshot, *, active: bool, now: float, active_since: float | None,
                 topic: str) -> tuple[str, str]:
    """('ok' | 'warn' | 'error', message) for the image input; `now` and `active_since` in node-clock seconds."""
    if not active:
        return "ok", "not active"
    if snapshot.all_recent_skipped:
        reasons = ", ".join(f"{reason} {count}" for reason, count in sorted(snapshot.skipped.items()))
        return "error", f"the last {ALL_SKIPPED_WINDOW} images on {topic} were all skipped ({reasons})"
    since = snapshot.last_arrival if snapshot.last_arrival is not None else active_since
    silence = max(0.0, now - since) if since is not None else 0.0  # a clock jump back is not silence
    if silence > STALE_AFTER_SEC:
        if snapshot.last_arrival is None:
            return "warn", (f"no image on {topic} in the {silence:.1f} s since activation: check the topic, "
                            f"input.image_transport and input.qos_reliability")
        return "warn", f"no image on {topic} for {silence:.1f} s"
    if snapshot.input_rate_hz is None:
        return "ok", "waiting for images"
    loss = snapshot.transport_loss
    if loss is not None and loss > LOSS_WARN:
        received, expected = snapshot.transport
        return "warn", (f"{loss:.0%} of the images on {topic} are lost in transport (received {received} of the "
                        f"{expected} their header stamps say were sent): start the camera driver with the Fast DDS "
                        f"profile config/fastdds_profile.xml (FASTRTPS_DEFAULT_PROFILES_FILE on Jazzy, "
                        f"FASTDDS_DEFAULT_PROFILES_FILE on Kilted; a publisher sends through its own shared "
                        f"memory), or use input.image_transport compressed")
    return "ok", f"receiving {snapshot.input_rate_hz:.1f} Hz"
