"""Online SMPL fit: per frame, the SMPL joint rotations that best explain observed 3D points.

Observation model
    Each observed point is a point of the body rigidly attached to one joint's frame: a joint position (SMPL
    joints as targets) or a MediaPipe landmark (`MEDIAPIPE_MARKERS`: where on the body each landmark sits,
    relative to an SMPL joint, in the rest pose). MediaPipe's landmarks are not all SMPL joints: its hips move
    with the pelvis (not with the thighs, as SMPL's hip joints would), its heel and toe are points of the
    ankle's frame, its nose, eyes and ears points of the head's.

Solver
    Levenberg-Marquardt over the root translation and the rotation of every joint that moves some observed
    point. Rotations are updated on the manifold, R <- R Exp(delta), so the Jacobian has the closed form of a
    kinematic chain: a point p below joint a moves by (G_a delta) x (p - p_a), G_a the joint's world rotation.
    It is vectorised over points and joints (one small dense normal-equation system per iteration, about 57
    unknowns) and warm-started from the previous frame; the first frame, and any frame where the warm start
    lands in a poor minimum, start from a closed-form estimate (a Kabsch alignment per joint, root to leaves).

Priors
    MediaPipe cannot see some degrees of freedom; weak quadratic priors choose among the poses that explain the
    landmarks equally well. The torso's lean is shared equally by the pelvis tilt and the three spine joints
    (the same sigma on the pelvis' deviation from upright and on each spine rotation), the collars stay near
    rest, the neck and head share the head's turn equally, the knees bend like hinges, and every joint carries
    a very weak pull towards the rest pose that only settles what nothing observes (the twist of a straight
    limb). With all 22 joints observed only the last two apply.

Shape
    Body shape (betas) is calibrated once, over the first `calibration_frames` good frames, then frozen for the
    track: one Levenberg-Marquardt problem over the betas (Gaussian prior) and the poses of all those frames
    together, since alternating between them converges slowly. Posed points are linear in betas for fixed
    rotations, which gives the pose-betas Jacobian in closed form; each step eliminates the frames' poses and
    solves the small betas system left (a Schur complement). Until then the mean shape is used.

Temporal filter
    A One-Euro filter (`filters.py`) smooths the observed points before the fit, not the fitted output: filtering
    points is plain Euclidean filtering (axis-angle outputs wrap and flip), the output joints stay consistent
    with the output pose parameters, and the warm start follows the smoothed targets.

Frames
    MediaPipe world landmarks: metres, origin at the hip centre, x right, y down, z away from the camera. They
    are turned 180 degrees about x (a proper rotation: y up, z towards the camera, so a person facing the
    camera faces +z as SMPL's rest pose does) and then by the camera pitch, so that y is against gravity. The
    heading stays the camera's. Output joints are relative to the pelvis; `transl` places them in the target
    frame exactly as SMPL's transl does.
"""

from __future__ import annotations

import copy
import enum
import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from .filters import OneEuroFilter, OneEuroParams
from .skeleton import HUMANML3D_NUM_JOINTS, SMPL_PARENTS
from .smpl import (
    NUM_BETAS,
    SmplModel,
    axis_angle_to_matrix,
    default_smpl_model,
    matrix_to_axis_angle,
    skew,
)

MEDIAPIPE_NUM_LANDMARKS = 33
_NUM_FIT_JOINTS = HUMANML3D_NUM_JOINTS  # the hands (22, 23) move no observed point and stay at rest
_PARENTS = np.array(SMPL_PARENTS[:_NUM_FIT_JOINTS])
_TORSO_JOINTS = frozenset({0, 1, 2, 3, 6, 9, 12, 13, 14, 16, 17})  # what the root's initial alignment looks at
_KNEES = (4, 5)  # hinges flexing about their local x axis


@dataclass(frozen=True)
class Marker:
    """One observed body point: `joint`'s position plus `offset` turned by `frame`'s rotation."""

    landmark: int  # MediaPipe landmark index
    joint: int  # SMPL joint the point is placed from
    frame: int  # SMPL joint whose rotation carries the offset: `joint` itself or its parent
    offset: tuple[float, float, float]  # metres, rest pose (y up, facing +z, body's left = +x)


# Where MediaPipe's landmarks sit on an SMPL body. Joint-like landmarks (shoulders, elbows, wrists, knees, ankles)
# are taken at the joint centre, the hips too (at the hip joint centres, but carried by the pelvis). The face and
# foot offsets are of adult size and were adjusted on MediaPipe world landmarks of the shared demo clips (about
# 370 frames of dribble_single_person, hug_two_people and basketball_gym): after the fit, the mean difference
# between landmark and model point, in the joint's frame, is below 1 cm for every face and foot landmark (it was
# 2-3 cm for the ears, heels and toes with anatomical guesses). Differences in proportions (MediaPipe's bodies
# come out smaller than HumanML3D's skeleton) are left to the shape calibration.
MEDIAPIPE_MARKERS: tuple[Marker, ...] = (
    Marker(0, 15, 15, (0.0, 0.045, 0.10)),  # nose
    Marker(2, 15, 15, (0.02, 0.075, 0.08)),  # left eye
    Marker(5, 15, 15, (-0.02, 0.075, 0.08)),  # right eye
    Marker(7, 15, 15, (0.066, 0.035, -0.01)),  # left ear
    Marker(8, 15, 15, (-0.066, 0.035, -0.01)),  # right ear
    Marker(11, 16, 16, (0.0, 0.0, 0.0)),  # left shoulder
    Marker(12, 17, 17, (0.0, 0.0, 0.0)),  # right shoulder
    Marker(13, 18, 18, (0.0, 0.0, 0.0)),  # left elbow
    Marker(14, 19, 19, (0.0, 0.0, 0.0)),  # right elbow
    Marker(15, 20, 20, (0.0, 0.0, 0.0)),  # left wrist
    Marker(16, 21, 21, (0.0, 0.0, 0.0)),  # right wrist
    Marker(23, 1, 0, (0.0, 0.0, 0.0)),  # left hip: moves with the pelvis, not the thigh
    Marker(24, 2, 0, (0.0, 0.0, 0.0)),  # right hip
    Marker(25, 4, 4, (0.0, 0.0, 0.0)),  # left knee
    Marker(26, 5, 5, (0.0, 0.0, 0.0)),  # right knee
    Marker(27, 7, 7, (0.0, 0.0, 0.0)),  # left ankle
    Marker(28, 8, 8, (0.0, 0.0, 0.0)),  # right ankle
    Marker(29, 7, 7, (0.0, -0.04, 0.0)),  # left heel
    Marker(30, 8, 8, (0.0, -0.04, 0.0)),  # right heel
    Marker(31, 7, 7, (0.0, -0.06, 0.10)),  # left foot index (toe)
    Marker(32, 8, 8, (0.0, -0.06, 0.10)),  # right foot index
)
_TORSO_LANDMARKS = (11, 12, 23, 24)


@dataclass(frozen=True)
class FitterParams:
    """Tunables of `SmplFitter`. Sigmas weigh the terms of the cost against each other: each term is
    (error / sigma)^2, so a prior with sigma 0.3 rad costs as much at 0.3 rad as a landmark 2 cm off."""

    camera_pitch: float = 0.0  # radians the camera looks down (negative: up); levels the output with gravity
    min_visibility: float = 0.5  # landmarks less visible than this are not used
    min_landmarks: int = 8  # fewer usable landmarks (of the 21 modelled) -> no fit; 3 of the 4 torso ones needed
    landmark_sigma: float = 0.02  # metres, expected landmark error
    pose_sigma: float = 10.0  # radians, the weak pull of every joint towards rest
    torso_sigma: float = 0.3  # radians, pelvis deviation from upright and each spine joint's rotation
    collar_sigma: float = 0.15  # radians, collar rotations
    neck_sigma: float = 0.3  # radians, neck and head rotations
    hinge_sigma: float = 0.2  # radians, knee rotation off its flexion axis: the knee is a hinge, and its twist
    # trades off against the ankle's, which the heel and toe barely tell apart
    max_iterations: int = 30  # Levenberg-Marquardt iterations per attempt
    tolerance: float = 1e-4  # metres: stop when a step moves no joint and no point further than this ...
    cost_tolerance: float = 0.01  # ... or when the next step is predicted to lower the cost by less than this
    # fraction (what ends fits to noisy points, whose last steps crawl along poorly modelled directions)
    reinit_residual: float = 0.05  # metres RMS: a warm-started fit worse than this, and than twice the track's
    # usual residual, is retried from scratch (a noisy track would otherwise pay for a retry on every frame)
    max_residual: float = 0.08  # metres RMS: a fit worse than this is reported invalid
    calibration_frames: int = 30  # good frames used to calibrate the body shape; 0 keeps the mean shape
    beta_sigma: float = 1.0  # prior on each beta (SMPL's betas are in standard deviations)
    filter: OneEuroParams | None = field(default_factory=OneEuroParams)  # on the observed points; None = off

    def __post_init__(self) -> None:
        positive = (
            "landmark_sigma",
            "pose_sigma",
            "torso_sigma",
            "collar_sigma",
            "neck_sigma",
            "hinge_sigma",
            "tolerance",
            "cost_tolerance",
            "reinit_residual",
            "max_residual",
            "beta_sigma",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"FitterParams.{name} must be > 0, got {getattr(self, name)}")
        if not 0.0 <= self.min_visibility <= 1.0:
            raise ValueError(f"FitterParams.min_visibility must be in [0, 1], got {self.min_visibility}")
        if self.max_iterations < 1 or self.min_landmarks < 1 or self.calibration_frames < 0:
            raise ValueError("FitterParams: max_iterations and min_landmarks must be >= 1, calibration_frames >= 0")
        if not math.isfinite(self.camera_pitch):
            raise ValueError(f"FitterParams.camera_pitch must be finite, got {self.camera_pitch}")


class FitFailure(str, enum.Enum):
    """Why a frame has no fit. The fitter's warm start and filter stay as the last good frame left them."""

    BAD_INPUT = "bad_input"  # wrong shapes, non-numeric data or a non-finite stamp
    TOO_FEW_LANDMARKS = "too_few_landmarks"  # missing, NaN or barely visible landmarks
    POOR_FIT = "poor_fit"  # the best fit is still further than max_residual from the observations


@dataclass(frozen=True)
class SmplFit:
    """The fit of one frame. When `valid` is False the arrays are NaN (betas excepted) and `reason` says why."""

    stamp: float  # seconds, data time of the observation
    valid: bool
    reason: FitFailure | None  # None when valid
    global_orient: np.ndarray  # (3,) axis-angle radians: pelvis rotation in the gravity-aligned frame
    body_pose: np.ndarray  # (69,) axis-angle radians of joints 1..23 relative to their parents (hands 0)
    betas: np.ndarray  # (10,) body shape in use (calibrated, or the mean shape until calibration)
    transl: np.ndarray  # (3,) metres, SMPL transl: pelvis position in the target frame minus the rest pelvis
    joints: np.ndarray  # (22, 3) metres, y up, relative to the pelvis (joints[0] == 0)
    residual: float  # metres, RMS distance between the fitted and the observed points used
    iterations: int  # Levenberg-Marquardt iterations spent on this frame


# ----------------------------------------------------------------------------------------------------------------
# Frames


def _camera_to_gravity(camera_pitch: float) -> np.ndarray:
    """(3, 3) rotation from MediaPipe world axes (x right, y down, z away) to y-up, gravity-aligned axes."""
    flip = np.diag([1.0, -1.0, -1.0])  # 180 degrees about x: y up, z towards the camera
    c, s = math.cos(camera_pitch), math.sin(camera_pitch)
    # The camera's forward axis (-z after the flip) points camera_pitch below the horizon: undo that tilt.
    level = np.array([[1.0, 0.0, 0.0], [0.0, c, s], [0.0, -s, c]])
    return level @ flip


def mediapipe_to_smpl_frame(points: np.ndarray, camera_pitch: float = 0.0) -> np.ndarray:
    """(..., 3) MediaPipe world coordinates -> (..., 3) y-up gravity-aligned coordinates (same origin)."""
    return np.asarray(points, dtype=np.float64) @ _camera_to_gravity(camera_pitch).T


def smpl_to_mediapipe_frame(points: np.ndarray, camera_pitch: float = 0.0) -> np.ndarray:
    """Inverse of `mediapipe_to_smpl_frame`."""
    return np.asarray(points, dtype=np.float64) @ _camera_to_gravity(camera_pitch)


def _float_array(value: object, shape: tuple[int, ...]) -> np.ndarray | None:
    """`value` as a float64 array of exactly this shape, or None when it is not one."""
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return array if array.shape == shape else None


def _is_time(stamp: object) -> bool:
    return isinstance(stamp, numbers.Real) and math.isfinite(stamp)


# ----------------------------------------------------------------------------------------------------------------
# Kinematics of the 22-joint body


def _levels() -> list[tuple[np.ndarray, np.ndarray]]:
    """(joints, their parents) grouped by depth in the tree: forward kinematics runs one vectorised step per
    depth instead of one per joint."""
    depth = np.zeros(_NUM_FIT_JOINTS, dtype=int)
    for j in range(1, _NUM_FIT_JOINTS):
        depth[j] = depth[_PARENTS[j]] + 1
    levels = [np.flatnonzero(depth == d) for d in range(1, depth.max() + 1)]
    return [(level, _PARENTS[level]) for level in levels]


_LEVELS = _levels()


def _subtree_mask() -> np.ndarray:
    """(22, 22) bool: [a, j] is True when joint j is a or one of its descendants."""
    mask = np.eye(_NUM_FIT_JOINTS, dtype=bool)
    for j in range(1, _NUM_FIT_JOINTS):  # parents precede children, so a parent's row is complete first
        mask[:, j] |= mask[:, _PARENTS[j]]
    return mask


_SUBTREE = _subtree_mask()


@dataclass(frozen=True)
class _Skeleton:
    """The rest skeleton of one body shape."""

    root: np.ndarray  # (3,) metres, rest pelvis position
    level_bones: tuple[np.ndarray, ...]  # per depth level: (n, 3, 1) metres, rest joint minus rest parent
    joint_shapedirs: np.ndarray  # (22, 3, n_betas) metres per unit beta of each rest joint

    @classmethod
    def of(cls, model: SmplModel, betas: np.ndarray | None) -> _Skeleton:
        rest = model.rest_joints(betas)[:_NUM_FIT_JOINTS]
        bones = tuple((rest[level] - rest[parent])[:, :, None] for level, parent in _LEVELS)
        return cls(root=rest[0], level_bones=bones, joint_shapedirs=model.joint_shapedirs[:_NUM_FIT_JOINTS])


def _forward(rotations: np.ndarray, transl: np.ndarray, skeleton: _Skeleton) -> tuple[np.ndarray, np.ndarray]:
    """Local rotations (22, 3, 3) -> world rotations (22, 3, 3) and joint positions (22, 3)."""
    world = np.empty_like(rotations)
    joints = np.empty((_NUM_FIT_JOINTS, 3))
    world[0] = rotations[0]
    joints[0] = skeleton.root + transl
    for (level, parent), bones in zip(_LEVELS, skeleton.level_bones):
        parent_world = world[parent]
        world[level] = parent_world @ rotations[level]
        joints[level] = joints[parent] + (parent_world @ bones)[:, :, 0]
    return world, joints


@dataclass(frozen=True, eq=False)
class _Observation:
    """What the observed points are, and everything about the problem that follows from that alone."""

    joints: np.ndarray  # (K,) joint each point is placed from
    frames: np.ndarray  # (K,) joint whose rotation carries each point's offset
    offsets: np.ndarray  # (K, 3) metres, rest-pose offsets
    joint_sigma: np.ndarray  # (22,) radians, prior sigma of each joint's rotation
    upright_sigma: float | None  # radians, prior on the pelvis' deviation from upright; None = no such prior
    hinge_sigma: float  # radians, prior on the knees' rotation components off their flexion (x) axis
    active: np.ndarray = field(init=False)  # (A,) joints whose rotation moves some point, root first
    moves: np.ndarray = field(init=False)  # (K, A) bool: point k moves when active joint a rotates
    init_points: tuple[np.ndarray, ...] = field(init=False)  # per active joint: points its initial rotation aligns
    prior_rows: np.ndarray = field(init=False)  # (9 (A-1),) Hessian entries of the non-root joints' 3x3 blocks
    prior_columns: np.ndarray = field(init=False)
    hinge_index: np.ndarray = field(init=False)  # (H,) positions of the knees in `active`

    def __post_init__(self) -> None:
        has_offset = np.any(self.offsets != 0, axis=1)
        # A point moves with the rotation of every strict ancestor of its joint (the frame is the joint or its
        # parent), and with its frame's rotation when it has an offset.
        joint_ids = np.arange(_NUM_FIT_JOINTS)[:, None]
        ancestor_of_joint = _SUBTREE[:, self.joints] & (joint_ids != self.joints)
        carries_offset = (joint_ids == self.frames) & has_offset
        moves_all = (ancestor_of_joint | carries_offset).T  # (K, 22)
        active = np.flatnonzero(moves_all.any(axis=0))
        if active.size == 0 or active[0] != 0:
            raise ValueError("observation model: the observed points must depend on the root rotation")
        object.__setattr__(self, "active", active)
        object.__setattr__(self, "moves", moves_all[:, active])
        object.__setattr__(self, "init_points", tuple(self._nearest_points(a) for a in active))
        first = 6 + 3 * np.arange(active.size - 1)  # unknowns: transl, root, then the other active joints
        rows = first[:, None, None] + np.arange(3)[None, :, None] + np.zeros(3, dtype=int)
        object.__setattr__(self, "prior_rows", rows.reshape(-1))
        object.__setattr__(self, "prior_columns", np.swapaxes(rows, 1, 2).reshape(-1))
        object.__setattr__(self, "hinge_index", np.flatnonzero(np.isin(active, _KNEES)))

    def _nearest_points(self, joint: int) -> np.ndarray:
        """Points that the rotation of `joint` should align on its own at initialisation: those carried by it
        directly, or placed from a descendant with no other observed joint on the way (for the root, only the
        torso's)."""
        observed_joints = set(self.joints.tolist())
        chosen = []
        for k, (placed_from, frame) in enumerate(zip(self.joints, self.frames)):
            if joint == 0 and placed_from not in _TORSO_JOINTS:
                continue
            if frame == joint and np.any(self.offsets[k] != 0):
                chosen.append(k)
                continue
            if placed_from == joint or not _SUBTREE[joint, placed_from]:
                continue
            between = _PARENTS[placed_from]
            while between != joint and between not in observed_joints:
                between = _PARENTS[between]
            if between == joint:
                chosen.append(k)
        return np.array(chosen, dtype=int)

    def points(self, world: np.ndarray, joints: np.ndarray) -> np.ndarray:
        """(K, 3) metres: observed points of a posed skeleton."""
        return joints[self.joints] + np.einsum("kab,kb->ka", world[self.frames], self.offsets)


def _joint_sigma(params: FitterParams, mediapipe: bool) -> np.ndarray:
    sigma = np.full(_NUM_FIT_JOINTS, params.pose_sigma)
    if mediapipe:
        sigma[[3, 6, 9]] = params.torso_sigma
        sigma[[13, 14]] = params.collar_sigma
        sigma[[12, 15]] = params.neck_sigma
    return sigma


def _mediapipe_observation(params: FitterParams) -> _Observation:
    return _Observation(
        joints=np.array([m.joint for m in MEDIAPIPE_MARKERS]),
        frames=np.array([m.frame for m in MEDIAPIPE_MARKERS]),
        offsets=np.array([m.offset for m in MEDIAPIPE_MARKERS], dtype=np.float64),
        joint_sigma=_joint_sigma(params, mediapipe=True),
        upright_sigma=params.torso_sigma,
        hinge_sigma=params.hinge_sigma,
    )


def _joint_observation(params: FitterParams) -> _Observation:
    return _Observation(
        joints=np.arange(_NUM_FIT_JOINTS),
        frames=np.arange(_NUM_FIT_JOINTS),
        offsets=np.zeros((_NUM_FIT_JOINTS, 3)),
        joint_sigma=_joint_sigma(params, mediapipe=False),
        upright_sigma=None,
        hinge_sigma=params.hinge_sigma,
    )


def _prior_hessian(rotvec: np.ndarray) -> np.ndarray:
    """(..., 3) -> (..., 3, 3): Hessian of |log(R Exp(d))|^2 / 2 in d at d = 0, for R = Exp(rotvec).

    Its gradient there is rotvec itself; the Hessian is the symmetric part of the inverse right Jacobian of SO(3),
    I + c [r]x^2 with c = 1/t^2 - (1 + cos t) / (2 t sin t): eigenvalue 1 along the axis and (t/2) cot(t/2)
    across it, positive up to t = pi.
    """
    theta2 = np.sum(rotvec * rotvec, axis=-1)[..., None, None]
    theta = np.sqrt(theta2)
    small = theta2 < 1e-6
    safe = np.where(small, 1.0, theta)
    coefficient = np.where(
        small, 1.0 / 12.0 + theta2 / 720.0, 1.0 / (safe * safe) - (1.0 + np.cos(safe)) / (2.0 * safe * np.sin(safe))
    )
    k = skew(rotvec)
    return np.eye(3) + coefficient * (k @ k)


def _inverse_right_jacobian(rotvec: np.ndarray) -> np.ndarray:
    """(..., 3) -> (..., 3, 3): d log(Exp(r) Exp(d)) / d d at d = 0, i.e. I + [r]x / 2 + c [r]x^2 (c as above)."""
    return _prior_hessian(rotvec) + 0.5 * skew(rotvec)


def _kabsch(source: np.ndarray, target: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Rotation Q minimising sum w |Q source - target|^2; with too few points, the smallest such rotation."""
    covariance = np.einsum("k,ka,kb->ab", weights, target, source)
    scale = float(np.sum(weights * np.linalg.norm(source, axis=1) * np.linalg.norm(target, axis=1)))
    covariance += 1e-4 * scale * np.eye(3)  # breaks ties towards no rotation (one point leaves a twist free)
    u, _, vt = np.linalg.svd(covariance)
    d = np.sign(np.linalg.det(u @ vt)) or 1.0
    return u @ np.diag([1.0, 1.0, d]) @ vt


# ----------------------------------------------------------------------------------------------------------------
# The fitter


@dataclass
class _Solution:
    rotations: np.ndarray  # (22, 3, 3) local rotations
    transl: np.ndarray  # (3,) metres


@dataclass
class _Frame:
    """A fitted frame kept for the shape calibration."""

    targets: np.ndarray  # (K, 3) metres
    weights: np.ndarray  # (K,)
    observation: _Observation
    solution: _Solution


class SmplFitter:
    """Streams frames of observed points into SMPL poses; one instance follows one person (`reset` between).

    `betas` (10,) is the shape in use and `calibrated` says whether it is final. The frame that completes the
    calibration also runs it (tens of milliseconds, once per track); every other frame costs a warm-started fit.
    Not thread-safe: one worker calls it.
    """

    def __init__(self, model: SmplModel | None = None, params: FitterParams | None = None) -> None:
        self.model = model or default_smpl_model()
        if self.model.num_betas < NUM_BETAS:
            raise ValueError(f"the SMPL model {self.model.source} has {self.model.num_betas} betas, need {NUM_BETAS}")
        self.params = params or FitterParams()
        self._mediapipe = _mediapipe_observation(self.params)
        self._joint_targets = _joint_observation(self.params)
        self._landmark_index = np.array([m.landmark for m in MEDIAPIPE_MARKERS])
        self.reset()

    def reset(self) -> None:
        """Forget the person: warm start, filter state and calibrated shape."""
        self.betas = np.zeros(NUM_BETAS)
        self.calibrated = self.params.calibration_frames == 0
        self._skeleton = _Skeleton.of(self.model, self.betas)
        self._warm: _Solution | None = None
        self._usual_residual = 0.0  # metres, running mean of the residual of good frames
        self._filter = OneEuroFilter(self.params.filter) if self.params.filter else None
        self._calibration: list[_Frame] = []

    # -- public entry points ------------------------------------------------------------------------------------

    def fit_mediapipe(self, stamp: float, world_landmarks: np.ndarray, visibility: np.ndarray) -> SmplFit:
        """Fit one frame of MediaPipe world landmarks (33, 3) with visibility (33,) at data time `stamp` s.
        Never raises on bad input: the result is invalid with the reason."""
        landmarks = _float_array(world_landmarks, (MEDIAPIPE_NUM_LANDMARKS, 3))
        visible = _float_array(visibility, (MEDIAPIPE_NUM_LANDMARKS,))
        if landmarks is None or visible is None or not _is_time(stamp):
            return self._failure(stamp, FitFailure.BAD_INPUT)
        visible = np.where(np.isfinite(visible), visible, 0.0)
        usable = (visible >= self.params.min_visibility) & np.all(np.isfinite(landmarks), axis=1)
        torso_seen = int(np.sum(usable[list(_TORSO_LANDMARKS)]))
        used = usable[self._landmark_index]
        if torso_seen < 3 or int(np.sum(used)) < self.params.min_landmarks:
            return self._failure(stamp, FitFailure.TOO_FEW_LANDMARKS)
        targets = mediapipe_to_smpl_frame(landmarks[self._landmark_index], self.params.camera_pitch)
        weights = np.where(used, visible[self._landmark_index], 0.0)
        return self._fit(stamp, targets, weights, self._mediapipe)

    def fit_joints(self, stamp: float, joints: np.ndarray, weights: np.ndarray | None = None) -> SmplFit:
        """Fit one frame of SMPL/HumanML3D joint positions (22, 3), metres, y up; `weights` (22,) in [0, 1]
        (default 1), 0 or NaN rows are ignored. Never raises on bad input."""
        targets = _float_array(joints, (_NUM_FIT_JOINTS, 3))
        weight = np.ones(_NUM_FIT_JOINTS) if weights is None else _float_array(weights, (_NUM_FIT_JOINTS,))
        if targets is None or weight is None or not _is_time(stamp):
            return self._failure(stamp, FitFailure.BAD_INPUT)
        weight = np.where(np.isfinite(weight) & np.all(np.isfinite(targets), axis=1), np.clip(weight, 0, 1), 0.0)
        if int(np.sum(weight > 0)) < self.params.min_landmarks:
            return self._failure(stamp, FitFailure.TOO_FEW_LANDMARKS)
        return self._fit(stamp, targets, weight, self._joint_targets)

    # -- one frame ----------------------------------------------------------------------------------------------

    def _fit(self, stamp: float, targets: np.ndarray, weights: np.ndarray, observation: _Observation) -> SmplFit:
        used = weights > 0
        filter_before = copy.deepcopy(self._filter)  # a frame that fails must not leave a trace in the filter
        if self._filter is not None:
            targets = self._filter(stamp, targets, used)
        targets = np.where(used[:, None], targets, 0.0)  # unused rows carry zero weight; keep them finite
        iterations = 0
        attempts = []
        if self._warm is not None:
            solution, system, iterations = self._solve(self._warm, targets, weights, observation, self._skeleton)
            attempts.append((system, solution))
        if not attempts or attempts[0][0].rms > max(self.params.reinit_residual, 2.0 * self._usual_residual):
            start = self._initial_solution(targets, weights, observation, self._skeleton)
            solution, system, spent = self._solve(start, targets, weights, observation, self._skeleton)
            iterations += spent
            attempts.append((system, solution))
        system, solution = min(attempts, key=lambda attempt: attempt[0].cost)
        if system.rms > self.params.max_residual:
            self._filter = filter_before
            return self._failure(stamp, FitFailure.POOR_FIT, system.rms, iterations)
        self._warm = solution
        self._usual_residual += 0.2 * (system.rms - self._usual_residual)
        if not self.calibrated:
            self._calibration.append(_Frame(targets, weights, observation, solution))
            if len(self._calibration) >= self.params.calibration_frames:
                solution, system = self._calibrate_shape()
        return self._result(stamp, solution, system, iterations)

    def _result(self, stamp: float, solution: _Solution, system: _System, iterations: int) -> SmplFit:
        joints = system.positions[:_NUM_FIT_JOINTS]
        pose = np.zeros((24, 3))
        pose[:_NUM_FIT_JOINTS] = matrix_to_axis_angle(solution.rotations)
        return SmplFit(
            stamp=float(stamp),
            valid=True,
            reason=None,
            global_orient=pose[0],
            body_pose=pose[1:].reshape(-1),
            betas=self.betas.copy(),
            transl=solution.transl.copy(),
            joints=joints - joints[0],
            residual=system.rms,
            iterations=iterations,
        )

    def _failure(self, stamp: float, reason: FitFailure, residual: float = math.nan, iterations: int = 0) -> SmplFit:
        return SmplFit(
            stamp=float(stamp) if isinstance(stamp, numbers.Real) else math.nan,
            valid=False,
            reason=reason,
            global_orient=np.full(3, np.nan),
            body_pose=np.full(69, np.nan),
            betas=self.betas.copy(),
            transl=np.full(3, np.nan),
            joints=np.full((_NUM_FIT_JOINTS, 3), np.nan),
            residual=residual,
            iterations=iterations,
        )

    # -- solver -------------------------------------------------------------------------------------------------

    def _normal_equations(
        self,
        solution: _Solution,
        targets: np.ndarray,
        weights: np.ndarray,
        observation: _Observation,
        skeleton: _Skeleton,
        with_shape: bool = False,
    ) -> _System:
        """The linearised problem of one frame around `solution`. Unknowns: transl (3), then 3 per active joint;
        with `with_shape` also the coupling to the betas (posed points are linear in betas)."""
        active = observation.active
        world, joints = _forward(solution.rotations, solution.transl, skeleton)
        points = observation.points(world, joints)
        scale = np.sqrt(weights) / self.params.landmark_sigma  # (K,)
        residual = ((points - targets) * scale[:, None]).reshape(-1)  # (3K,)
        # d point / d (local rotation update of joint a) = -[point - joint_a]x world_a: the update turns the
        # subtree by world_a @ delta about the joint.
        lever = points[:, None, :] - joints[active][None, :, :]  # (K, A, 3)
        jacobian = -(skew(lever) @ world[active])  # (K, A, xyz, component)
        jacobian *= (observation.moves * scale[:, None])[:, :, None, None]
        k, a = observation.moves.shape
        data = np.empty((k, 3, 3 + 3 * a))
        data[:, :, :3] = np.eye(3) * scale[:, None, None]  # d point / d transl
        data[:, :, 3:] = jacobian.transpose(0, 2, 1, 3).reshape(k, 3, 3 * a)
        data = data.reshape(3 * k, -1)
        used = weights > 0
        system = _System(
            rms=float(np.sqrt(np.mean(np.sum((points[used] - targets[used]) ** 2, axis=1)))),
            cost=float(residual @ residual),
            hessian=data.T @ data,
            gradient=data.T @ residual,
            positions=np.concatenate([joints, points]),
        )

        # Rotation priors (|log R_a| / sigma_a)^2, each touching only its own joint's three unknowns. Their exact
        # Hessian is used, not Gauss-Newton's: the priors keep sizeable residuals (they only settle what the
        # points leave free), where Gauss-Newton converges slowly.
        rotvec = matrix_to_axis_angle(solution.rotations[active[1:]])  # (A-1, 3)
        inverse_variance = 1.0 / observation.joint_sigma[active[1:]] ** 2
        blocks = _prior_hessian(rotvec) * inverse_variance[:, None, None]
        system.hessian[observation.prior_rows, observation.prior_columns] += blocks.reshape(-1)
        system.gradient[6:] += (rotvec * inverse_variance[:, None]).reshape(-1)
        system.cost += float(np.sum(rotvec**2 * inverse_variance[:, None]))
        if observation.hinge_index.size:
            # Knee rotation off the flexion axis, (y, z) of log R / sigma: small at the answer, so Gauss-Newton.
            knees = observation.hinge_index
            hinge_residual = rotvec[knees - 1, 1:] / observation.hinge_sigma  # (H, 2); rotvec omits the root
            hinge_jacobian = _inverse_right_jacobian(rotvec[knees - 1])[:, 1:, :] / observation.hinge_sigma
            for knee, r, j in zip(knees, hinge_residual, hinge_jacobian):
                columns = slice(3 + 3 * knee, 6 + 3 * knee)
                system.hessian[columns, columns] += j.T @ j
                system.gradient[columns] += j.T @ r
            system.cost += float(np.sum(hinge_residual**2))
        if observation.upright_sigma is not None:
            # World up seen from the pelvis, against the pelvis' own up axis: tilt and roll of the pelvis.
            up = world[0, 1, :]  # world[0].T @ e_y
            upright_residual = (up - np.array([0.0, 1.0, 0.0])) / observation.upright_sigma
            upright_jacobian = skew(up) / observation.upright_sigma
            system.hessian[3:6, 3:6] += upright_jacobian.T @ upright_jacobian
            system.gradient[3:6] += upright_jacobian.T @ upright_residual
            system.cost += float(upright_residual @ upright_residual)

        if with_shape:
            # With the rotations fixed, d joint_j / d betas = d joint_parent + world_parent @ d bone_j.
            bone_dirs = skeleton.joint_shapedirs - skeleton.joint_shapedirs[np.maximum(_PARENTS, 0)]
            derivative = np.empty_like(skeleton.joint_shapedirs)
            derivative[0] = skeleton.joint_shapedirs[0]
            for level, parent in _LEVELS:
                derivative[level] = derivative[parent] + world[parent] @ bone_dirs[level]
            shape = (derivative[observation.joints] * scale[:, None, None]).reshape(3 * k, -1)
            system.shape_cross = data.T @ shape
            system.shape_hessian = shape.T @ shape
            system.shape_gradient = shape.T @ residual
        return system

    def _solve(
        self,
        start: _Solution,
        targets: np.ndarray,
        weights: np.ndarray,
        observation: _Observation,
        skeleton: _Skeleton,
    ) -> tuple[_Solution, _System, int]:
        """Levenberg-Marquardt from `start`; returns the solution, its linearised problem and the iterations."""
        solution = start
        system = self._normal_equations(solution, targets, weights, observation, skeleton)
        damping = _Damping()
        iterations = 0
        while iterations < self.params.max_iterations and not damping.exhausted:
            step = -np.linalg.solve(damping.apply(system.hessian), system.gradient)
            if damping.value < 1.0 and _predicted_decrease(system, step) < self.params.cost_tolerance * system.cost:
                break  # a nearly undamped step that its own model says gains nothing: converged
            iterations += 1
            candidate = _apply_step(solution, step, observation.active)
            trial = self._normal_equations(candidate, targets, weights, observation, skeleton)
            if damping.update(system, trial, step):
                # Converged when the body no longer moves. Not on the cost alone: directions that move nothing
                # (a straight limb's twist) are settled by the weak priors only, where Gauss-Newton crawls.
                moved = float(np.max(np.abs(trial.positions - system.positions)))
                solution, system = candidate, trial
                if moved < self.params.tolerance:
                    break
        return solution, system, iterations

    def _initial_solution(
        self, targets: np.ndarray, weights: np.ndarray, observation: _Observation, skeleton: _Skeleton
    ) -> _Solution:
        """Closed-form start: from the rest pose, each active joint in turn (root first) rotates its subtree to
        align the points nearest below it with their targets (weighted Kabsch); the root also translates."""
        world, joints = _forward(np.tile(np.eye(3), (_NUM_FIT_JOINTS, 1, 1)), np.zeros(3), skeleton)
        points = observation.points(world, joints)
        for index, joint in enumerate(observation.active):
            chosen = observation.init_points[index]
            chosen = chosen[weights[chosen] > 0]
            if chosen.size == 0:
                continue
            w = weights[chosen]
            if joint == 0:  # the root also translates: align the weighted centroids
                source_centre = w @ points[chosen] / w.sum()
                target_centre = w @ targets[chosen] / w.sum()
                moved = np.ones(len(points), dtype=bool)
            else:
                source_centre = target_centre = joints[joint]
                moved = observation.moves[:, index]
            q = _kabsch(points[chosen] - source_centre, targets[chosen] - target_centre, w)
            below = _SUBTREE[joint]
            joints[below] = (joints[below] - source_centre) @ q.T + target_centre
            points[moved] = (points[moved] - source_centre) @ q.T + target_centre
            world[below] = q @ world[below]
        rotations = np.empty_like(world)
        rotations[0] = world[0]
        rotations[1:] = np.swapaxes(world[_PARENTS[1:]], 1, 2) @ world[1:]
        return _Solution(rotations, joints[0] - skeleton.root)

    # -- shape calibration --------------------------------------------------------------------------------------

    def _calibrate_shape(self) -> tuple[_Solution, _System]:
        """Fit betas and the poses of all stored frames together (Levenberg-Marquardt; the betas couple the
        frames, so each step solves the small betas system left after eliminating every frame's pose, a Schur
        complement), then freeze the shape. Returns the refitted solution of the newest frame and its problem."""
        frames = self._calibration
        prior = 1.0 / self.params.beta_sigma**2
        betas = self.betas.copy()
        systems = [
            self._normal_equations(f.solution, f.targets, f.weights, f.observation, self._skeleton, True)
            for f in frames
        ]
        cost = sum(s.cost for s in systems) + prior * float(betas @ betas)
        damping = _Damping()
        for _ in range(self.params.max_iterations):
            beta_hessian = sum(s.shape_hessian for s in systems) + prior * np.eye(NUM_BETAS)
            beta_gradient = sum(s.shape_gradient for s in systems) + prior * betas
            reduced, reduced_rhs = damping.apply(beta_hessian), -beta_gradient
            eliminated = []
            for s in systems:
                solved = np.linalg.solve(damping.apply(s.hessian), np.column_stack([s.gradient, s.shape_cross]))
                eliminated.append(solved)
                reduced -= s.shape_cross.T @ solved[:, 1:]
                reduced_rhs += s.shape_cross.T @ solved[:, 0]
            beta_step = np.linalg.solve(reduced, reduced_rhs)
            steps = [-(solved[:, 0] + solved[:, 1:] @ beta_step) for solved in eliminated]
            # The quadratic model of the whole problem: the frames' own terms, the betas' and their coupling.
            predicted = sum(
                _predicted_decrease(s, step) - 2 * step @ s.shape_cross @ beta_step for s, step in zip(systems, steps)
            )
            predicted -= 2 * beta_gradient @ beta_step + beta_step @ beta_hessian @ beta_step
            if damping.value < 1.0 and predicted < self.params.cost_tolerance * cost:
                break  # as in `_solve`: the model sees nothing left to gain
            candidate_betas = betas + beta_step
            skeleton = _Skeleton.of(self.model, candidate_betas)
            candidates = [_apply_step(f.solution, step, f.observation.active) for f, step in zip(frames, steps)]
            trials = [
                self._normal_equations(c, f.targets, f.weights, f.observation, skeleton, True)
                for c, f in zip(candidates, frames)
            ]
            trial_cost = sum(s.cost for s in trials) + prior * float(candidate_betas @ candidate_betas)
            if damping.accept_if_better(cost, trial_cost, predicted):
                moved = max(float(np.max(np.abs(t.positions - s.positions))) for t, s in zip(trials, systems))
                betas, cost, systems, self._skeleton = candidate_betas, trial_cost, trials, skeleton
                for frame, candidate in zip(frames, candidates):
                    frame.solution = candidate
                if moved < self.params.tolerance:
                    break
            elif damping.exhausted:
                break
        self.betas = betas
        self.calibrated = True
        self._warm = frames[-1].solution
        self._calibration = []
        return frames[-1].solution, systems[-1]


@dataclass
class _System:
    """One frame's problem linearised around a solution (Hessian and gradient of the cost in the unknowns)."""

    rms: float  # metres, RMS distance of the used points from their targets
    cost: float
    hessian: np.ndarray  # (n, n): n = 3 (transl) + 3 per active joint
    gradient: np.ndarray  # (n,)
    positions: np.ndarray  # (22 + K, 3) metres: posed joints and points, to see when the body stops moving
    shape_cross: np.ndarray | None = None  # (n, 10) pose-betas block of the Hessian
    shape_hessian: np.ndarray | None = None  # (10, 10) betas block (data only; the betas prior is added once)
    shape_gradient: np.ndarray | None = None  # (10,)


class _Damping:
    """Levenberg-Marquardt damping with Nielsen's update from the gain ratio (actual over predicted decrease of
    the cost): it shrinks smoothly while the quadratic model predicts well and grows fast when it does not."""

    def __init__(self) -> None:
        self.value = 1e-3
        self._growth = 2.0

    @property
    def exhausted(self) -> bool:
        return self.value > 1e8

    def apply(self, hessian: np.ndarray) -> np.ndarray:
        """The damped system matrix: the diagonal scaled by (1 + damping), floored for null directions."""
        diagonal = np.diag(hessian)
        return hessian + np.diag(self.value * (diagonal + 1e-9 * diagonal.max()))

    def update(self, before: _System, after: _System, step: np.ndarray) -> bool:
        """Adapt to a step of one frame's problem; True when the step is accepted."""
        return self.accept_if_better(before.cost, after.cost, _predicted_decrease(before, step))

    def accept_if_better(self, cost: float, new_cost: float, predicted: float) -> bool:
        gain = (cost - new_cost) / predicted if predicted > 0 else -1.0
        if gain > 0:
            self.value = max(self.value * max(1 / 3, 1 - (2 * gain - 1) ** 3), 1e-12)
            self._growth = 2.0
            return True
        self.value *= self._growth
        self._growth *= 2.0
        return False


def _predicted_decrease(system: _System, step: np.ndarray) -> float:
    """Decrease of the cost that the quadratic model |r + J step|^2 predicts for a step."""
    return float(-2 * system.gradient @ step - step @ system.hessian @ step)


def _apply_step(solution: _Solution, step: np.ndarray, active: np.ndarray) -> _Solution:
    """Move a solution by an LM step: transl += step[:3], R_a <- R_a Exp(step of a) for the active joints."""
    rotations = solution.rotations.copy()
    rotations[active] = rotations[active] @ axis_angle_to_matrix(step[3:].reshape(-1, 3))
    return _Solution(rotations, solution.transl + step[:3])


def synthesize_mediapipe_landmarks(
    model: SmplModel,
    betas: np.ndarray | None,
    global_orient: np.ndarray,
    body_pose: np.ndarray,
    camera_pitch: float = 0.0,
) -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe world landmarks (33, 3) and visibility (33,) that the observation model predicts for a pose.

    The forward direction of `SmplFitter.fit_mediapipe`, for simulation and tests: the modelled landmarks are
    placed on the posed body, centred on the midpoint of the two hip landmarks as MediaPipe centres its world
    landmarks, and turned into MediaPipe's axes; the 12 landmarks the model leaves out (mouth, inner and outer
    eye corners, fingers) are NaN with visibility 0.
    """
    pose = np.concatenate(
        [np.asarray(global_orient, dtype=np.float64).reshape(3), np.asarray(body_pose, dtype=np.float64).reshape(69)]
    )
    rotations = axis_angle_to_matrix(pose.reshape(24, 3)[:_NUM_FIT_JOINTS])
    skeleton = _Skeleton.of(model, betas)
    world, joints = _forward(rotations, np.zeros(3), skeleton)
    observation = _mediapipe_observation(FitterParams())
    points = observation.points(world, joints)
    hips = [i for i, m in enumerate(MEDIAPIPE_MARKERS) if m.landmark in (23, 24)]
    points -= points[hips].mean(axis=0)
    landmarks = np.full((MEDIAPIPE_NUM_LANDMARKS, 3), np.nan)
    visibility = np.zeros(MEDIAPIPE_NUM_LANDMARKS)
    index = [m.landmark for m in MEDIAPIPE_MARKERS]
    landmarks[index] = smpl_to_mediapipe_frame(points, camera_pitch)
    visibility[index] = 1.0
    return landmarks, visibility
