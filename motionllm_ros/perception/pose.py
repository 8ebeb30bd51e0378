"""2D/3D body pose of every person in view, each under a stable track id, from MediaPipe PoseLandmarker (Tasks API,
VIDEO mode).

MediaPipe returns its poses in no stable order. In VIDEO mode it also treats two regions as one person when they
overlap by more than min_tracking_confidence (an IoU between its square, body-sized regions); at its default of
0.5, two people standing side by side (hug_two_people.mp4) become one slot that flips from one to the other, so
the other is missing from the result. `PoseParams.min_tracking_confidence` is therefore higher here, and the
duplicates that a stricter association leaves (one person tracked and detected again) are merged by landmark
distance. A downstream motion model fed a skeleton that silently jumps between two people describes nonsense, so
`PeopleTracker` gives each person a track and, whenever the match between a track and a person is doubtful
(crossing, hugging), publishes neither (counted) and marks the track's id as uncertain from then on; a person that
matches no track closely enough starts a new one. An id is never handed silently to somebody else.
"""

from __future__ import annotations

import contextlib
import enum
import math
import numbers
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from motionllm_ros import models_cache
from motionllm_ros.quiet import native_stderr_silenced

NUM_LANDMARKS = 33  # BlazePose GHUM topology
_TORSO = (11, 12, 23, 24)  # left / right shoulder, left / right hip
ROTATED_POSE_DEG = 60.0  # a pose whose hips -> shoulders axis in the image is further than this from straight up
ROTATED_OVERLAP_IOU = 0.2  # and whose box overlaps an upright pose's this much is that person's duplicate
MODEL_PARAMETER = "pose.model"  # the config key (ROS parameter), also --pose-model
MODEL_SOURCE = (
    "download pose_landmarker_full.task from MediaPipe's model page "
    "(https://ai.google.dev/edge/mediapipe/solutions/vision/pose_landmarker#models), or run `motionllm models`"
)


class PoseModelError(ValueError):
    """The pose model file is missing or is not a loadable MediaPipe PoseLandmarker bundle."""


class NoTarget(str, enum.Enum):
    """Why a frame carries no target pose. The values are the counter keys of `PoseEstimator.counters`."""

    NO_PERSON = "no_person"  # MediaPipe found nobody
    AMBIGUOUS = "ambiguous"  # people seen, but each matches two tracks about equally well (crossing, hugging)
    BAD_TYPE = "bad_type"  # the image is not a numpy array
    BAD_DTYPE = "bad_dtype"  # not uint8
    BAD_SHAPE = "bad_shape"  # not (H, W, 3)
    EMPTY_IMAGE = "empty_image"  # H or W is 0
    BAD_STAMP = "bad_stamp"  # not a number, NaN or infinite
    STAMP_NOT_INCREASING = "stamp_not_increasing"  # same millisecond as, or slightly before, the previous frame
    DETECTOR_ERROR = "detector_error"  # MediaPipe rejected the frame


@dataclass(frozen=True)
class PoseParams:
    """Tunables of `PoseEstimator`; the defaults were checked on the test clips (see test/test_pose.py).

    Match cost of a person against the previous target: displacement of the torso centre (mean of shoulders
    and hips, steadier than the box centre when arms swing) divided by the previous target's size (sqrt of its
    landmark box area in pixels, so portrait and landscape images behave alike), plus |log(size ratio)|.
    Measured: 0.0-0.3 between consecutive frames of one person (12-30 fps, up to 0.6 for a small person under a
    panning hand-held camera); 0.7 or more between the two men of hug_two_people.mp4, 1.1 or more between the
    two people of handshake_two_people.mp4.
    """

    num_poses: int = 3  # people MediaPipe may return per frame; > 1 so that other people are seen and can be
    # told apart from the target instead of being silently substituted for it
    min_detection_confidence: float = 0.5  # MediaPipe's default
    min_presence_confidence: float = 0.5  # MediaPipe's default
    # In VIDEO mode, the IoU of two person regions above which MediaPipe keeps only one (a fresh detection
    # replaces the tracked person it overlaps). Side by side at distance d, the square regions (side S, a little
    # more than the body's height) overlap with IoU (S - d) / (S + d): MediaPipe's 0.5 merges people whose torsos
    # are closer than S / 3 (about 0.4 body heights), so one of two people talking or hugging is lost.
    # Measured on the 72 frames of hug_two_people.mp4: 0.5 gives one man at a time; the man in black is found in
    # 48 frames at 0.7, 69 at 0.8, all 72 at 0.85 (and the man in grey in all but the first two). The cost is
    # duplicates of one person: 0.25 extra landmark runs (~3 ms) per frame of dribble_single_person.mp4 at 0.85,
    # 0.62 at 0.9.
    min_tracking_confidence: float = 0.85
    max_match_cost: float = 0.5  # above this a person is not the track's (another person, or a jump): new track
    ambiguity_margin: float = 0.2  # runner-up within this cost of the best match: both skipped as AMBIGUOUS
    lost_timeout_s: float = 0.5  # data time without its person after which a track ends (its person, seen again,
    # gets a new id)
    time_reset_s: float = 1.0  # a stamp this far before the previous one is a replay restart (bag loop):
    # tracking restarts instead of skipping frames until time catches up
    duplicate_distance: float = 0.15  # two poses of one frame whose landmarks are closer than this on average
    # (fraction of the smaller one's size) are one person found twice, which MediaPipe's VIDEO mode returns when
    # a tracked person is detected again. Measured at min_tracking_confidence 0.9: <= 0.09 for such pairs in the
    # hug, handshake, dribble and street clips, >= 0.27 between the two hugging men (basketball_gym.mp4's small,
    # crowded players also give pairs in between, which stay apart as two people when above 0.15).

    def __post_init__(self) -> None:
        if self.num_poses < 1:
            raise ValueError(f"PoseParams.num_poses must be >= 1, got {self.num_poses}")
        for name in ("min_detection_confidence", "min_presence_confidence", "min_tracking_confidence"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"PoseParams.{name} must be in [0, 1], got {value}")
        for name in ("max_match_cost", "ambiguity_margin", "lost_timeout_s", "time_reset_s", "duplicate_distance"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value > 0.0):
                raise ValueError(f"PoseParams.{name} must be a positive number, got {value}")


@dataclass(frozen=True)
class TrackedPose:
    """The landmarks of one tracked person in one frame. Missing landmarks (NaN from the detector) have
    coordinates 0 and visibility 0, so that visibility-weighted consumers ignore them exactly."""

    track_id: int  # stable while the same person is followed; a new id after the track ended
    id_uncertain: bool  # the track went through a frame where it could have been another person (see PeopleTracker)
    image_landmarks: np.ndarray  # (33, 3) float32: x, y normalised to [0, 1] of width / height; z as MediaPipe
    # gives it (relative depth, roughly the scale of x, smaller = closer)
    world_landmarks: np.ndarray  # (33, 3) float32 metres, origin at the hip centre, x right, y down, z away
    # from the camera (MediaPipe world coordinates)
    visibility: np.ndarray  # (33,) float32 in [0, 1]: probability that the landmark is visible in the image
    presence: np.ndarray | None  # (33,) float32 in [0, 1]: probability that it is inside the image; None if
    # the model does not give it
    bbox: np.ndarray  # (4,) float32 x_min, y_min, x_max, y_max normalised, over the valid image landmarks


@dataclass(frozen=True)
class PoseFrame:
    """Result of one `PoseEstimator.process` call: the tracked people, or (none) why there is nobody."""

    stamp: float  # seconds, data time (the image header stamp)
    width: int  # pixels; 0 when the image was rejected
    height: int  # pixels; 0 when the image was rejected
    num_people: int  # distinct people MediaPipe returned (tracked or not)
    people: tuple[TrackedPose, ...]  # largest (nearest) first
    no_target: NoTarget | None  # why `people` is empty; None when it is not
    ambiguous: int = 0  # people seen but not published because their track was in doubt

    @property
    def target(self) -> TrackedPose | None:
        """The largest (nearest) person published in this frame, or None."""
        return self.people[0] if self.people else None


@dataclass(frozen=True)
class PersonBox:
    """Where one person is, for target matching."""

    centre: np.ndarray  # (2,) pixels x, y: torso centre
    size: float  # pixels: sqrt of the landmark box area


@dataclass(frozen=True)
class _Candidate:
    """One person from MediaPipe, before target selection."""

    image_landmarks: np.ndarray  # (33, 3) float32
    world_landmarks: np.ndarray  # (33, 3) float32 metres
    visibility: np.ndarray  # (33,) float32
    presence: np.ndarray | None  # (33,) float32
    bbox: np.ndarray  # (4,) float32 normalised x_min, y_min, x_max, y_max
    torso_centre: np.ndarray  # (2,) float32 normalised x, y
    image_tilt_deg: float | None = None  # hips -> shoulders in the image, degrees from straight up (180: upside
    # down); None: both shoulders or both hips missing

    def person_box(self, width: int, height: int) -> PersonBox:
        box_w = max(float(self.bbox[2] - self.bbox[0]) * width, 1.0)  # 1 px floor: no log(0) for a degenerate box
        box_h = max(float(self.bbox[3] - self.bbox[1]) * height, 1.0)
        return PersonBox(self.torso_centre * np.array([width, height], np.float32), math.sqrt(box_w * box_h))


@dataclass
class _Track:
    id: int
    box: PersonBox  # where its person was last published
    last_stamp: float  # seconds, data time of that
    uncertain: bool = False  # it once skipped a frame as ambiguous: its person may have been swapped since


class PeopleTracker:
    """Gives every person of each frame a track id; pure logic on boxes, no MediaPipe.

    A track and a person match when the cost (`_match_cost`) is at most max_match_cost; pairs are taken cheapest
    first. When a track's two best people, or a person's two best tracks, are within ambiguity_margin of each other
    (two people crossing or hugging), those people are not published in that frame and the track is marked
    uncertain; a person who matches no track starts a new one. A track ends lost_timeout_s after its last match.
    """

    def __init__(self, params: PoseParams) -> None:
        self._params = params
        self._tracks: list[_Track] = []
        self._next_id = 1

    def reset(self) -> None:
        """Forget every track; the people seen next get new ids."""
        self._tracks = []

    def assign(self, stamp: float, people: list[PersonBox]) -> list[tuple[int, bool] | None]:
        """Per person of `people` (at `stamp`, seconds of data time): (track id, id uncertain), or None for a person
        skipped as ambiguous."""
        p = self._params
        self._tracks = [t for t in self._tracks if stamp - t.last_stamp <= p.lost_timeout_s]
        cost = np.array([[_match_cost(t.box, person) for person in people] for t in self._tracks]
                        ).reshape(len(self._tracks), len(people))  # (tracks, people)
        doubtful_people: set[int] = set()
        doubtful_tracks: set[int] = set()
        for axis in (0, 1):  # per track over people, then per person over tracks
            lines = cost if axis == 0 else cost.T
            for index, line in enumerate(lines):
                close = np.flatnonzero(line <= p.max_match_cost)
                if len(close) < 2:
                    continue
                best = line[close].min()
                rivals = close[line[close] - best < p.ambiguity_margin]
                if len(rivals) >= 2:
                    if axis == 0:
                        doubtful_tracks.add(index)
                        doubtful_people.update(int(r) for r in rivals)
                    else:
                        doubtful_people.add(index)
                        doubtful_tracks.update(int(r) for r in rivals)
        assigned: list[tuple[int, bool] | None] = [None] * len(people)
        taken_tracks: set[int] = set()
        for t, i in sorted(np.argwhere(cost <= p.max_match_cost).tolist(), key=lambda ti: cost[ti[0], ti[1]]):
            if t in taken_tracks or assigned[i] is not None or t in doubtful_tracks or i in doubtful_people:
                continue
            track = self._tracks[t]
            track.box, track.last_stamp = people[i], stamp
            assigned[i] = (track.id, track.uncertain)
            taken_tracks.add(t)
        for t in doubtful_tracks:
            self._tracks[t].uncertain = True
        for i in sorted(range(len(people)), key=lambda i: -people[i].size):  # new ids: the nearest person first
            if assigned[i] is None and i not in doubtful_people:
                track = _Track(self._next_id, people[i], stamp)
                self._next_id += 1
                self._tracks.append(track)
                assigned[i] = (track.id, False)
        return assigned


def _match_cost(previous: PersonBox, candidate: PersonBox) -> float:
    shift = float(np.hypot(*(candidate.centre - previous.centre)))
    return shift / previous.size + abs(math.log(candidate.size / previous.size))


def _check_model_file(path: Path, is_default: bool = False) -> None:
    """Fail early with a message naming the file, the parameter and the model's source. A .task bundle is a
    zip archive; checking that here catches truncated downloads and HTML error pages before MediaPipe does."""
    if not path.exists() and is_default:
        raise PoseModelError(f"no pose model: '{MODEL_PARAMETER}' is empty and its default {path} does not exist: "
                             f"{models_cache.how_to_get(path)}")
    if not path.exists():
        raise PoseModelError(f"pose model {path} (parameter '{MODEL_PARAMETER}') does not exist: {MODEL_SOURCE}")
    if not path.is_file():
        raise PoseModelError(f"pose model {path} (parameter '{MODEL_PARAMETER}') is not a file: {MODEL_SOURCE}")
    if not zipfile.is_zipfile(path):
        raise PoseModelError(
            f"pose model {path} (parameter '{MODEL_PARAMETER}') is not a MediaPipe .task bundle "
            f"(not a zip archive; truncated or wrong file?): {MODEL_SOURCE}"
        )


class PoseEstimator:
    """MediaPipe PoseLandmarker in VIDEO mode plus target tracking. Not thread-safe: one worker calls `process`."""

    def __init__(self, pose_model: str | Path, params: PoseParams | None = None) -> None:
        """`pose_model` empty: MediaPipe's pose_landmarker_full.task in the user's cache (`motionllm models`)."""
        self.params = params or PoseParams()
        self.model_path = Path(pose_model).expanduser() if pose_model else models_cache.default_pose_model()
        _check_model_file(self.model_path, is_default=not pose_model)
        with native_stderr_silenced():  # MediaPipe's ~50 INFO/WARNING lines on loading a model
            self._landmarker = self._create_landmarker()
        self._first_frame = True  # its first inference prints a few more
        self._tracker = PeopleTracker(self.params)
        self._last_ms: int | None = None  # MediaPipe timestamp of the last frame given to it
        self._last_stamp = 0.0  # seconds, stamp of that frame
        self._ms_offset = 0  # added after a replay restart so MediaPipe's timestamps keep increasing
        self.counters: dict[str, int] = {}  # reason -> count: NoTarget values (frames without anybody),
        # "published" (frames with somebody), "people" (people published), "ambiguous_people" (people skipped as
        # ambiguous), "time_reset", "duplicate" (poses merged into another of the same person)

    def _create_landmarker(self) -> Any:
        try:
            from mediapipe.tasks.python import BaseOptions, vision
        except ImportError as error:
            raise ImportError(f"pose estimation needs mediapipe (pip install mediapipe): {error}") from error
        options = vision.PoseLandmarkerOptions(
            base_options=BaseOptions(model_asset_path=str(self.model_path)),
            running_mode=vision.RunningMode.VIDEO,
            num_poses=self.params.num_poses,
            min_pose_detection_confidence=self.params.min_detection_confidence,
            min_pose_presence_confidence=self.params.min_presence_confidence,
            min_tracking_confidence=self.params.min_tracking_confidence,
        )
        try:
            return vision.PoseLandmarker.create_from_options(options)
        except (RuntimeError, ValueError, OSError) as error:
            raise PoseModelError(
                f"pose model {self.model_path} (parameter '{MODEL_PARAMETER}') could not be loaded by "
                f"MediaPipe ({error}): {MODEL_SOURCE}"
            ) from error

    def close(self) -> None:
        with native_stderr_silenced():
            self._landmarker.close()

    def __enter__(self) -> PoseEstimator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def process(self, rgb: np.ndarray, stamp: float) -> PoseFrame:
        """Poses of the people in one RGB frame (H, W, 3) uint8 stamped `stamp` seconds (data time).

        Never raises on bad input: the frame comes back without target, with the reason, and is counted.
        """
        rejected = _check_image(rgb)
        if rejected is not None:
            return self._no_target(stamp, 0, 0, 0, rejected)
        height, width = rgb.shape[:2]
        timestamp_ms = self._timestamp_ms(stamp)
        if isinstance(timestamp_ms, NoTarget):
            return self._no_target(stamp, width, height, 0, timestamp_ms)

        import mediapipe as mp

        try:
            # mp.Image reads the buffer through a raw pointer, so it must be C-contiguous (a [..., ::-1] BGR->RGB
            # view is not).
            image = mp.Image(image_format=mp.ImageFormat.SRGB, data=np.ascontiguousarray(rgb))
            with native_stderr_silenced() if self._first_frame else contextlib.nullcontext():
                result = self._landmarker.detect_for_video(image, timestamp_ms)
            self._first_frame = False
        except (RuntimeError, ValueError):
            return self._no_target(stamp, width, height, 0, NoTarget.DETECTOR_ERROR)
        self._last_ms = timestamp_ms
        self._last_stamp = stamp

        candidates = [
            candidate
            for image_lms, world_lms in zip(result.pose_landmarks, result.pose_world_landmarks, strict=False)
            if (candidate := _candidate(image_lms, world_lms)) is not None
        ]
        people = _distinct_people(candidates, width, height, self.params.duplicate_distance)
        if len(people) < len(candidates):
            self._count("duplicate", len(candidates) - len(people))
        candidates = people
        boxes = [c.person_box(width, height) for c in candidates]
        tracked = self._tracker.assign(stamp, boxes)
        by_size = sorted(range(len(candidates)), key=lambda i: -boxes[i].size)  # nearest first
        people = tuple(TrackedPose(track_id=tracked[i][0], id_uncertain=tracked[i][1],
                                   image_landmarks=candidates[i].image_landmarks,
                                   world_landmarks=candidates[i].world_landmarks, visibility=candidates[i].visibility,
                                   presence=candidates[i].presence, bbox=candidates[i].bbox)
                       for i in by_size if tracked[i] is not None)
        ambiguous = len(candidates) - len(people)
        if ambiguous:
            self._count("ambiguous_people", ambiguous)
        if not people:
            reason = NoTarget.NO_PERSON if not candidates else NoTarget.AMBIGUOUS
            return self._no_target(stamp, width, height, len(candidates), reason, ambiguous)
        self._count("published")
        self._count("people", len(people))
        return PoseFrame(stamp, width, height, len(candidates), people, None, ambiguous)

    def _timestamp_ms(self, stamp: float) -> int | NoTarget:
        """MediaPipe's VIDEO mode needs strictly increasing integer milliseconds; derive them from data time."""
        if not isinstance(stamp, numbers.Real) or not math.isfinite(stamp):
            return NoTarget.BAD_STAMP
        timestamp_ms = round(stamp * 1000.0) + self._ms_offset
        if self._last_ms is None or timestamp_ms > self._last_ms:
            return timestamp_ms
        if self._last_stamp - stamp < self.params.time_reset_s:
            return NoTarget.STAMP_NOT_INCREASING
        # Replay restarted: continue MediaPipe's clock just after the last frame and start tracking afresh.
        self._count("time_reset")
        self._ms_offset += self._last_ms + 1 - timestamp_ms
        self._tracker.reset()
        return self._last_ms + 1

    def _no_target(self, stamp: float, width: int, height: int, num_people: int, reason: NoTarget,
                   ambiguous: int = 0) -> PoseFrame:
        self._count(reason.value)
        return PoseFrame(stamp, width, height, num_people, (), reason, ambiguous)

    def _count(self, key: str, n: int = 1) -> None:
        self.counters[key] = self.counters.get(key, 0) + n


def _distinct_people(candidates: list[_Candidate], width: int, height: int, max_distance: float) -> list[_Candidate]:
    """One candidate per person: of poses whose landmarks nearly coincide, the most visible one is kept.

    A duplicate is left over when MediaPipe's detector finds a person its tracker already follows and the two
    regions overlap less than min_tracking_confidence (an IoU) says is the same; without merging, the tracker
    would see two equally good matches for its target and refuse the frame as ambiguous.
    """
    scale = np.array([width, height], np.float32)
    kept: list[_Candidate] = []
    for candidate in sorted(candidates, key=lambda c: -float(c.visibility.mean())):
        pixels = candidate.image_landmarks[:, :2] * scale
        size = candidate.person_box(width, height).size
        if all(float(np.linalg.norm(pixels - other.image_landmarks[:, :2] * scale, axis=1).mean())
               > max_distance * min(size, other.person_box(width, height).size) for other in kept):
            kept.append(candidate)
    # A pose lying on its side or upside down over an upright one is one person too: MediaPipe's tracking turned
    # its region (which follows the hips-shoulders axis) by a quarter or half turn onto a person it already has,
    # and the landmark model drew the body sideways or head down over him. Measured on basketball_gym.mp4, where
    # the people are small: 84 upside-down pairs, box IoU 0.3-0.9; none in the other shared clips. Such a pose
    # alone (a handstand, a person lying) is kept.
    upright = [c for c in kept if c.image_tilt_deg is not None and c.image_tilt_deg < ROTATED_POSE_DEG]
    return [c for c in kept if c.image_tilt_deg is None or c.image_tilt_deg < ROTATED_POSE_DEG or not any(
        box_iou(c.bbox, other.bbox) >= ROTATED_OVERLAP_IOU for other in upright)]


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two boxes (x_min, y_min, x_max, y_max); 0 for boxes without area."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    overlap = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - overlap
    return float(overlap / union) if union > 0 else 0.0


def _check_image(rgb: object) -> NoTarget | None:
    if not isinstance(rgb, np.ndarray):
        return NoTarget.BAD_TYPE
    if rgb.dtype != np.uint8:
        return NoTarget.BAD_DTYPE
    if rgb.ndim != 3 or rgb.shape[2] != 3:
        return NoTarget.BAD_SHAPE
    if rgb.shape[0] == 0 or rgb.shape[1] == 0:
        return NoTarget.EMPTY_IMAGE
    return None


def _candidate(image_lms: list[Any], world_lms: list[Any]) -> _Candidate | None:
    """Arrays of one MediaPipe pose; None when it has no valid landmark at all. Fields MediaPipe leaves unset
    (None) become NaN on conversion to float and so count as missing too."""
    if len(image_lms) != NUM_LANDMARKS or len(world_lms) != NUM_LANDMARKS:
        return None
    image = np.array([(p.x, p.y, p.z) for p in image_lms], dtype=np.float32)
    world = np.array([(p.x, p.y, p.z) for p in world_lms], dtype=np.float32)
    visibility = np.array([p.visibility for p in image_lms], dtype=np.float32)
    has_presence = any(p.presence is not None for p in image_lms)
    presence = np.array([p.presence for p in image_lms], dtype=np.float32) if has_presence else None

    missing = ~(np.isfinite(image).all(axis=1) & np.isfinite(world).all(axis=1))
    if missing.all():
        return None
    image[missing] = 0.0
    world[missing] = 0.0
    visibility = np.where(missing | ~np.isfinite(visibility), 0.0, visibility).astype(np.float32)
    if presence is not None:
        presence = np.where(missing | ~np.isfinite(presence), 0.0, presence).astype(np.float32)
    valid_xy = image[~missing, :2]
    bbox = np.concatenate([valid_xy.min(axis=0), valid_xy.max(axis=0)]).astype(np.float32)
    torso_valid = ~missing[list(_TORSO)]
    torso_centre = (
        image[list(_TORSO)][torso_valid, :2].mean(axis=0) if torso_valid.any() else (bbox[:2] + bbox[2:]) / 2
    ).astype(np.float32)
    shoulders, hips = image[[11, 12], :2][~missing[[11, 12]]], image[[23, 24], :2][~missing[[23, 24]]]
    tilt = None
    if len(shoulders) and len(hips):
        axis = shoulders.mean(axis=0) - hips.mean(axis=0)  # normalised image units; image y points down
        tilt = math.degrees(math.atan2(abs(float(axis[0])), -float(axis[1])))
    return _Candidate(image, world, visibility, presence, bbox, torso_centre, tilt)
