"""MediaPipe pose with a stable track per person, on the real model and clips (skipped without them)."""

from __future__ import annotations

import itertools
import math
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from motionllm_ros.perception.camera import Intrinsics, estimate_translation
from motionllm_ros.perception.pose import (
    NoTarget,
    PersonBox,
    PoseEstimator,
    PoseFrame,
    PoseModelError,
    PoseParams,
    PeopleTracker,
)

# A track that moves more than this fraction of the image diagonal between consecutive published frames has
# jumped to someone else: people move about 1 % per frame at 12-30 fps, while the two men of hug_two_people.mp4
# stand about 10 % apart (the closest pair in the clips) and the two people of handshake_two_people.mp4 more.
MAX_JUMP_OF_DIAGONAL = 0.04


def _read_rgb_frames(path: Path) -> tuple[list[np.ndarray], float]:
    import cv2

    capture = cv2.VideoCapture(str(path))
    fps = capture.get(cv2.CAP_PROP_FPS)
    frames = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    capture.release()
    assert frames and fps > 0, f"could not read {path}"
    return frames, fps


@pytest.fixture(scope="module")
def clip_results(test_data: Path, pose_model_path: Path):
    """Runs a clip once through a fresh estimator: (frames out, counters)."""
    cache: dict[tuple[str, PoseParams], tuple[list[PoseFrame], dict[str, int]]] = {}

    def run(name: str, params: PoseParams | None = None) -> tuple[list[PoseFrame], dict[str, int]]:
        params = params or PoseParams()
        if (name, params) not in cache:
            frames, fps = _read_rgb_frames(test_data / "video" / name)
            with PoseEstimator(pose_model_path, params) as estimator:
                results = [estimator.process(rgb, i / fps) for i, rgb in enumerate(frames)]
                cache[name, params] = (results, dict(estimator.counters))
        return cache[name, params]

    return run


@pytest.fixture(scope="module")
def estimator(pose_model_path: Path) -> Iterator[PoseEstimator]:
    with PoseEstimator(pose_model_path) as shared:
        yield shared


_stamps = itertools.count(start=1000)


def _next_stamp() -> float:
    """Increasing stamps for the shared estimator, whatever order the tests run in."""
    return float(next(_stamps))


def _bbox_centre_px(frame: PoseFrame, person=None) -> np.ndarray:
    box = (person or frame.target).bbox
    return np.array([(box[0] + box[2]) / 2 * frame.width, (box[1] + box[3]) / 2 * frame.height])


def _assert_no_jump_within_tracks(results: list[PoseFrame], lost_timeout_s: float,
                                  max_jump: float = MAX_JUMP_OF_DIAGONAL) -> None:
    """A track id only ever belongs to one person: between two frames it is published in, its box never jumps,
    and it is never published again after more than `lost_timeout_s` of data time without it."""
    last: dict[int, tuple[PoseFrame, np.ndarray]] = {}
    for frame in results:
        for person in frame.people:
            centre = _bbox_centre_px(frame, person)
            if person.track_id in last:
                previous, previous_centre = last[person.track_id]
                assert frame.stamp - previous.stamp <= lost_timeout_s, f"track {person.track_id} came back"
                jump = np.linalg.norm(centre - previous_centre) / math.hypot(frame.width, frame.height)
                assert jump < max_jump, (f"track {person.track_id} jumped {jump:.1%} of the image at "
                                                     f"{frame.stamp:.3f} s")
            last[person.track_id] = (frame, centre)


def test_dribble_single_person(clip_results) -> None:
    results, counters = clip_results("dribble_single_person.mp4")
    published = [frame for frame in results if frame.target is not None]
    assert len(published) >= 0.95 * len(results)  # DATA.md: 40/40 frames
    assert counters["published"] == len(published)
    assert {person.track_id for frame in published for person in frame.people} == {1}
    _assert_no_jump_within_tracks(results, PoseParams().lost_timeout_s)
    for frame in published:
        target = frame.target
        assert (frame.width, frame.height) == (1080, 1920)
        assert target.image_landmarks.shape == (33, 3) and target.world_landmarks.shape == (33, 3)
        assert target.visibility.shape == (33,) and target.presence is not None and target.presence.shape == (33,)
        assert np.isfinite(target.world_landmarks).all()
        assert ((target.visibility >= 0) & (target.visibility <= 1)).all()
        # MediaPipe world coordinates: origin at the centre of the hips (landmarks 23, 24), metres, y down.
        hip_centre = target.world_landmarks[[23, 24]].mean(axis=0)
        assert np.linalg.norm(hip_centre) < 0.05
        nose_y, ankles_y = target.world_landmarks[0, 1], target.world_landmarks[[27, 28], 1].mean()
        assert 0.5 < ankles_y - nose_y < 2.0  # y down: the head is above the feet (he crouches to dribble)
        assert target.visibility[[11, 12, 23, 24]].min() > 0.5  # torso in view


def test_world_depth_axis_points_away_from_camera(clip_results) -> None:
    """The camera module relies on MediaPipe's z pointing away from the camera: placing the person with z as
    given must reproject better than with z flipped."""
    results, _ = clip_results("dribble_single_person.mp4")
    residuals = {1.0: [], -1.0: []}
    for frame in results[::4]:
        if frame.target is None:
            continue
        intrinsics = Intrinsics.default(frame.width, frame.height)
        pixels = frame.target.image_landmarks[:, :2] * [frame.width, frame.height]
        weights = frame.target.visibility
        for sign in residuals:
            world = frame.target.world_landmarks * [1.0, 1.0, sign]
            points = world + estimate_translation(world, pixels, weights, intrinsics)
            projected = points[:, :2] / points[:, 2:] * [intrinsics.fx, intrinsics.fy] + [intrinsics.cx, intrinsics.cy]
            residuals[sign].append(np.median(np.linalg.norm(projected - pixels, axis=1)[weights >= 0.5]))
    assert np.median(residuals[1.0]) < np.median(residuals[-1.0])


def test_handshake_both_people_keep_their_own_track(clip_results) -> None:
    """Two people always in view, MediaPipe returns them in changing order: the man on the left (the larger one
    at the start) is track 1 and the woman on the right track 2 for the whole clip, each in nearly every frame."""
    results, _ = clip_results("handshake_two_people.mp4")
    assert sum(frame.num_people == 2 for frame in results) >= 0.9 * len(results)
    sides = {1: [], 2: []}
    for frame in results:
        for person in frame.people:
            assert person.track_id in sides, f"a third track {person.track_id} at {frame.stamp:.3f} s"
            sides[person.track_id].append(_bbox_centre_px(frame, person)[0] / frame.width)
    assert len(sides[1]) >= 0.9 * len(results) and len(sides[2]) >= 0.9 * len(results)
    assert max(sides[1]) < 0.5 < min(sides[2])
    assert results[0].target.track_id == 1  # the larger, nearer person first
    _assert_no_jump_within_tracks(results, PoseParams().lost_timeout_s)


def test_hug_with_mediapipe_default_association_never_swaps_silently(clip_results) -> None:
    """At MediaPipe's default min_tracking_confidence (0.5) the two men, standing side by side, share one slot
    that flips between them (mediapipe 1.2.3: frames 2 and 4-28 show the man in grey, the others the man in
    black). Each man keeps his own track through the flips: a track id never jumps to the other man."""
    results, _ = clip_results("hug_two_people.mp4", PoseParams(min_tracking_confidence=0.5))
    assert all(frame.num_people == 1 for frame in results)
    assert len({person.track_id for frame in results for person in frame.people}) >= 2  # both men were seen
    _assert_no_jump_within_tracks(results, PoseParams().lost_timeout_s)


def test_hug_both_men_are_followed_throughout(clip_results) -> None:
    """With the stricter association both men are reported in every frame from the third on (the detector finds
    the man in grey from frame 2): the man in black, the only person in the first frame, is track 1 in all 72
    frames; the man in grey keeps one track too, except where the embrace makes the match ambiguous."""
    results, counters = clip_results("hug_two_people.mp4")
    assert all(frame.num_people == 2 for frame in results[2:])
    black = [frame for frame in results if any(person.track_id == 1 for person in frame.people)]
    # Box centres measured across the clip: the man in grey at most 0.46 of the width, the man in black at least 0.49.
    assert all(_bbox_centre_px(frame, person)[0] > 0.475 * frame.width
               for frame in results for person in frame.people if person.track_id == 1)
    assert len(black) >= 0.9 * len(results)
    assert counters["published"] == len(results)
    _assert_no_jump_within_tracks(results, PoseParams().lost_timeout_s)


def test_basketball_players_who_meet_are_skipped_and_flagged_never_swapped(clip_results) -> None:
    """basketball_gym.mp4 (426x240, a panning camera): the player in blue walks up to the player in white and is
    hidden behind her (5.3-6.4 s). Where a person matches two tracks about equally the frame's person is skipped,
    and the tracks involved carry id_uncertain from then on; no track jumps further than the tracker's own limit
    (half a body: these players are about 70 px, 0.07 of the image diagonal), far less than the players' distance
    apart, so no track silently became the other player."""
    results, counters = clip_results("basketball_gym.mp4")
    assert counters["ambiguous_people"] > 0
    assert any(person.id_uncertain for frame in results for person in frame.people)
    _assert_no_jump_within_tracks(results, PoseParams().lost_timeout_s, max_jump=0.08)


def test_blank_frame_has_no_person(estimator: PoseEstimator) -> None:
    before = estimator.counters.get("no_person", 0)
    frame = estimator.process(np.zeros((480, 640, 3), np.uint8), _next_stamp())
    assert frame.target is None and frame.no_target is NoTarget.NO_PERSON
    assert (frame.width, frame.height, frame.num_people) == (640, 480, 0)
    assert estimator.counters["no_person"] == before + 1


@pytest.mark.parametrize(
    ("image", "reason"),
    [
        (np.zeros((480, 640, 3), np.float32), NoTarget.BAD_DTYPE),
        (np.zeros((480, 640), np.uint8), NoTarget.BAD_SHAPE),
        (np.zeros((480, 640, 4), np.uint8), NoTarget.BAD_SHAPE),
        (np.zeros((0, 640, 3), np.uint8), NoTarget.EMPTY_IMAGE),
        ([[0, 0, 0]], NoTarget.BAD_TYPE),
    ],
    ids=["float32", "gray", "rgba", "empty", "list"],
)
def test_bad_image_is_a_counted_skip(estimator: PoseEstimator, image, reason: NoTarget) -> None:
    before = estimator.counters.get(reason.value, 0)
    frame = estimator.process(image, _next_stamp())
    assert frame.target is None and frame.no_target is reason
    assert (frame.width, frame.height) == (0, 0)
    assert estimator.counters[reason.value] == before + 1


def test_stamps_equal_backwards_and_restarted(estimator: PoseEstimator, test_data: Path) -> None:
    frames, _ = _read_rgb_frames(test_data / "video" / "dribble_single_person.mp4")
    stamp = _next_stamp()
    first = estimator.process(frames[0], stamp)
    assert first.target is not None
    track = first.target.track_id

    for bad_stamp in (stamp, stamp - 0.0004, stamp - 0.2):  # same millisecond, or slightly out of order
        frame = estimator.process(frames[1], bad_stamp)
        assert frame.no_target is NoTarget.STAMP_NOT_INCREASING
    assert estimator.process(frames[1], math.nan).no_target is NoTarget.BAD_STAMP
    assert estimator.process(frames[1], None).no_target is NoTarget.BAD_STAMP

    # A replay that starts over (bag loop): processing continues, the person gets a new track id.
    resets = estimator.counters.get("time_reset", 0)
    restarted = estimator.process(frames[2], stamp - 500.0)
    assert restarted.target is not None and restarted.target.track_id != track
    assert estimator.counters["time_reset"] == resets + 1
    later = estimator.process(frames[3], stamp - 500.0 + 1 / 12)
    assert later.target is not None and later.target.track_id == restarted.target.track_id


def test_non_contiguous_image_gives_same_pose(pose_model_path: Path, test_data: Path) -> None:
    """A [..., ::-1] channel flip is a strided view; the estimator must not read it as raw contiguous bytes."""
    frames, _ = _read_rgb_frames(test_data / "video" / "dribble_single_person.mp4")
    bgr = np.ascontiguousarray(frames[0][..., ::-1])
    rgb_view = bgr[..., ::-1]
    assert not rgb_view.flags.c_contiguous
    with PoseEstimator(pose_model_path) as a, PoseEstimator(pose_model_path) as b:
        expected = a.process(frames[0], 0.0).target
        got = b.process(rgb_view, 0.0).target
    assert expected is not None and got is not None
    np.testing.assert_array_equal(got.image_landmarks, expected.image_landmarks)


def _assert_model_error(path: Path, match: str) -> None:
    with pytest.raises(PoseModelError, match=match) as error:
        PoseEstimator(path)
    message = str(error.value)
    assert str(path) in message and "'pose.model'" in message and "pose_landmarker_full.task" in message


def test_missing_model_is_a_clear_error(tmp_path: Path) -> None:
    _assert_model_error(tmp_path / "pose_landmarker_full.task", "does not exist")
    _assert_model_error(tmp_path, "not a file")


def test_corrupt_model_is_a_clear_error(tmp_path: Path, pose_model_path: Path) -> None:
    truncated = tmp_path / "truncated.task"
    truncated.write_bytes(pose_model_path.read_bytes()[:100_000])
    _assert_model_error(truncated, "not a MediaPipe .task bundle")

    random_bytes = tmp_path / "random.task"
    random_bytes.write_bytes(np.random.default_rng(0).bytes(5000))
    _assert_model_error(random_bytes, "not a MediaPipe .task bundle")

    wrong_zip = tmp_path / "wrong.task"  # a valid zip archive without the pose models in it
    with zipfile.ZipFile(wrong_zip, "w") as archive:
        archive.writestr("readme.txt", "not a model")
    _assert_model_error(wrong_zip, "could not be loaded by MediaPipe")


def test_nan_landmarks_count_as_missing() -> None:
    from mediapipe.tasks.python.components.containers.landmark import Landmark, NormalizedLandmark

    from motionllm_ros.perception.pose import _candidate

    image = [NormalizedLandmark(x=0.5, y=0.1 + 0.02 * i, z=0.0, visibility=0.9, presence=0.95) for i in range(33)]
    world = [Landmark(x=0.0, y=-0.8 + 0.05 * i, z=0.0, visibility=0.9, presence=0.95) for i in range(33)]
    image[5] = NormalizedLandmark(x=math.nan, y=0.2, z=0.0, visibility=0.9, presence=0.95)
    world[7] = Landmark(x=0.1, y=math.nan, z=0.0, visibility=0.9, presence=0.95)
    image[9] = NormalizedLandmark(x=0.5, y=0.3, z=0.0, visibility=math.nan, presence=0.95)
    candidate = _candidate(image, world)
    assert candidate is not None
    assert candidate.visibility[[5, 7, 9]].tolist() == [0.0, 0.0, 0.0]
    assert candidate.visibility[0] == pytest.approx(0.9)
    assert np.isfinite(candidate.image_landmarks).all() and np.isfinite(candidate.world_landmarks).all()
    assert np.isfinite(candidate.bbox).all()

    all_nan = [NormalizedLandmark(x=math.nan, y=math.nan, z=math.nan, visibility=0.5) for _ in range(33)]
    assert _candidate(all_nan, world) is None


def _synthetic_candidate(x_shift: float, visibility: float, seed: int, upside_down: bool = False):
    """A 33-landmark pose spanning 0.2 x 0.6 of a 1000 x 1000 image, shifted right by x_shift (normalised), with
    0.005 of jitter, as MediaPipe gives the same person from two slightly different crops; `upside_down`: head
    at the bottom (landmarks in the reverse order down the image)."""
    from mediapipe.tasks.python.components.containers.landmark import Landmark, NormalizedLandmark

    from motionllm_ros.perception.pose import _candidate

    rng = np.random.default_rng(seed)
    xs = 0.4 + x_shift + 0.2 * (np.arange(33) % 5) / 4 + rng.normal(0, 0.005, 33)
    ys = 0.2 + 0.6 * (32 - np.arange(33) if upside_down else np.arange(33)) / 32 + rng.normal(0, 0.005, 33)
    image = [NormalizedLandmark(x=float(x), y=float(y), z=0.0, visibility=visibility, presence=0.9)
             for x, y in zip(xs, ys)]
    world = [Landmark(x=0.0, y=0.0, z=0.0, visibility=visibility, presence=0.9) for _ in range(33)]
    return _candidate(image, world)


def test_a_person_found_twice_is_one_person() -> None:
    from motionllm_ros.perception.pose import _distinct_people

    # Size sqrt(200 x 600 px) = 346 px. A duplicate: a few pixels apart; the other person: 0.1 of the image
    # (100 px, 0.29 of the size) to the right, as close as the two hugging men get.
    first, again = _synthetic_candidate(0.0, 0.8, seed=0), _synthetic_candidate(0.0, 0.9, seed=1)
    other = _synthetic_candidate(0.1, 0.7, seed=2)
    kept = _distinct_people([first, other, again], 1000, 1000, PoseParams().duplicate_distance)
    assert [id(c) for c in kept] == [id(again), id(other)]  # the more visible copy, then the other person
    kept = _distinct_people([first, other], 1000, 1000, PoseParams().duplicate_distance)
    assert [id(c) for c in kept] == [id(first), id(other)]


def test_a_person_drawn_again_upside_down_is_one_person() -> None:
    """MediaPipe's tracking can turn its region onto a person it already has and return him head down (84 times in
    basketball_gym.mp4): that copy is dropped; a pose upside down on its own (a handstand) is kept."""
    from motionllm_ros.perception.pose import _distinct_people

    upright, copy = _synthetic_candidate(0.0, 0.8, seed=0), _synthetic_candidate(0.0, 0.9, seed=1, upside_down=True)
    far = _synthetic_candidate(0.4, 0.9, seed=2, upside_down=True)  # boxes apart
    assert copy.image_tilt_deg > 120 and upright.image_tilt_deg < 60
    kept = _distinct_people([copy, upright, far], 1000, 1000, PoseParams().duplicate_distance)
    assert {id(c) for c in kept} == {id(upright), id(far)}
    assert [id(c) for c in _distinct_people([copy], 1000, 1000, PoseParams().duplicate_distance)] == [id(copy)]


def _person(x: float, y: float, size: float) -> PersonBox:
    return PersonBox(centre=np.array([x, y]), size=size)


def test_tracker_gives_everybody_an_id_and_keeps_it_whatever_the_order() -> None:
    tracker = PeopleTracker(PoseParams())
    small, large = _person(100, 300, 150), _person(500, 300, 300)
    assert tracker.assign(0.0, [small, large]) == [(2, False), (1, False)]  # new ids: the nearest person first
    # Both move a little and the list order flips: same ids.
    assert tracker.assign(0.1, [_person(505, 302, 290), _person(110, 300, 160)]) == [(1, False), (2, False)]
    # A third person far from both: a new track.
    assert tracker.assign(0.2, [_person(900, 300, 200), _person(505, 302, 290)]) == [(3, False), (1, False)]


def test_tracker_skips_ambiguous_people_and_marks_the_track_uncertain() -> None:
    tracker = PeopleTracker(PoseParams())
    tracker.assign(0.0, [_person(500, 300, 300), _person(800, 300, 300)])
    # Two people equally close to track 1 (a hug): neither is published, and no new id is made for them.
    assert tracker.assign(0.1, [_person(520, 300, 300), _person(480, 300, 300)]) == [None, None]
    assert tracker.assign(0.2, []) == []
    # Back apart within the timeout: the same ids, track 1 now flagged as possibly swapped.
    assert tracker.assign(0.3, [_person(800, 300, 300), _person(510, 300, 300)]) == [(2, False), (1, True)]


def test_a_person_far_from_every_track_is_a_new_track_and_old_tracks_end() -> None:
    params = PoseParams(lost_timeout_s=0.5)
    tracker = PeopleTracker(params)
    tracker.assign(0.0, [_person(500, 300, 300)])
    assert tracker.assign(0.4, [_person(900, 300, 200)]) == [(2, False)]  # a jump is never the same person
    assert tracker.assign(0.45, [_person(505, 300, 300), _person(900, 300, 200)]) == [(1, False), (2, False)]
    assert tracker.assign(0.8, [_person(900, 300, 200)]) == [(2, False)]
    # Track 1 unseen for more than the timeout: its person, back, is a new track.
    assert tracker.assign(1.0, [_person(505, 300, 300), _person(900, 300, 200)]) == [(3, False), (2, False)]
    tracker.reset()
    assert tracker.assign(1.1, [_person(900, 300, 200)]) == [(4, False)]


def test_params_are_validated() -> None:
    with pytest.raises(ValueError, match="num_poses"):
        PoseParams(num_poses=0)
    with pytest.raises(ValueError, match="lost_timeout_s"):
        PoseParams(lost_timeout_s=-1.0)
    with pytest.raises(ValueError, match="min_tracking_confidence"):
        PoseParams(min_tracking_confidence=1.5)
    with pytest.raises(ValueError, match="duplicate_distance"):
        PoseParams(duplicate_distance=0.0)
