"""Ego-motion: the camera's own rotation removed before motion is judged.

Synthetic camera motion on designed joints (a still person seen by a panning or tilting camera; a walker the camera
pans with) through `describe_motion(camera_rotations=...)`, the ROS-free entry that both the image estimate and a
robot's TF feed; and the image estimate itself on a real clip whose frames are cropped progressively (a pan).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from motionllm_ros.behavior.primitives import describe_motion
from motionllm_ros.behavior.synthetic import _gait, _Scene, rot, stand
from motionllm_ros.perception.egomotion import chain_rotations, rotation_angle_deg, rotation_between
from motionllm_ros.perception.smpl import default_smpl_model

LOCOMOTION = {"walking", "running", "approaching_camera", "leaving_camera", "turning_left", "turning_right",
              "jumping"}


def seen_by(joints: np.ndarray, camera_to_world: np.ndarray) -> np.ndarray:
    """(T, 22, 3) joints in a world-fixed frame -> as the rotated camera sees them (R^T @ joint, per frame)."""
    return np.einsum("tji,tkj->tki", camera_to_world, joints)


@pytest.mark.parametrize("axis, degrees_per_s", [("y", 25.0), ("y", -40.0), ("x", 20.0)])  # pan, pan, tilt
def test_a_still_person_seen_by_a_turning_camera_does_not_move(axis, degrees_per_s):
    scene = _Scene(np.random.default_rng(3), default_smpl_model())
    motion = stand(scene)
    t = motion.stamps - motion.stamps[0]
    camera = np.stack([rot(axis, degrees_per_s * time) for time in t])  # camera -> world, (T, 3, 3)
    seen = seen_by(motion.joints, camera)  # frames dropped (NaN) stay dropped
    naive = describe_motion(motion.stamps, seen)
    assert "still" not in naive.labels  # the pan reads as motion when nothing removes it
    removed = describe_motion(motion.stamps, seen, camera_rotations=camera, ego_motion="tf")
    assert "still" in removed.labels and not LOCOMOTION & set(removed.labels), removed.labels
    assert removed.details["ego_motion"] == "tf"
    assert removed.details["camera_rotation_deg"] == pytest.approx(abs(degrees_per_s) * t[-1], abs=0.5)


def test_a_walker_the_camera_pans_with_still_walks_at_the_true_speed():
    scene = _Scene(np.random.default_rng(5), default_smpl_model())
    motion = _gait(scene, "walk", 1.2, "across")
    pelvis = np.nan_to_num(motion.joints[:, 0])
    # The camera keeps the walker in the middle of the image: it turns about y towards the pelvis.
    follow = np.degrees(np.arctan2(pelvis[:, 0], -pelvis[:, 2]))
    camera = np.stack([rot("y", -angle) for angle in follow])
    seen = seen_by(motion.joints, camera)
    assert np.nanmax(np.abs(seen[:, 0, 0])) < 0.05  # centred in every frame
    truth = motion.truth["speed_mps"]
    naive = describe_motion(motion.stamps, seen)
    assert "walking" not in naive.labels or abs(naive.details["speed_mps"] - truth) > 0.3 * truth
    removed = describe_motion(motion.stamps, seen, camera_rotations=camera, ego_motion="image")
    assert "walking" in removed.labels, removed.labels
    assert removed.details["speed_mps"] == pytest.approx(truth, rel=0.3)


def test_unknown_camera_motion_gives_no_locomotion_label_rather_than_a_guess():
    scene = _Scene(np.random.default_rng(5), default_smpl_model())
    motion = _gait(scene, "walk", 1.2, "across")
    camera = np.repeat(np.eye(3)[None], len(motion.stamps), axis=0)
    camera[len(camera) // 2] = np.nan  # one step the background could not explain
    result = describe_motion(motion.stamps, motion.joints, camera_rotations=camera, ego_motion="image")
    assert result.enough_motion and not LOCOMOTION & set(result.labels) and "still" not in result.labels
    assert result.details["ego_motion"] == "none" and "standing" in result.labels  # posture needs no camera


def test_rotations_are_solved_and_chained():
    rng = np.random.default_rng(0)
    rays = rng.normal(size=(50, 3))
    rays /= np.linalg.norm(rays, axis=1, keepdims=True)
    turn = rot("y", 7.0) @ rot("x", -3.0)
    np.testing.assert_allclose(rotation_between(rays, rays @ turn.T), turn, atol=1e-12)
    chained = chain_rotations([np.eye(3), rot("y", 2.0), rot("y", 3.0)])
    assert rotation_angle_deg(chained[-1]) == pytest.approx(5.0)
    assert chain_rotations([np.eye(3), None]) is None


def test_a_real_clip_cropped_progressively_reads_as_a_pan_and_the_person_stays_still(test_data, pose_model_path):
    """hug_two_people.mp4 (1920x1080): nobody takes a step. A 1344-wide crop sliding 8 px per frame to the right is
    a camera panning right by about 8 / f radians per frame (f = 672 / tan(31 deg) = 1118 px with the default
    62-degree field of view over the crop): ~0.2 rad/s, ~0.9 m/s of apparent motion at the man's 4.3 m."""
    from motionllm_ros.perception.pipeline import PerceptionPipeline
    from motionllm_ros.sources import open_source

    shift, width = 8, 1344
    frames = []
    with PerceptionPipeline(pose_model_path) as pipeline:
        for k, frame in enumerate(open_source(str(test_data / "video" / "hug_two_people.mp4"))):
            crop = np.ascontiguousarray(frame.rgb[:, shift * k:shift * k + width])
            frames.append(pipeline.process(crop, frame.stamp))
        assert pipeline.ego_counters == {"image.known": len(frames)}
    focal = width / 2 / math.tan(math.radians(31.0))
    steps = [f.camera_rotation for f in frames]
    chained = chain_rotations(steps)
    assert np.all(np.isfinite(chained)), "every step of the pan was estimated"
    expected = math.degrees(shift * (len(frames) - 1) / focal)
    assert rotation_angle_deg(chained[-1]) == pytest.approx(expected, rel=0.15)
    # A pan to the right: the camera's forward axis (-z) ends up pointing to the first frame's right (+x).
    assert (chained[-1] @ [0.0, 0.0, -1.0])[0] > 0.1
    # Track 1: the man in black (the only person in the first frame), fitted throughout.
    valid = [k for k, f in enumerate(frames) if (man := f.person(1)) is not None and man.valid]
    stamps = np.array([frames[k].stamp for k in valid])
    joints = np.stack([frames[k].person(1).joints for k in valid])
    naive = describe_motion(stamps, joints)
    removed = describe_motion(stamps, joints, camera_rotations=chained[valid], ego_motion="image")
    assert "still" not in naive.labels  # the pan reads as motion when nothing removes it
    assert "still" in removed.labels and "walking" not in removed.labels, removed.labels


def test_a_camera_orientation_per_stamp_replaces_the_image_estimate(test_data, pose_model_path):
    """The TF way, without ROS: the same progressive crop (a pan to the right), its rotation given per stamp as a
    robot's TF would (camera optical frame -> fixed frame); the joints come back still, and the step sizes agree
    with what the crop implies."""
    from motionllm_ros.behavior.describer import PrimitivesDescriber
    from motionllm_ros.engine import FrameSample, PersonSample, Window
    from motionllm_ros.perception.pipeline import PerceptionPipeline
    from motionllm_ros.sources import open_source

    shift, width = 8, 1344
    focal = width / 2 / math.tan(math.radians(31.0))
    source = list(open_source(str(test_data / "video" / "hug_two_people.mp4")))
    first = source[0].stamp
    pan = {frame.stamp: math.atan(shift * k / focal) for k, frame in enumerate(source)}

    def orientation(stamp: float) -> np.ndarray:  # about the optical y axis (down): forward turns to the right
        c, s = math.cos(pan[stamp]), math.sin(pan[stamp])
        return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])

    with PerceptionPipeline(pose_model_path, camera_orientation=orientation) as pipeline:
        frames = [pipeline.process(np.ascontiguousarray(f.rgb[:, shift * k:shift * k + width]), f.stamp)
                  for k, f in enumerate(source)]
        assert pipeline.ego_counters == {"tf.known": len(source)}  # what /diagnostics reports
    chained = chain_rotations([f.camera_rotation for f in frames])
    assert rotation_angle_deg(chained[-1]) == pytest.approx(math.degrees(pan[source[-1].stamp]), abs=1e-6)
    samples = tuple(FrameSample(f.stamp, 0.0, tuple(PersonSample(p.track_id, p.valid, p.reason, p.joints,
                                                                  p.joint_seen, p.bbox) for p in f.people),
                                None, f.camera_rotation) for f in frames)
    track = 1  # the man in black: the only person in the first frame, fitted throughout
    text, labels, _, _, details = PrimitivesDescriber(ego_motion="tf")(
        Window(first - 0.001, source[-1].stamp, "camera", samples, track))
    assert details["ego_motion"] == "tf" and "still" in labels and "walking" not in labels, text
