"""HumanML3D features against the reference sample (real data) and against kinematic facts (synthetic motion)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from motionllm_ros.perception import skeleton
from motionllm_ros.perception.humanml3d import (
    MotionDataError,
    Normalizer,
    SegmentBuffer,
    compute_features,
    recover_from_ric,
    resample,
)

FPS = 20.0


# ------------------------------------------------------------------------------------------------ synthetic motion


def _yaw_matrix(angle: np.ndarray) -> np.ndarray:
    """(T,) radians about +y -> (T, 3, 3); +angle turns +z towards +x."""
    c, s = np.cos(angle), np.sin(angle)
    zero, one = np.zeros_like(angle), np.ones_like(angle)
    return np.stack([np.stack([c, zero, s], -1), np.stack([zero, one, zero], -1), np.stack([-s, zero, c], -1)], -2)


def _pitch_matrix(angle: np.ndarray) -> np.ndarray:
    """(T,) radians about +x -> (T, 3, 3)."""
    c, s = np.cos(angle), np.sin(angle)
    zero, one = np.zeros_like(angle), np.ones_like(angle)
    return np.stack([np.stack([one, zero, zero], -1), np.stack([zero, c, -s], -1), np.stack([zero, s, c], -1)], -2)


def _rest_pose() -> np.ndarray:
    """(22, 3) HumanML3D target skeleton in its rest pose (arms hanging, facing +z), root at the origin."""
    joints = np.zeros((22, 3))
    for joint in range(1, 22):
        joints[joint] = joints[skeleton.HUMANML3D_PARENTS[joint]] + skeleton.T2M_TARGET_OFFSETS[joint]
    return joints


def _walk(frames: int, speed: float = 0.0, heading: float = 0.0, yaw_rate: float = 0.0) -> np.ndarray:
    """(frames, 22, 3) at 20 fps: legs swinging, body yawed by heading + yaw_rate * t, moving along its facing."""
    t = np.arange(frames) / FPS
    joints = np.repeat(_rest_pose()[None], frames, axis=0)
    swing = 0.4 * np.sin(2 * np.pi * 1.0 * t)
    for hip, leg, sign in ((1, (4, 7, 10), 1.0), (2, (5, 8, 11), -1.0)):
        offsets = joints[:, list(leg)] - joints[:, hip : hip + 1]
        swung = np.einsum("tij,tkj->tki", _pitch_matrix(sign * swing), offsets)
        joints[:, list(leg)] = joints[:, hip : hip + 1] + swung
    yaw = heading + yaw_rate * t
    joints = np.einsum("tij,tkj->tki", _yaw_matrix(yaw), joints)
    facing = np.stack([np.sin(yaw), np.zeros_like(yaw), np.cos(yaw)], -1)
    joints += np.cumsum(speed / FPS * facing, axis=0)[:, None] - speed / FPS * facing[:1, None]
    joints[..., 1] += 1.0  # lift off the floor; compute_features puts the lowest point at y = 0
    return joints


def test_constant_walk_has_forward_root_velocity_and_no_yaw():
    features = compute_features(_walk(60, speed=1.2, heading=np.pi / 2))  # walking along +x, facing +x
    np.testing.assert_allclose(features[:, 2], 1.2 / FPS, atol=1e-6)  # forward (z) after facing +z
    np.testing.assert_allclose(features[:, 1], 0.0, atol=1e-6)
    np.testing.assert_allclose(features[:, 0], 0.0, atol=1e-6)
    # The legs swing at up to ~2.3 m/s relative to the hips: a foot sweeping backwards is (nearly) still on the
    # ground, so each foot has stance frames and the two ankles are never in contact at once.
    left_ankle, right_ankle = features[:, 259], features[:, 261]
    assert left_ankle.any() and right_ankle.any()
    assert not np.any((left_ankle == 1) & (right_ankle == 1))


def test_turning_in_place_gives_half_angle_yaw_velocity():
    yaw_rate = 1.0  # rad/s
    unsmoothed = compute_features(_walk(240, yaw_rate=yaw_rate), facing_smoothing_sigma=0.0)
    # The reference stores arcsin of the y part of the relative quaternion: half the yaw step per frame.
    np.testing.assert_allclose(np.abs(unsmoothed[1:, 0]), yaw_rate / FPS / 2, rtol=1e-6)
    smoothed = compute_features(_walk(240, yaw_rate=yaw_rate))
    interior = slice(81, 240 - 82)  # beyond the Gaussian's 80-frame radius from both ends
    np.testing.assert_allclose(smoothed[interior, 0], unsmoothed[interior, 0], rtol=1e-6)


def test_recover_from_ric_inverts_compute_features():
    motion = _walk(80, speed=0.8, heading=0.0, yaw_rate=0.7)
    # Canonical already (first root at the xz origin, facing +z); only the floor moves.
    expected = motion - np.array([0.0, motion[..., 1].min(), 0.0])
    recovered = recover_from_ric(compute_features(motion))
    np.testing.assert_allclose(recovered, expected[:-1], atol=2e-5)


def test_features_do_not_depend_on_body_size():
    motion = _walk(40, speed=1.0, heading=0.3, yaw_rate=0.5)
    np.testing.assert_allclose(compute_features(1.7 * motion), compute_features(motion), atol=2e-5)


def test_standing_still_is_all_contact():
    features = compute_features(np.repeat(_rest_pose()[None], 10, axis=0))
    assert np.all(features[:, 259:] == 1.0)
    np.testing.assert_allclose(features[:, :3], 0.0, atol=1e-7)


def _lying_on_side() -> np.ndarray:
    """Rest pose turned onto its side, hip and shoulder lines exactly vertical: no horizontal facing exists."""
    joints = _rest_pose()[:, [1, 0, 2]] * np.array([-1.0, 1.0, 1.0])  # 90 degrees about z
    joints[[1, 2], 0] = joints[0, 0]  # hips straight above/below the pelvis
    joints[[13, 14], 0] = joints[9, 0]  # collars straight above/below spine3, shoulders beyond them
    joints[[16, 17]] = joints[[13, 14]] + np.array([[0.0, 0.12, 0.0], [0.0, -0.12, 0.0]])
    return joints


@pytest.mark.parametrize(
    "joints, message",
    [
        (np.zeros((10, 21, 3)), "shape"),
        (np.full((10, 22, 3), np.nan), "non-finite"),
        (_rest_pose()[None], "at least 2 frames"),
        (np.zeros((10, 22, 3)), "coincides with its parent"),
        (np.repeat(_lying_on_side()[None], 3, axis=0), "facing direction undefined in frame 0"),
    ],
)
def test_bad_joints_raise_clear_errors(joints, message):
    with pytest.raises(MotionDataError, match=message):
        compute_features(joints)


def test_recover_from_ric_rejects_wrong_width():
    with pytest.raises(MotionDataError, match="263"):
        recover_from_ric(np.zeros((5, 262)))


# ------------------------------------------------------------------------------------------------------ resampling


def test_resample_30fps_onto_20fps_grid():
    stamps = 1000.0 + np.arange(91) / 30.0  # 3 s at 30 fps, with a large absolute time as ROS stamps have
    values = np.stack([2.0 * (stamps - 1000.0) + 1.0, np.sin(stamps - 1000.0)], -1)
    grid, resampled = resample(stamps, values)
    assert len(grid) == 61 and grid[0] == stamps[0]
    np.testing.assert_allclose(np.diff(grid), 1 / 20, atol=1e-9)
    np.testing.assert_allclose(resampled[:, 0], 2.0 * (grid - 1000.0) + 1.0, atol=1e-9)  # linear: exact
    np.testing.assert_allclose(resampled[:, 1], np.sin(grid - 1000.0), atol=1.5e-4)  # h^2/8 bound
    # Every third 20 fps sample coincides with a 30 fps sample (t = 0, 0.1, 0.2, ...): returned unchanged.
    np.testing.assert_allclose(resampled[::2], values[::3], atol=1e-9)


def test_resample_jittered_stamps_and_explicit_start():
    stamps = np.cumsum(np.r_[0.0, np.random.default_rng(0).uniform(0.02, 0.06, 50)])
    grid, resampled = resample(stamps, 3.0 * stamps[:, None, None], start_s=0.01)
    assert grid[0] == 0.01 and grid[-1] <= stamps[-1]
    np.testing.assert_allclose(resampled[:, 0, 0], 3.0 * grid, atol=1e-12)


@pytest.mark.parametrize("stamps", [[0.0, 0.1, 0.1], [0.0, 0.2, 0.1], [0.0, np.nan]])
def test_resample_rejects_bad_stamps(stamps):
    with pytest.raises(MotionDataError, match="increasing"):
        resample(stamps, np.zeros((len(stamps), 2)))


# -------------------------------------------------------------------------------------------------- segment buffer


def test_segment_buffer_restarts_on_gap_and_resamples():
    motion = _walk(200, speed=1.0)
    buffer = SegmentBuffer(max_gap_s=0.5, max_seconds=20.0)
    for i in range(60):  # 2 s at 30 fps
        assert buffer.push(10.0 + i / 30.0, motion[i])
    assert buffer.features().shape == (39, 263)  # 40 frames at 20 fps
    for i in range(16):  # 1 s later: tracking was lost
        buffer.push(13.0 + i / 30.0, motion[i])
    assert buffer.restarts == 1
    segment = buffer.segment()
    assert segment.stamps_s[0] == 13.0 and len(segment.stamps_s) == 11
    assert buffer.features().shape == (10, 263)


def test_segment_buffer_caps_length_on_a_fixed_grid():
    motion = _walk(200, speed=1.0)
    buffer = SegmentBuffer(max_seconds=1.0)
    for i in range(90):  # 3 s at 30 fps
        buffer.push(5.0 + i / 30.0, motion[i])
    segment = buffer.segment()
    assert len(segment.stamps_s) == 20
    np.testing.assert_allclose(segment.stamps_s[-1], 5.0 + 89 / 30.0 - (89 / 30.0) % 0.05, atol=1e-9)
    np.testing.assert_allclose((segment.stamps_s - 5.0) * 20, np.round((segment.stamps_s - 5.0) * 20), atol=1e-6)


def test_segment_buffer_20fps_input_passes_through_unchanged():
    motion = _walk(30, speed=1.0, yaw_rate=0.4)
    buffer = SegmentBuffer()
    for i, joints in enumerate(motion):
        buffer.push(i / FPS, joints)
    np.testing.assert_allclose(buffer.segment().joints, motion, atol=1e-9)
    np.testing.assert_allclose(buffer.features(), compute_features(motion), atol=1e-6)


def test_segment_buffer_counts_skips_and_needs_two_frames():
    buffer = SegmentBuffer()
    assert buffer.features() is None
    assert buffer.push(1.0, _rest_pose())
    assert buffer.features() is None
    assert not buffer.push(1.0, _rest_pose())  # same stamp
    assert not buffer.push(1.02, np.full((22, 3), np.nan))  # lost landmarks
    assert buffer.skipped == {"not_after_previous": 1, "non_finite": 1}
    assert buffer.push(1.05, _rest_pose())
    assert buffer.features().shape == (1, 263)
    with pytest.raises(MotionDataError, match="shape"):
        buffer.push(1.1, np.zeros((24, 3)))


def test_segment_buffer_restarts_when_time_jumps_back():
    buffer = SegmentBuffer(max_gap_s=0.5)
    buffer.push(100.0, _rest_pose())
    buffer.push(100.05, _rest_pose())
    buffer.push(3.0, _rest_pose())  # a bag replay looped
    assert buffer.restarts == 1 and buffer.segment().stamps_s.tolist() == [3.0]


# ------------------------------------------------------------------------------------------------------ normalizer


def test_normalizer_round_trip_and_errors(tmp_path: Path):
    rng = np.random.default_rng(1)
    mean, std = rng.normal(size=263), rng.uniform(0.5, 2.0, 263)
    np.save(tmp_path / "mean.npy", mean)
    np.save(tmp_path / "std.npy", std)
    normalizer = Normalizer.from_files(tmp_path / "mean.npy", tmp_path / "std.npy")
    features = rng.normal(size=(7, 263)).astype(np.float32)
    np.testing.assert_allclose(normalizer.normalize(features), (features - mean) / std, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(normalizer.denormalize(normalizer.normalize(features)), features, atol=1e-5)

    with pytest.raises(FileNotFoundError, match="missing.npy"):
        Normalizer.from_files(tmp_path / "missing.npy", tmp_path / "std.npy")
    np.save(tmp_path / "short.npy", mean[:262])
    with pytest.raises(MotionDataError, match=r"short\.npy.*\(262,\)"):
        Normalizer.from_files(tmp_path / "short.npy", tmp_path / "std.npy")
    (tmp_path / "garbage.npy").write_bytes(b"not numpy")
    with pytest.raises(MotionDataError, match="garbage.npy"):
        Normalizer.from_files(tmp_path / "garbage.npy", tmp_path / "std.npy")
    with pytest.raises(MotionDataError, match="not positive"):
        Normalizer(mean=mean, std=np.where(np.arange(263) == 5, 0.0, std))
    with pytest.raises(MotionDataError, match="263"):
        normalizer.normalize(np.zeros((3, 251)))


# -------------------------------------------------------------------------------------------- real reference data


@pytest.fixture(scope="module")
def sample(test_data: Path) -> tuple[np.ndarray, np.ndarray]:
    folder = test_data / "humanml3d"
    return np.load(folder / "new_joints" / "012314.npy"), np.load(folder / "new_joint_vecs" / "012314.npy")


def _with_final_frame(joints: np.ndarray, features: np.ndarray) -> np.ndarray:
    """The clip the reference processed: new_joints plus the frame after the last feature row.

    Row i's joint velocities are (frame i+1 - frame i) in the facing frame of i, whose yaw recover_from_ric
    integrates, so the last row gives back the frame that new_joints (one per feature row) leaves out.
    """
    half_yaw = np.sum(features[:-1, 0], dtype=np.float64)  # facing of the last row, half-angle convention
    c, s = np.cos(2 * half_yaw), np.sin(2 * half_yaw)
    to_world = np.array([[c, 0.0, -s], [0.0, 1.0, 0.0], [s, 0.0, c]])  # rotation by -2 * half_yaw about y
    step = features[-1, 193:259].reshape(22, 3).astype(np.float64) @ to_world.T
    return np.concatenate([joints, (joints[-1] + step)[None]])


def test_skeleton_constants_match_published_kinematics(test_data: Path):
    facts = json.loads((test_data / "smpl_kinematics.json").read_text())
    assert list(skeleton.SMPL_JOINT_NAMES) == facts["smpl_joint_names_24"]
    assert list(skeleton.SMPL_PARENTS) == facts["smpl_parents_24"]
    assert skeleton.HUMANML3D_NUM_JOINTS == facts["humanml3d_joints"]
    assert list(skeleton.HUMANML3D_PARENTS) == facts["humanml3d_parents_22"]
    assert [list(chain) for chain in skeleton.KINEMATIC_CHAIN] == facts["t2m_kinematic_chain"]
    np.testing.assert_array_equal(skeleton.T2M_RAW_OFFSETS, np.array(facts["t2m_raw_offsets"]))
    layout = facts["humanml3d_feature_layout_263"]
    assert layout["foot_contact_4"] == [259, skeleton.HUMANML3D_FEATURE_DIM]


def test_target_bone_lengths_are_the_sample_skeleton(sample):
    joints = sample[0].astype(np.float64)
    parents = list(skeleton.HUMANML3D_PARENTS[1:])
    lengths = np.linalg.norm(joints[:, 1:] - joints[:, parents], axis=-1)  # (T, 21)
    assert np.max(lengths.std(0) / lengths.mean(0)) < 2e-6  # constant along the clip
    np.testing.assert_allclose(skeleton.T2M_TARGET_BONE_LENGTHS[1:], lengths.mean(0), rtol=1e-6)


def test_sample_facts(sample):
    joints, features = sample
    assert joints.shape == (170, 22, 3) and features.shape == (170, 263)
    assert features[:, 3].min() == pytest.approx(0.703, abs=1e-3)
    assert features[:, 3].max() == pytest.approx(1.057, abs=1e-3)
    assert joints[:, [20, 21], 1].max() == pytest.approx(1.943, abs=1e-3)


def test_recover_from_ric_reproduces_new_joints(sample):
    joints, features = sample
    # The reference saved new_joints = recover_from_ric(features): one frame per feature row, row i <-> frame i.
    np.testing.assert_allclose(recover_from_ric(features), joints, atol=1e-5)


def test_compute_features_reproduces_reference_on_the_full_clip(sample):
    joints, features = sample
    computed = compute_features(_with_final_frame(joints, features))
    assert computed.shape == features.shape
    np.testing.assert_allclose(computed, features, atol=2e-5)
    np.testing.assert_array_equal(computed[:, 259:], features[:, 259:])
    assert set(np.unique(computed[:, 259:])) <= {0.0, 1.0}


def test_compute_features_on_new_joints_differs_only_in_the_smoothed_tail(sample):
    joints, features = sample
    computed = compute_features(joints)  # 170 frames -> 169 rows; the reference also saw frame 170
    error = np.abs(computed - features[:-1])
    # Missing the final frame changes the whole-clip facing smoothing (sigma 20 frames) near the end only.
    assert error[:117].max() < 1e-4
    assert error.max() < 0.02
    np.testing.assert_array_equal(computed[:, 259:], features[:-1, 259:])


@pytest.mark.parametrize("mean_name, std_name", [("Mean.npy", "Std.npy"), ("t2m_mean.npy", "t2m_std.npy")])
def test_normalizer_loads_published_statistics(test_data: Path, sample, mean_name, std_name):
    folder = test_data / "humanml3d"
    normalizer = Normalizer.from_files(folder / mean_name, folder / std_name)
    normalized = normalizer.normalize(sample[1])
    assert normalized.dtype == np.float32 and np.all(np.isfinite(normalized))
    np.testing.assert_allclose(normalizer.denormalize(normalized), sample[1], atol=1e-5)


def test_tracked_segments_split_at_gaps_and_new_tracks():
    from motionllm_ros.perception.humanml3d import tracked_segments

    stamps = np.arange(10) * 0.1
    valid = np.array([1, 1, 0, 1, 1, 1, 1, 1, 0, 1], bool)
    track = np.array([1, 1, 1, 1, 1, 2, 2, 2, 2, 2])
    assert tracked_segments(stamps, valid, 0.5) == [slice(0, 10)]  # short dropouts stay inside one segment
    assert tracked_segments(stamps, valid, 0.15) == [slice(0, 2), slice(3, 8), slice(9, 10)]
    assert tracked_segments(stamps, valid, 0.5, track) == [slice(0, 5), slice(5, 10)]
    assert tracked_segments(stamps, np.zeros(10, bool)) == []
