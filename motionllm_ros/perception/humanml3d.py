"""HumanML3D 263-dim motion features, computed as the reference computes them, plus their streaming plumbing.

The reference is HumanML3D's ``motion_representation`` (``process_file``, ``recover_from_ric``) with its
``common/skeleton.py`` and ``common/quaternion.py`` (EricGuo5513/HumanML3D, MIT; copies in text-to-motion and
T2M-GPT, whose VQ-VAE MotionLLM uses). This is an independent numpy re-implementation of the same arithmetic, in
float64 (the reference runs its quaternion maths in float32 torch, so results agree to about 1e-5). Quaternions are
(w, x, y, z), Hamilton product, rotating column vectors.

Layout of one feature row (frame i describes the step from frame i to i+1):
    [0:1]     root yaw velocity, half-angle radians per frame (``arcsin`` of the y part of the relative quaternion)
    [1:3]     root linear velocity x, z in the root's facing frame, metres per frame
    [3:4]     root height, metres
    [4:67]    joints 1..21 relative to the root: xz relative to the root, rotated so the body faces +z; y absolute
    [67:193]  joints 1..21 local rotations as 6D (first two columns of the rotation matrix)
    [193:259] joints 0..21 velocities, metres per frame, in the facing frame of frame i
    [259:263] foot contacts 0/1: left ankle, left foot, right ankle, right foot

Streaming caveat: the reference is not causal. The facing direction behind the root rotation is smoothed with a
Gaussian of sigma 20 frames (1 s) over the whole clip (``inverse_kinematics_np(..., smooth_forward=True)`` in
``get_cont6d_params``; not in ``uniform_skeleton``, whose IK is undone by its own forward kinematics), and the
floor height is the minimum over the whole clip. Features recomputed on a growing segment therefore change as
frames are added: mostly in their last second, measurably (> 1e-4) up to ~2.5 s back, and everywhere when a new
lowest point arrives. Each row also needs the frame after it (velocities), so T frames give T-1 rows.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motionllm_ros.perception.skeleton import (
    FACE_JOINTS,
    HUMANML3D_FEATURE_DIM,
    HUMANML3D_FPS,
    HUMANML3D_NUM_JOINTS,
    HUMANML3D_PARENTS,
    KINEMATIC_CHAIN,
    LEFT_FOOT_JOINTS,
    LEG_LENGTH_JOINTS,
    RIGHT_FOOT_JOINTS,
    T2M_RAW_OFFSETS,
    T2M_TARGET_BONE_LENGTHS,
)

# Reference defaults (motion_representation: process_file(source_data, 0.002); gaussian_filter1d(forward, 20)).
FEET_THRESHOLD = 0.002  # squared displacement per frame, m^2: below it a foot joint counts as in contact
FACING_SMOOTHING_SIGMA = 20.0  # frames
_GAUSSIAN_TRUNCATE = 4.0  # scipy.ndimage.gaussian_filter1d's default kernel radius, in sigmas

_UP = np.array([0.0, 1.0, 0.0])
_FORWARD = np.array([0.0, 0.0, 1.0])


class MotionDataError(ValueError):
    """Joints, features or statistics with the wrong shape, non-finite values or degenerate geometry."""


# ---------------------------------------------------------------------------------------------------- quaternions


def _qmul(q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Hamilton product q * r of (..., 4) arrays."""
    qw, qx, qy, qz = np.moveaxis(q, -1, 0)
    rw, rx, ry, rz = np.moveaxis(r, -1, 0)
    return np.stack(
        (
            qw * rw - qx * rx - qy * ry - qz * rz,
            qw * rx + qx * rw + qy * rz - qz * ry,
            qw * ry - qx * rz + qy * rw + qz * rx,
            qw * rz + qx * ry - qy * rx + qz * rw,
        ),
        axis=-1,
    )


def _qinv(q: np.ndarray) -> np.ndarray:
    """Conjugate, the inverse of a unit quaternion."""
    return q * np.array([1.0, -1.0, -1.0, -1.0])


def _qrot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4) (broadcasting)."""
    w = q[..., :1]
    axis = q[..., 1:]
    uv = np.cross(axis, v)
    return v + 2.0 * (w * uv + np.cross(axis, uv))


def _qbetween(v0: np.ndarray, v1: np.ndarray) -> np.ndarray:
    """Shortest-arc unit quaternions rotating directions v0 onto v1, (..., 3) -> (..., 4).

    Same formula as the reference's qbetween. For exactly opposite directions that formula is 0/0 (NaN); there we
    return a half turn about an axis perpendicular to v0 (about y when v0 is horizontal), a valid answer.
    """
    v0, v1 = np.broadcast_arrays(v0, v1)
    w = np.sqrt(np.sum(v0 * v0, axis=-1) * np.sum(v1 * v1, axis=-1)) + np.sum(v0 * v1, axis=-1)
    q = np.concatenate([w[..., None], np.cross(v0, v1)], axis=-1)
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    opposite = norm[..., 0] < 1e-12 * np.maximum(np.sum(v0 * v0, axis=-1), 1e-300)
    if np.any(opposite):
        # Half turn about the part of "up" perpendicular to v0: a pure yaw for horizontal v0 (a facing direction).
        direction = v0[opposite] / np.linalg.norm(v0[opposite], axis=-1, keepdims=True)
        axis = _UP - np.sum(direction * _UP, axis=-1, keepdims=True) * direction
        vertical = np.linalg.norm(axis, axis=-1) < 1e-6  # v0 along y: any horizontal axis works
        axis[vertical] = np.array([1.0, 0.0, 0.0])
        q[opposite] = np.concatenate([np.zeros((len(axis), 1)), axis], axis=-1)
        norm[opposite] = np.linalg.norm(q[opposite], axis=-1, keepdims=True)
    return q / norm


def _quat_to_cont6d(q: np.ndarray) -> np.ndarray:
    """(..., 4) -> (..., 6): the first two columns of the rotation matrix, column-major as the reference."""
    w, x, y, z = np.moveaxis(q, -1, 0)
    two_s = 2.0 / np.sum(q * q, axis=-1)
    column0 = (1 - two_s * (y * y + z * z), two_s * (x * y + z * w), two_s * (x * z - y * w))
    column1 = (two_s * (x * y - z * w), 1 - two_s * (x * x + z * z), two_s * (y * z + x * w))
    return np.stack(column0 + column1, axis=-1)


# ------------------------------------------------------------------------------------------------- skeleton steps


def _gaussian_smooth_nearest(x: np.ndarray, sigma: float) -> np.ndarray:
    """scipy.ndimage.gaussian_filter1d(x, sigma, axis=0, mode='nearest') for (T, C) x, without scipy."""
    radius = int(_GAUSSIAN_TRUNCATE * sigma + 0.5)
    offsets = np.arange(-radius, radius + 1, dtype=np.float64)
    weights = np.exp(-0.5 * (offsets / sigma) ** 2)
    weights /= weights.sum()
    padded = np.pad(x, ((radius, radius), (0, 0)), mode="edge")  # 'nearest' repeats the edge samples
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * radius + 1, axis=0)  # (T, C, 2r+1)
    return windows @ weights


def _bone_directions(joints: np.ndarray) -> np.ndarray:
    """(T, 22, 3) -> (T, 22, 3) unit vectors parent -> joint (row 0 zero); raises on zero-length bones."""
    parents = np.array(HUMANML3D_PARENTS[1:])
    bones = joints[:, 1:] - joints[:, parents]
    lengths = np.linalg.norm(bones, axis=-1, keepdims=True)
    if np.any(lengths < 1e-9):
        frame, bone = np.argwhere(lengths[..., 0] < 1e-9)[0]
        raise MotionDataError(
            f"joints: joint {bone + 1} coincides with its parent {parents[bone]} in frame {frame}; "
            "bone directions are undefined"
        )
    directions = np.zeros_like(joints)
    directions[:, 1:] = bones / lengths
    return directions


def _retarget_to_target_skeleton(joints: np.ndarray) -> np.ndarray:
    """Reference ``uniform_skeleton``: same bone directions, HumanML3D's fixed bone lengths.

    The reference runs IK (raw offsets -> bone directions) then FK with the target offsets; that composition puts
    every joint at parent + target_length * direction, which is what we compute directly. The root trajectory is
    scaled by the ratio of the target's to the clip's right-leg length (thigh hip->knee plus shin knee->ankle,
    ``l_idx1, l_idx2 = 5, 8``), measured on the first frame.
    """
    directions = _bone_directions(joints)
    first_lengths = np.linalg.norm(joints[0, 1:] - joints[0, list(HUMANML3D_PARENTS[1:])], axis=-1)
    knee, ankle = LEG_LENGTH_JOINTS
    source_leg = first_lengths[knee - 1] + first_lengths[ankle - 1]
    target_leg = T2M_TARGET_BONE_LENGTHS[knee] + T2M_TARGET_BONE_LENGTHS[ankle]
    retargeted = np.empty_like(joints)
    retargeted[:, 0] = joints[:, 0] * (target_leg / source_leg)
    for joint in range(1, HUMANML3D_NUM_JOINTS):  # parents precede children
        parent = HUMANML3D_PARENTS[joint]
        retargeted[:, joint] = retargeted[:, parent] + T2M_TARGET_BONE_LENGTHS[joint] * directions[:, joint]
    return retargeted


def _facing_across(joints: np.ndarray, hips_sign: float) -> np.ndarray:
    """Hip + shoulder across-vector (..., 3) from (..., 22, 3) joints, pointing to the body's right.

    ``hips_sign`` reproduces a quirk: process_file adds (r_hip - l_hip), but Skeleton.inverse_kinematics_np unpacks
    face_joint_indx as ``l_hip, r_hip, ...`` and so adds (l_hip - r_hip), i.e. its across-vector is shoulders minus
    hips. Both still point right because the shoulders are wider than the hips.
    """
    right_hip, left_hip, right_shoulder, left_shoulder = FACE_JOINTS
    hips = joints[..., right_hip, :] - joints[..., left_hip, :]
    shoulders = joints[..., right_shoulder, :] - joints[..., left_shoulder, :]
    return hips_sign * hips + shoulders


def _unit_facing(forward: np.ndarray) -> np.ndarray:
    """Normalise horizontal facing vectors (T, 3); the reference would turn an undefined facing into NaNs."""
    length = np.linalg.norm(forward, axis=-1, keepdims=True)
    if not np.all(length > 1e-9):  # also catches NaN from a zero-length across-vector
        frame = int(np.flatnonzero(~(length[:, 0] > 1e-9))[0])
        raise MotionDataError(
            f"joints: facing direction undefined in frame {frame} (hip and shoulder lines vertical or cancelling)"
        )
    return forward / length


def _root_rotation(joints: np.ndarray, smoothing_sigma: float) -> np.ndarray:
    """Per-frame yaw quaternion (T, 4) turning the body's facing direction to +z (the reference IK's root).

    The forward vector is up x across; with smoothing it is Gaussian-filtered over the whole clip *before*
    normalisation, as the reference does. Frame 0 is forced to the identity: the released HumanML3D features were
    made by a Skeleton.inverse_kinematics_np with ``root_quat[0] = identity`` active (it is commented out in
    today's HumanML3D repo but active in text-to-motion / T2M-GPT / MoMask; only this reproduces row 0 of the
    reference sample). Row 0's yaw velocity therefore also carries the offset between the initial facing of step 4
    and this (quirky, smoothed) facing of frame 1.
    """
    across = _facing_across(joints, hips_sign=-1.0)
    across = across / np.linalg.norm(across, axis=-1, keepdims=True)
    forward = np.cross(_UP, across)
    if smoothing_sigma > 0:
        forward = _gaussian_smooth_nearest(forward, smoothing_sigma)
    rotation = _qbetween(_unit_facing(forward), _FORWARD)
    rotation[0] = (1.0, 0.0, 0.0, 0.0)
    return rotation


def _local_rotations(joints: np.ndarray, root_rotation: np.ndarray) -> np.ndarray:
    """Reference IK: (T, 22, 3) joints, (T, 4) root -> (T, 22, 4) local joint quaternions (row 0 = root).

    Each bone's global rotation is the shortest arc from its raw offset to its direction; a joint's local rotation
    is that relative to the previous bone of its chain. The first bone of every chain is taken relative to the root
    rotation, also for the arm chains that start at spine3 (joint 9): the reference restarts R at the root there.
    """
    directions = _bone_directions(joints)
    bone_rotation = np.zeros(joints.shape[:-1] + (4,))  # (T, 22, 4); row 0 (the root has no bone) unused
    bone_rotation[:, 1:] = _qbetween(np.broadcast_to(T2M_RAW_OFFSETS[1:], directions[:, 1:].shape), directions[:, 1:])
    parent_rotation = np.zeros_like(bone_rotation)
    chain_starts = {chain[1] for chain in KINEMATIC_CHAIN}
    for joint in range(1, HUMANML3D_NUM_JOINTS):
        if joint in chain_starts:
            parent_rotation[:, joint] = root_rotation
        else:
            parent_rotation[:, joint] = bone_rotation[:, HUMANML3D_PARENTS[joint]]
    local = _qmul(_qinv(parent_rotation), bone_rotation)
    local[:, 0] = root_rotation
    return local


def _check_joints(joints: np.ndarray, name: str) -> np.ndarray:
    joints = np.asarray(joints)
    if joints.ndim != 3 or joints.shape[1:] != (HUMANML3D_NUM_JOINTS, 3):
        raise MotionDataError(f"{name}: expected shape (T, {HUMANML3D_NUM_JOINTS}, 3), got {joints.shape}")
    if not np.all(np.isfinite(joints)):
        raise MotionDataError(f"{name}: contains non-finite values")
    return joints.astype(np.float64)


# --------------------------------------------------------------------------------------------------- public API


def compute_features(
    joints: np.ndarray,
    *,
    feet_threshold: float = FEET_THRESHOLD,
    facing_smoothing_sigma: float = FACING_SMOOTHING_SIGMA,
) -> np.ndarray:
    """HumanML3D features of a clip, as the reference ``process_file``.

    joints: (T, 22, 3) metres, y-up, 20 fps, SMPL joint order, T >= 2.
    feet_threshold: squared per-frame displacement (m^2) under which a foot joint is in contact.
    facing_smoothing_sigma: Gaussian sigma in frames for the facing direction; 0 disables the smoothing.
    Returns (T-1, 263) float32.
    """
    positions = _check_joints(joints, "joints")
    if len(positions) < 2:
        raise MotionDataError(f"joints: need at least 2 frames for velocities, got {len(positions)}")

    # 1. Retarget onto HumanML3D's fixed skeleton (uniform_skeleton).
    positions = _retarget_to_target_skeleton(positions)
    # 2. Put on the floor: the lowest joint over the whole clip at y = 0.
    positions[..., 1] -= positions[..., 1].min()
    # 3. Root of the first frame at the xz origin.
    positions -= positions[0, 0] * np.array([1.0, 0.0, 1.0])
    # 4. Turn the whole clip so the first frame faces +z (hips + shoulders across-vector, no quirk, no smoothing).
    across = _facing_across(positions[:1], hips_sign=1.0)
    forward_init = np.cross(_UP, across / np.linalg.norm(across, axis=-1, keepdims=True))
    initial_turn = _qbetween(_unit_facing(forward_init), _FORWARD)[0]
    positions = _qrot(initial_turn, positions)

    # 5. Foot contacts: squared displacement of each foot joint from frame i to i+1 below the threshold.
    foot_step = np.sum((positions[1:] - positions[:-1]) ** 2, axis=-1)  # (T-1, 22)
    feet_left = (foot_step[:, list(LEFT_FOOT_JOINTS)] < feet_threshold).astype(np.float64)
    feet_right = (foot_step[:, list(RIGHT_FOOT_JOINTS)] < feet_threshold).astype(np.float64)

    # 6. Root rotation (smoothed facing) and joint rotations from the IK against the raw skeleton (get_cont6d_params).
    root_rotation = _root_rotation(positions, facing_smoothing_sigma)  # (T, 4)
    cont6d = _quat_to_cont6d(_local_rotations(positions, root_rotation))  # (T, 22, 6)

    # 7. Root linear velocity, rotated by the facing of the *later* frame (reference: r_rot[1:]).
    root_velocity = _qrot(root_rotation[1:], positions[1:, 0] - positions[:-1, 0])  # (T-1, 3)
    # 8. Root yaw velocity: arcsin of the y part of r[i+1] * r[i]^-1, i.e. half the yaw step.
    yaw_step = _qmul(root_rotation[1:], _qinv(root_rotation[:-1]))
    root_yaw_velocity = np.arcsin(np.clip(yaw_step[:, 2], -1.0, 1.0))

    # 9. Rotation-invariant joint positions (get_rifke): xz relative to the root, then turned to face +z.
    relative = positions.copy()
    relative[..., [0, 2]] -= positions[:, :1, [0, 2]]
    relative = _qrot(root_rotation[:, None], relative)

    # 10. Joint velocities in the facing frame of the *earlier* frame (reference: r_rot[:-1]).
    joint_velocity = _qrot(root_rotation[:-1, None], positions[1:] - positions[:-1])  # (T-1, 22, 3)

    steps = len(positions) - 1
    features = np.concatenate(
        [
            root_yaw_velocity[:, None],
            root_velocity[:, [0, 2]],
            relative[:-1, 0, 1:2],  # root height
            relative[:-1, 1:].reshape(steps, -1),
            cont6d[:-1, 1:].reshape(steps, -1),
            joint_velocity.reshape(steps, -1),
            feet_left,
            feet_right,
        ],
        axis=-1,
    )
    return features.astype(np.float32)


def recover_from_ric(features: np.ndarray, joints_num: int = HUMANML3D_NUM_JOINTS) -> np.ndarray:
    """Joint positions from features, as the reference ``recover_from_ric`` (root at the origin facing +z at frame 0).

    features: (..., T, 12 * joints_num - 1), e.g. (T, 263). Returns (..., T, joints_num, 3) float32, metres.
    Root yaw and xz are integrated from the velocities of the *previous* rows; heights and joint offsets come from
    the same row.
    """
    features = np.asarray(features)
    expected = 12 * joints_num - 1
    if features.ndim < 2 or features.shape[-1] != expected:
        raise MotionDataError(f"features: expected shape (..., T, {expected}), got {features.shape}")
    features = features.astype(np.float64)

    yaw = np.zeros(features.shape[:-1])
    yaw[..., 1:] = features[..., :-1, 0]
    yaw = np.cumsum(yaw, axis=-1)
    # Inverse of the per-frame root rotation (cos a, 0, sin a, 0): the half-angle convention of the features.
    inverse_root = np.stack([np.cos(yaw), np.zeros_like(yaw), -np.sin(yaw), np.zeros_like(yaw)], axis=-1)

    root_step = np.zeros(features.shape[:-1] + (3,))
    root_step[..., 1:, 0] = features[..., :-1, 1]
    root_step[..., 1:, 2] = features[..., :-1, 2]
    root = np.cumsum(_qrot(inverse_root, root_step), axis=-2)
    root[..., 1] = features[..., 3]

    local = features[..., 4 : 4 + (joints_num - 1) * 3].reshape(features.shape[:-1] + (joints_num - 1, 3))
    others = _qrot(inverse_root[..., None, :], local)
    others[..., 0] += root[..., None, 0]
    others[..., 2] += root[..., None, 2]
    return np.concatenate([root[..., None, :], others], axis=-2).astype(np.float32)


def resample(
    stamps_s: np.ndarray,
    values: np.ndarray,
    fps: float = HUMANML3D_FPS,
    *,
    start_s: float | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Linear interpolation of a variable-rate stream onto a uniform grid.

    stamps_s: (N,) seconds, strictly increasing. values: (N, ...) floats.
    The grid is start_s + k / fps (start_s defaults to stamps_s[0] and must lie within the stamps), up to the last
    stamp. Returns (grid (K,) seconds, values (K, ...) float64). Not for rotations: interpolate those on the sphere.
    """
    stamps = np.asarray(stamps_s, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if stamps.ndim != 1 or len(stamps) == 0 or values.shape[:1] != stamps.shape:
        raise MotionDataError(f"resample: need stamps (N,) and values (N, ...), got {stamps.shape} and {values.shape}")
    if not np.all(np.isfinite(stamps)) or np.any(np.diff(stamps) <= 0):
        raise MotionDataError("resample: stamps must be finite and strictly increasing")
    start = stamps[0] if start_s is None else float(start_s)
    tolerance = 1e-9
    if not stamps[0] - tolerance <= start <= stamps[-1] + tolerance:
        raise MotionDataError(f"resample: start {start} is outside the stamps [{stamps[0]}, {stamps[-1]}]")

    count = int(math.floor((stamps[-1] - start) * fps + 1e-6)) + 1
    grid = start + np.arange(count) / fps
    if len(stamps) == 1:
        return grid, values[:1].copy()
    left = np.clip(np.searchsorted(stamps, grid, side="right") - 1, 0, len(stamps) - 2)
    weight = (grid - stamps[left]) / (stamps[left + 1] - stamps[left])
    weight = np.clip(weight, 0.0, 1.0).reshape((-1,) + (1,) * (values.ndim - 1))
    return grid, values[left] + weight * (values[left + 1] - values[left])


@dataclass(frozen=True)
class MotionSegment:
    stamps_s: np.ndarray  # (T,) seconds, data time, uniform at the buffer's fps
    joints: np.ndarray  # (T, 22, 3) metres, y-up


class SegmentBuffer:
    """Joints of the current tracked segment, resampled to 20 fps, for features recomputed on every window.

    Frames arrive at any rate. A gap longer than ``max_gap_s`` (tracking loss), or a jump back in time larger than
    that (a bag replay looping), starts a new segment. Older frames beyond ``max_seconds`` are dropped. The 20 fps
    grid is anchored at the segment's first stamp so sliding the window does not shift the samples.
    """

    def __init__(
        self,
        *,
        max_gap_s: float = 0.5,
        max_seconds: float = 9.8,  # 196 frames, HumanML3D's longest clip and T2M-GPT's maximum motion length
        fps: float = HUMANML3D_FPS,
        feet_threshold: float = FEET_THRESHOLD,
        facing_smoothing_sigma: float = FACING_SMOOTHING_SIGMA,
    ):
        if max_gap_s <= 0 or max_seconds <= 0 or fps <= 0:
            raise ValueError("max_gap_s, max_seconds and fps must be positive")
        self.max_gap_s = max_gap_s
        self.max_frames = max(2, int(round(max_seconds * fps)))
        self.fps = fps
        self.feet_threshold = feet_threshold
        self.facing_smoothing_sigma = facing_smoothing_sigma
        self.restarts = 0  # segments ended by a gap or a jump back in time
        self.skipped: Counter[str] = Counter()  # frames not taken, by reason
        self._segment_start: float | None = None
        self._stamps: list[float] = []
        self._joints: list[np.ndarray] = []

    def clear(self) -> None:
        self._segment_start = None
        self._stamps.clear()
        self._joints.clear()

    def push(self, stamp_s: float, joints: np.ndarray) -> bool:
        """Add one frame; (22, 3) metres, y-up. Returns False when the frame was skipped (counted in ``skipped``)."""
        joints = np.asarray(joints, dtype=np.float64)
        if joints.shape != (HUMANML3D_NUM_JOINTS, 3):
            raise MotionDataError(f"push: expected joints of shape ({HUMANML3D_NUM_JOINTS}, 3), got {joints.shape}")
        if not math.isfinite(stamp_s) or not np.all(np.isfinite(joints)):
            self.skipped["non_finite"] += 1
            return False
        if self._stamps:
            step = stamp_s - self._stamps[-1]
            if step > self.max_gap_s or step < -self.max_gap_s:
                self.restarts += 1
                self.clear()
            elif step <= 0:
                self.skipped["not_after_previous"] += 1
                return False
        if self._segment_start is None:
            self._segment_start = stamp_s
        self._stamps.append(stamp_s)
        self._joints.append(joints)
        self._drop_unneeded()
        return True

    def _first_grid_stamp(self) -> float:
        """Oldest grid point kept: the newest ``max_frames`` points of the grid anchored at the segment start."""
        assert self._segment_start is not None
        last_index = math.floor((self._stamps[-1] - self._segment_start) * self.fps + 1e-6)
        return self._segment_start + max(0, last_index - self.max_frames + 1) / self.fps

    def _drop_unneeded(self) -> None:
        """Forget raw frames older than the one just before the first grid point (still needed to interpolate)."""
        first = self._first_grid_stamp()
        keep_from = 0
        while keep_from + 1 < len(self._stamps) and self._stamps[keep_from + 1] <= first + 1e-9:
            keep_from += 1
        del self._stamps[:keep_from]
        del self._joints[:keep_from]

    def segment(self) -> MotionSegment | None:
        """The current segment at ``fps``, or None before the first frame."""
        if not self._stamps:
            return None
        stamps, joints = resample(
            np.array(self._stamps), np.stack(self._joints), self.fps, start_s=self._first_grid_stamp()
        )
        return MotionSegment(stamps_s=stamps, joints=joints)

    def features(self) -> np.ndarray | None:
        """Raw (unnormalised) features (T-1, 263) of the current segment; row i describes grid frame i.

        None until the segment spans at least 2 grid frames. Recomputed over the whole segment each call, since
        the reference is not causal (see the module docstring).
        """
        segment = self.segment()
        if segment is None or len(segment.stamps_s) < 2:
            return None
        return compute_features(
            segment.joints,
            feet_threshold=self.feet_threshold,
            facing_smoothing_sigma=self.facing_smoothing_sigma,
        )


@dataclass(frozen=True)
class Normalizer:
    """Feature standardisation with dataset statistics.

    HumanML3D's ``Mean.npy``/``Std.npy`` or, for the T2M-GPT VQ-VAE that MotionLLM uses, the evaluator's
    ``t2m_mean.npy``/``t2m_std.npy`` (a different, down-weighted std on the root and contact dims).
    """

    mean: np.ndarray  # (263,) float32
    std: np.ndarray  # (263,) float32, all > 0

    def __post_init__(self) -> None:
        for name in ("mean", "std"):
            value = np.asarray(getattr(self, name))
            if value.shape != (HUMANML3D_FEATURE_DIM,):
                raise MotionDataError(
                    f"normalizer {name}: expected shape ({HUMANML3D_FEATURE_DIM},), got {value.shape}"
                )
            if not np.all(np.isfinite(value)):
                raise MotionDataError(f"normalizer {name}: contains non-finite values")
            object.__setattr__(self, name, value.astype(np.float32))
        if np.any(self.std <= 0):
            raise MotionDataError(f"normalizer std: entries {np.flatnonzero(self.std <= 0).tolist()} are not positive")

    @classmethod
    def from_files(cls, mean_path: str | Path, std_path: str | Path) -> Normalizer:
        return cls(mean=_load_statistic(Path(mean_path)), std=_load_statistic(Path(std_path)))

    def normalize(self, features: np.ndarray) -> np.ndarray:
        """(..., 263) raw -> standardised."""
        return (self._check(features) - self.mean) / self.std

    def denormalize(self, features: np.ndarray) -> np.ndarray:
        """(..., 263) standardised -> raw."""
        return self._check(features) * self.std + self.mean

    @staticmethod
    def _check(features: np.ndarray) -> np.ndarray:
        features = np.asarray(features)
        if features.ndim < 1 or features.shape[-1] != HUMANML3D_FEATURE_DIM:
            raise MotionDataError(f"features: expected last dimension {HUMANML3D_FEATURE_DIM}, got {features.shape}")
        return features


def _load_statistic(path: Path) -> np.ndarray:
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: feature statistics not found (HumanML3D Mean.npy/Std.npy, or t2m_mean.npy/t2m_std.npy "
            "from the T2M-GPT evaluator checkpoints)"
        )
    try:
        value = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise MotionDataError(f"{path}: not a readable .npy array ({error})") from error
    if value.shape != (HUMANML3D_FEATURE_DIM,):
        raise MotionDataError(f"{path}: expected shape ({HUMANML3D_FEATURE_DIM},), got {value.shape}")
    return value


def tracked_segments(stamps_s: np.ndarray, valid: np.ndarray, max_gap_s: float = 0.5,
                     track_id: np.ndarray | None = None) -> list[slice]:
    """Runs of valid frames of one track with no gap longer than ``max_gap_s``, as slices into the (T,) arrays.

    The offline counterpart of `SegmentBuffer`'s restart rule: a pose track is one motion only while it is seen.
    A slice can contain invalid frames shorter than the gap (brief dropouts): use only its valid frames, and
    interpolate across the rest.
    """
    stamps = np.asarray(stamps_s, dtype=np.float64)
    valid = np.asarray(valid, dtype=bool)
    if stamps.ndim != 1 or valid.shape != stamps.shape:
        raise MotionDataError(f"tracked_segments: need stamps (T,) and valid (T,), got {stamps.shape}, {valid.shape}")
    segments: list[slice] = []
    start = None
    last = None
    for i in range(len(stamps)):
        if not valid[i]:
            continue
        new_track = track_id is not None and track_id[i] != track_id[last if last is not None else i]
        if start is None or stamps[i] - stamps[last] > max_gap_s or new_track:
            if start is not None:
                segments.append(slice(start, last + 1))
            start = i
        last = i
    if start is not None:
        segments.append(slice(start, last + 1))
    return segments
