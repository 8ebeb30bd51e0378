"""Interaction primitives on designed two-person scenes (SMPL forward kinematics of the synthetic model, placed in
the camera-centred frame), and on the shared real clips through the pose model, the tracker, the fit and the
streaming engine's PrimitivesDescriber (the path `motionllm run` and `motionllm eval` take)."""

from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

from motionllm_ros.behavior.interactions import (
    INTERACTION_LABELS,
    Interaction,
    InteractionInputError,
    InteractionParams,
    describe_interactions,
    interaction_phrase,
)
from motionllm_ros.behavior.describer import TRACK_NONE, PrimitivesDescriber
from motionllm_ros.behavior.synthetic import arm_pointing, relaxed_arms, rot
from motionllm_ros.engine import EngineParams, StreamingEngine
from motionllm_ros.perception.pipeline import PerceptionPipeline
from motionllm_ros.perception.smpl import default_smpl_model, matrix_to_axis_angle
from motionllm_ros.sources import open_source

FPS = 15.0
DEPTH = 3.5  # m in front of the camera
PELVIS_Y = -0.3  # m: pelvis height in the camera frame (camera ~1.2 m above the floor)
MODEL = default_smpl_model()

Pose = dict[int, np.ndarray]


def body(x: float, z: float, yaw_deg: float, pose: Pose) -> np.ndarray:
    """(22, 3): a person with the pelvis at (x, PELVIS_Y, z), turned yaw_deg about y (0: facing the camera, +90:
    facing +x, the camera's right), arms as in `pose` (SMPL local rotations)."""
    pose = {**pose, 0: rot("y", yaw_deg)}
    aa = matrix_to_axis_angle(np.stack([pose.get(j, np.eye(3)) for j in range(24)]))
    joints = MODEL.forward_kinematics(np.zeros(10), aa[0], aa[1:].reshape(-1)).joints[:22]
    return joints - joints[0] + np.array([x, PELVIS_Y, z])


def relaxed() -> Pose:
    return relaxed_arms({})


def shaking() -> Pose:
    """Right hand held out low and forward, towards the midline, to another's (~0.4 m ahead of the chest)."""
    return relaxed_arms({17: arm_pointing("right", -35.0, -10.0)})


def hugging() -> Pose:
    """Both arms forward, elbows bent inwards: the hands ~0.4 m ahead of the chest, near the midline."""
    return {16: arm_pointing("left", -10.0, 15.0), 17: arm_pointing("right", -10.0, 15.0), 18: rot("y", -60.0),
            19: rot("y", 60.0)}


def scene(frame: Callable[[float], tuple[np.ndarray, np.ndarray]], seconds: float = 3.0,
          seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """stamps (N,) with jitter, and the two people's joints (N, 22, 3) with ~1 cm noise, from frame(t) -> (a, b)."""
    rng = np.random.default_rng(seed)
    t = 100.0 + np.arange(int(seconds * FPS)) / FPS + rng.uniform(-0.005, 0.005, int(seconds * FPS))
    a, b = (np.stack(x) for x in zip(*[frame(s - 100.0) for s in t]))
    return t, a + rng.normal(0.0, 0.01, a.shape), b + rng.normal(0.0, 0.01, b.shape)


def labels_of(found: list[Interaction]) -> set[str]:
    return {i.label for i in found}


def only(found: list[Interaction], label: str) -> Interaction:
    hits = [i for i in found if i.label == label]
    assert len(hits) == 1, found
    return hits[0]


def handshake_scene(t: float) -> tuple[np.ndarray, np.ndarray]:
    """Two people 0.9 m apart facing each other; right hands clasped from 1.0 to 2.5 s."""
    clasped = 1.0 <= t <= 2.5
    pose = shaking() if clasped else relaxed()
    return body(-0.45, -DEPTH, 90.0, pose), body(0.45, -DEPTH, -90.0, pose)


def hug_scene(t: float) -> tuple[np.ndarray, np.ndarray]:
    """Standing 1.0 m apart facing each other, then from 1.0 s chests 0.3 m apart, arms around each other."""
    if t < 1.0:
        return body(-0.5, -DEPTH, 90.0, relaxed()), body(0.5, -DEPTH, -90.0, relaxed())
    return body(-0.15, -DEPTH, 90.0, hugging()), body(0.15, -DEPTH, -90.0, hugging())


def test_handshake_found_where_the_hands_are_clasped():
    t, a, b = scene(handshake_scene)
    found = describe_interactions(t, a, {7: b})
    shake = only(found, "handshake")
    assert shake.other_track == 7 and 0.5 <= shake.score <= 1.0
    assert 100.9 <= shake.start_s <= 101.15 and 102.35 <= shake.end_s <= 102.6, shake
    # Standing still facing each other at 0.9 m for 3 s is also talking distance; nothing else holds.
    assert labels_of(found) == {"handshake", "talking_to"}


def test_handshake_survives_a_depth_error_of_one_person():
    """The other person's depth estimated 0.5 m too far (their whole body slid along the camera rays, as a size
    error does): the image is unchanged, so the handshake is still found."""
    t, a, b = scene(handshake_scene)
    assert "handshake" in labels_of(describe_interactions(t, a, {1: b * (DEPTH + 0.5) / DEPTH}))


def test_no_handshake_when_one_person_is_far_behind_the_other():
    """The same image, but the other person really 3 m further away: hands that touch in the image do not."""
    t, a, b = scene(handshake_scene)
    assert not labels_of(describe_interactions(t, a, {1: b * (DEPTH + 3.0) / DEPTH})) & {"handshake", "hug"}


def test_hug_found_where_they_embrace_and_not_taken_for_a_handshake():
    t, a, b = scene(hug_scene)
    found = describe_interactions(t, a, {2: b})
    hug = only(found, "hug")
    assert 100.9 <= hug.start_s <= 101.15 and hug.end_s >= 102.8, hug
    assert "handshake" not in labels_of(found)


def test_hands_hanging_close_together_are_no_hug():
    """Chests 0.3 m apart facing each other, but the arms hang at the sides."""
    t, a, b = scene(lambda s: (body(-0.15, -DEPTH, 90.0, relaxed()), body(0.15, -DEPTH, -90.0, relaxed())))
    assert not labels_of(describe_interactions(t, a, {2: b})) & {"hug", "handshake"}


def test_walking_towards_another_is_approaching():
    """A walks 2 m at 1 m/s towards B, who stands facing A; A starts 3.2 m away and stops 1.2 m away."""
    def frame(s: float) -> tuple[np.ndarray, np.ndarray]:
        x = -2.6 + float(np.clip(s - 0.5, 0.0, 2.0))
        return body(x, -DEPTH, 90.0, relaxed()), body(0.6, -DEPTH, -90.0, relaxed())

    t, a, b = scene(frame, seconds=3.5)
    found = describe_interactions(t, a, {3: b})
    approach = only(found, "approaching_person")
    assert approach.start_s >= 100.3 and approach.end_s <= 102.7 and approach.end_s - approach.start_s >= 1.2, approach
    assert not labels_of(found) & {"handshake", "hug", "walking_together"}
    # The other way round (B is the own person) the pair approaches all the same.
    assert "approaching_person" in labels_of(describe_interactions(t, b, {3: a}))


def test_walking_side_by_side_is_walking_together_not_approaching():
    def frame(s: float) -> tuple[np.ndarray, np.ndarray]:
        x = -1.5 + 1.0 * s
        return body(x, -DEPTH, 90.0, relaxed()), body(x, -DEPTH - 0.8, 90.0, relaxed())

    t, a, b = scene(frame)
    found = describe_interactions(t, a, {4: b})
    assert labels_of(found) == {"walking_together"}, found


def test_standing_apart_facing_the_camera_gives_nothing():
    t, a, b = scene(lambda s: (body(-1.5, -DEPTH, 0.0, relaxed()), body(1.5, -DEPTH, 0.0, relaxed())))
    assert describe_interactions(t, a, {5: b}) == []


def test_facing_each_other_at_talking_distance_is_talking_to():
    t, a, b = scene(lambda s: (body(-0.6, -DEPTH, 90.0, relaxed()), body(0.6, -DEPTH, -90.0, relaxed())))
    talk = only(describe_interactions(t, a, {5: b}), "talking_to")
    # All the window but its edges, where less than half the velocity span is seen and speed is not judged.
    assert talk.start_s <= t[0] + 0.2 and talk.end_s >= t[-1] - 0.2, talk
    # Back to back at the same distance is not.
    t, a, b = scene(lambda s: (body(-0.6, -DEPTH, -90.0, relaxed()), body(0.6, -DEPTH, 90.0, relaxed())))
    assert describe_interactions(t, a, {5: b}) == []


def bent_over() -> Pose:
    """Torso bent forward 45 deg at the spine (15 deg at each of its three joints), legs straight, arms hanging."""
    return relaxed_arms({3: rot("x", 15.0), 6: rot("x", 15.0), 9: rot("x", 15.0)})


def test_bent_over_with_the_chest_turned_to_another_is_not_talking():
    """handshake_two_people.mp4's first 1.5 s: the man bends over a planter towards the woman standing beside it."""
    t, a, b = scene(lambda s: (body(-0.6, -DEPTH, 90.0, bent_over()), body(0.6, -DEPTH, -90.0, relaxed())))
    assert "talking_to" not in labels_of(describe_interactions(t, a, {5: b}))
    assert "talking_to" not in labels_of(describe_interactions(t, b, {5: a}))


def test_a_camera_looking_down_does_not_make_upright_people_bent():
    """One faces the camera, the other has their back to it, 1.2 m apart in depth; the camera looks 20 deg down,
    so both seem to lean 20 deg towards it (forward for the one facing it). Against their legs they stand upright."""
    tilt = rot("x", 20.0)  # the camera frame's y tilts away from gravity by the pitch: upright tilts towards +z
    t, a, b = scene(lambda s: (body(0.0, -3.0, 180.0, relaxed()) @ tilt.T, body(0.0, -4.2, 0.0, relaxed()) @ tilt.T))
    talk = only(describe_interactions(t, a, {5: b}), "talking_to")
    assert talk.end_s - talk.start_s >= 2.0, talk


def test_a_hidden_wrist_gives_no_handshake():
    """The other's wrists are not seen (NaN) while the hands are clasped: no handshake is guessed."""
    t, a, b = scene(handshake_scene)
    b[:, [20, 21]] = np.nan
    assert "handshake" not in labels_of(describe_interactions(t, a, {1: b}))


def test_unseen_frames_split_and_bound_the_spans():
    t, a, b = scene(handshake_scene)
    middle = (t >= 101.5) & (t < 101.9)  # the other unseen for 0.4 s in the middle of the handshake
    b[middle] = np.nan
    shakes = [i for i in describe_interactions(t, a, {1: b}) if i.label == "handshake"]
    assert len(shakes) == 2, shakes
    assert all(not (s.start_s < 101.9 and s.end_s >= 101.5) for s in shakes), shakes
    assert describe_interactions(t, a, {1: np.full_like(b, np.nan)}) == []
    assert describe_interactions(t, np.full_like(a, np.nan), {1: b}) == []


def test_a_one_frame_dropout_is_bridged():
    t, a, b = scene(handshake_scene)
    b[np.argmin(np.abs(t - 101.7))] = np.nan
    assert len([i for i in describe_interactions(t, a, {1: b}) if i.label == "handshake"]) == 1


def test_several_others_each_get_their_own_interactions_in_time_order():
    t, a, b = scene(handshake_scene)
    far = np.stack([body(3.0, -DEPTH, 0.0, relaxed())] * len(t))
    found = describe_interactions(t, a, {9: far, 1: b})
    assert {i.other_track for i in found} == {1}
    assert [i.start_s for i in found] == sorted(i.start_s for i in found)
    assert all(i.label in INTERACTION_LABELS and t[0] <= i.start_s <= i.end_s <= t[-1] for i in found)


def test_bad_input_is_refused_with_its_shape():
    t, a, b = scene(handshake_scene, seconds=1.0)
    with pytest.raises(InteractionInputError, match=r"others\[2\] must have shape"):
        describe_interactions(t, a, {2: b[:, :17]})
    with pytest.raises(InteractionInputError, match="own must have shape"):
        describe_interactions(t, a[:-1], {2: b})
    with pytest.raises(InteractionInputError, match="strictly increasing"):
        describe_interactions(t[::-1], a, {2: b})
    with pytest.raises(ValueError, match="handshake_min_s"):
        InteractionParams(handshake_min_s=0.0)
    with pytest.raises(ValueError, match="hug_chest_gap"):
        InteractionParams(hug_chest_gap=(0.4, 0.4))


def test_phrases():
    def phrase(label: str) -> str:
        return interaction_phrase(1, Interaction(label, 2, 0.9, 0.0, 1.0))

    assert phrase("handshake") == "track 1 and track 2 shake hands"
    assert phrase("hug") == "track 1 and track 2 hug"
    assert phrase("walking_together") == "track 1 and track 2 walk together"
    assert len({phrase(label) for label in INTERACTION_LABELS}) == len(INTERACTION_LABELS)


# ------------------------------------------------------------------------------------------------- real clips
# Annotated intervals (s from each clip's first frame) from shared/data/labels.yaml; the two people of each clip
# carry the same interaction intervals (within 0.02 s: the hug's "others" start at 1.38, taken for both).
HANDSHAKE_S = (2.10, 3.33)
TALKING_S = (1.90, 3.33)  # handshake_two_people.mp4; before it the man is bent over a planter (bending 0-1.45)
HUG_S = (1.38, 2.57)
APPROACH_S = (3.50, 5.00)  # basketball_gym.mp4, the player in blue walking up to the player in white
# How far a label may reach past an annotated edge. Pose labels: 0.25 s, three frames at these clips' 12 fps, for
# edges set by eye on single frames and the bridging of short breaks (InteractionParams.bridge_s). Approaching:
# half the velocity span, since a slope over velocity_span_s centred on a frame sees a walk that far before it.
POSE_TOL_S = 0.25
APPROACH_TOL_S = InteractionParams().velocity_span_s / 2

Found = list[tuple[int, str, int, float, float]]  # (own track, label, other track, start s, end s) per window


@pytest.fixture(scope="module")
def clip_interactions(test_data, pose_model_path) -> Callable[[str], Found]:
    """clip name -> every interaction the engine described in it (2 s windows every 0.5 s: shorter than the
    node's 4 s, so more window edges to get wrong), times from the clip's first frame; each clip runs once."""
    cache: dict[str, Found] = {}

    def run(clip: str) -> Found:
        if clip not in cache:
            frames = list(open_source(str(test_data / "video" / clip)))
            described = []
            with PerceptionPipeline(pose_model_path) as pipeline:
                engine = StreamingEngine(pipeline, PrimitivesDescriber(), EngineParams(window_s=2.0, stride_s=0.5,
                                         lossless=True), on_result=described.append)
                for frame in frames:
                    engine.submit(frame)
                engine.close()
            first = frames[0].stamp
            cache[clip] = [(d.track_id, label, partner, start - first, end - first) for d in described
                           for label, partner, (start, end) in zip(d.labels, d.details["label_partners"],
                                                                    d.details["label_spans"]) if partner != TRACK_NONE]
        return cache[clip]

    return run


def _iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    overlap = min(a[1], b[1]) - max(a[0], b[0])
    return max(overlap, 0.0) / (max(a[1], b[1]) - min(a[0], b[0]))


def _assert_found_for_both(found: Found, label: str, annotated: tuple[float, float], tracks: tuple[int, int]):
    """`label` between the two tracks, seen from each, over a span (the union of its windows') that overlaps the
    annotated interval with IoU >= 0.3 or lies inside it."""
    for own, other in (tracks, tracks[::-1]):
        spans = [(start, end) for track, name, partner, start, end in found
                 if track == own and name == label and partner == other]
        assert spans, (own, label, found)
        union = (min(s for s, _ in spans), max(e for _, e in spans))
        assert _iou(union, annotated) >= 0.3 or annotated[0] <= union[0] <= union[1] <= annotated[1], (own, union)


def _assert_only_within(found: Found, allowed: dict[str, tuple[float, float, float]]):
    """Precision: every interaction label is one of `allowed` (label -> annotated start, end, tolerance s) and lies
    within its annotated interval widened by the tolerance."""
    for track, label, partner, start, end in found:
        assert label in allowed, (track, label, partner, start, end)
        first, last, tolerance = allowed[label]
        assert first - tolerance <= start <= end <= last + tolerance, (track, label, partner, start, end)


def test_real_handshake_is_found_for_both_people_and_talking_only_once_both_stand(clip_interactions):
    found = clip_interactions("handshake_two_people.mp4")
    _assert_found_for_both(found, "handshake", HANDSHAKE_S, (1, 2))
    _assert_found_for_both(found, "talking_to", TALKING_S, (1, 2))
    # Nothing while the man is bent over the planter with his chest turned to the woman (0-1.45 s); no hug, no
    # approach (one step), no walking.
    _assert_only_within(found, {"handshake": (*HANDSHAKE_S, POSE_TOL_S), "talking_to": (*TALKING_S, POSE_TOL_S)})


def test_real_hug_is_found_for_both_men(clip_interactions):
    found = clip_interactions("hug_two_people.mp4")
    _assert_found_for_both(found, "hug", HUG_S, (1, 2))
    # The man in grey leans in without a step: no approach; arms around each other are no handshake.
    _assert_only_within(found, {"hug": (*HUG_S, POSE_TOL_S)})


def test_real_single_person_has_no_interaction(clip_interactions):
    assert clip_interactions("dribble_single_person.mp4") == []


def test_real_gym_players_neither_hug_nor_shake_hands(clip_interactions):
    """Two players small in frame, with blur and short-lived tracks of passers-by: the one approach annotated, and
    none of the touching labels between any pair."""
    found = clip_interactions("basketball_gym.mp4")
    _assert_only_within(found, {"approaching_person": (*APPROACH_S, APPROACH_TOL_S)})
