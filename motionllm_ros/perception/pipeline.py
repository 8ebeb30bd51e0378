"""One camera frame -> every tracked person's SMPL pose and 22 joints in one gravity-aligned, camera-centred frame.

pose (MediaPipe, a track per person) -> where each person's hips are (2D + 3D landmarks + intrinsics) -> SMPL fit
(local pose against MediaPipe's metric world landmarks), for at most `max_people` people per frame, nearest first.
The output frame: origin at the camera, y up (against gravity, given the configured camera pitch), z towards the
camera, x to the camera's right; HumanML3D features are computed from these joints after resampling to 20 fps.

Each track has its own fitter (shape calibration, warm start) and hip filter, created with the track and dropped
when it ends, so a new person never inherits somebody else's shape. Everybody shares the SMPL model.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from motionllm_ros.config import Config
from motionllm_ros.perception.camera import Intrinsics, TranslationError, estimate_translation
from motionllm_ros.perception.egomotion import CameraRotationEstimator, EgoMotionParams
from motionllm_ros.perception.filters import OneEuroFilter, OneEuroParams
from motionllm_ros.perception.fitter import FitterParams, SmplFit, SmplFitter, mediapipe_to_smpl_frame
from motionllm_ros.perception.pose import PoseEstimator, PoseParams, TrackedPose
from motionllm_ros.perception.smpl import SmplModel, default_smpl_model


@dataclass(frozen=True)
class PerceptionParams:
    pose: PoseParams = field(default_factory=PoseParams)
    fitter: FitterParams = field(default_factory=FitterParams)
    hfov_deg: float | None = None  # camera's horizontal field of view when no intrinsics are given; None: default
    # The hip position comes from a 2D/3D least squares whose depth is noisier than the landmarks: smooth it too.
    translation_filter: OneEuroParams | None = field(default_factory=lambda: OneEuroParams(min_cutoff=1.0, beta=0.5))
    ego_motion: EgoMotionParams | None = field(default_factory=EgoMotionParams)  # None: camera motion not estimated
    max_people: int = 3  # people fitted per frame, nearest (largest in the image) first; the others are tracked
    # and counted (over_cap), not fitted. A fit costs ~3.4 ms CPU, a fifth of the pose model's landmark pass for
    # that person, which num_poses bounds, not this (`motionllm bench people` on 2 EPYC cores)

    def __post_init__(self) -> None:
        if self.max_people < 1:
            raise ValueError(f"PerceptionParams.max_people must be >= 1, got {self.max_people}")


def perception_params(config: Config) -> PerceptionParams:
    """The parameters of every perception stage, from the one typed config."""
    pose, smpl = config.pose, config.smpl
    return PerceptionParams(
        pose=PoseParams(num_poses=pose.num_poses, min_detection_confidence=pose.min_detection_confidence,
                        min_presence_confidence=pose.min_presence_confidence,
                        min_tracking_confidence=pose.min_tracking_confidence, max_match_cost=pose.max_match_cost,
                        ambiguity_margin=pose.ambiguity_margin, lost_timeout_s=pose.lost_timeout_s),
        fitter=FitterParams(camera_pitch=math.radians(smpl.camera_pitch_deg), min_visibility=smpl.min_visibility,
                            calibration_frames=smpl.calibration_frames, max_residual=smpl.max_residual,
                            filter=OneEuroParams(min_cutoff=smpl.filter_min_cutoff, beta=smpl.filter_beta)
                            if smpl.filter else None),
        hfov_deg=config.camera.hfov_deg or None,
        ego_motion=EgoMotionParams(max_residual_deg=config.camera.ego_motion_max_residual_deg)
        if config.camera.ego_motion == "image" else None,
        max_people=pose.max_people,
    )


@dataclass(frozen=True)
class PersonFrame:
    """What one frame says about one tracked person. `valid` False: `reason` says why, arrays are NaN."""

    stamp: float  # seconds, data time of the image
    valid: bool
    reason: str | None  # a FitFailure value or "no_translation"; a NoTarget value when nobody was tracked; None
    # when valid
    track_id: int | None  # the tracker's id of the person; None when nobody was tracked in the frame
    num_people: int  # people MediaPipe saw in the frame
    global_orient: np.ndarray  # (3,) axis-angle radians, pelvis rotation in the output frame
    body_pose: np.ndarray  # (69,) axis-angle radians of joints 1..23 relative to their parents
    betas: np.ndarray  # (10,) body shape of the track
    transl: np.ndarray  # (3,) metres, SMPL transl in the output frame (pelvis = rest pelvis + transl)
    joints: np.ndarray  # (22, 3) metres, HumanML3D joints in the output frame
    residual: float  # metres RMS of the SMPL fit; NaN without a fit
    # (22,) bool: joints placed from their own landmarks. False for an elbow or wrist MediaPipe could not see: the
    # fit leaves such an arm at rest (straight), which judges of posture must not read as a pointing arm.
    joint_seen: np.ndarray = field(default_factory=lambda: np.zeros(22, bool))
    bbox: np.ndarray = field(default_factory=lambda: np.full(4, np.nan))  # (4,) x_min, y_min, x_max, y_max of
    # the person's landmarks, normalised to the image; NaN when nobody was tracked
    id_uncertain: bool = False  # the track may have changed person in a crossing (PeopleTracker)


@dataclass(frozen=True)
class SceneFrame:
    """What one frame says about everybody in view."""

    stamp: float  # seconds, data time of the image
    num_people: int  # people MediaPipe saw
    people: tuple[PersonFrame, ...]  # the tracked people fitted in this frame (valid or not), nearest first
    reason: str | None  # why `people` is empty (a NoTarget value); None when it is not
    camera_rotation: np.ndarray | None = None  # (3, 3) this frame's camera -> the previous frame's (output axes),
    # from the background of the image or TF; NaN: unknown; None: estimation off
    over_cap: int = 0  # people tracked but not fitted (beyond max_people)

    def person(self, track_id: int | None) -> PersonFrame | None:
        return next((p for p in self.people if p.track_id == track_id), None)


_NAN3 = np.full(3, np.nan)
# Forearm joints of SMPL (left elbow, left wrist, right elbow, right wrist) and the MediaPipe landmarks that place
# them: the parts of the body most often hidden (behind the torso, behind another person).
_FOREARM_JOINTS = (18, 20, 19, 21)
_FOREARM_LANDMARKS = (13, 15, 14, 16)
# Knees, ankles, feet (SMPL 4, 5, 7, 8, 10, 11) <- MediaPipe knees, ankles, foot tips: legs out of the picture are
# placed by the fitter's priors, and must not be read as a posture.
_LEG_JOINTS = (4, 5, 7, 8, 10, 11)
_LEG_LANDMARKS = (25, 26, 27, 28, 31, 32)
LOG = logging.getLogger("motionllm.perception")


class PerceptionPipeline:
    def __init__(self, pose_model: str | Path, smpl_model: SmplModel | None = None,
                 params: PerceptionParams | None = None, intrinsics: Intrinsics | None = None,
                 camera_orientation: Callable[[float], np.ndarray | None] | None = None):
        """camera_orientation(stamp) -> (3, 3) rotation of the camera's optical frame (x right, y down, z ahead)
        into a world-fixed frame at that image stamp, or None when unknown (on a robot: TF, camera frame -> odom);
        given, it replaces the image's estimate of the camera's motion."""
        self.params = params or PerceptionParams()
        self.pose = PoseEstimator(pose_model, self.params.pose)
        self.model = smpl_model or default_smpl_model()
        self.intrinsics = intrinsics  # None: derived from the first image's size and hfov_deg
        # per person and frame: "fitted" (a fit was tried), "valid" and every reason a fit failed, "over_cap" (not
        # fitted); per frame without anybody: its NoTarget value
        self.counters: Counter[str] = Counter()
        self._tracks: dict[int, _TrackState] = {}
        self._output_axes = mediapipe_to_smpl_frame(np.eye(3), self.params.fitter.camera_pitch).T  # optical -> out
        self._ego = (CameraRotationEstimator(self.params.ego_motion, self._output_axes)
                     if self.params.ego_motion is not None and camera_orientation is None else None)
        self._orientation = camera_orientation
        # Frames whose camera motion was known / unknown, by source ("image", "tf"): for /diagnostics.
        self.ego_counters: Counter[str] = Counter()
        self._previous_orientation: np.ndarray | None = None  # (3, 3) of the previous frame, optical -> fixed

    def close(self) -> None:
        self.pose.close()

    def __enter__(self) -> PerceptionPipeline:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def process(self, rgb: np.ndarray, stamp: float) -> SceneFrame:
        """Never raises on bad frames: they come back without people, with the reason, and are counted."""
        seen = self.pose.process(rgb, stamp)
        rotation = None
        if self._orientation is not None:
            rotation = self._orientation_step(stamp)
        elif self._ego is not None and seen.width:
            rotation = self._ego.update(rgb, self._intrinsics_for(seen.width, seen.height),
                                        [person.bbox for person in seen.people])
        if rotation is not None:
            source = "tf" if self._orientation is not None else "image"
            self.ego_counters[f"{source}.{'known' if np.all(np.isfinite(rotation)) else 'unknown'}"] += 1
        self._end_tracks(stamp)
        if not seen.people:
            self.counters[seen.no_target.value] += 1
            return SceneFrame(stamp, seen.num_people, (), seen.no_target.value, rotation)
        fitted = seen.people[:self.params.max_people]  # nearest first
        over_cap = len(seen.people) - len(fitted)
        self.counters["over_cap"] += over_cap
        people = tuple(self._fit(person, stamp, seen.width, seen.height, seen.num_people) for person in fitted)
        return SceneFrame(stamp, seen.num_people, people, None, rotation, over_cap)

    def _end_tracks(self, stamp: float) -> None:
        """Drops the state of tracks the pose tracker has ended (not seen for lost_timeout_s)."""
        timeout = self.params.pose.lost_timeout_s
        for track_id in [t for t, state in self._tracks.items() if not 0 <= stamp - state.last_stamp <= timeout]:
            del self._tracks[track_id]

    def _fit(self, person: TrackedPose, stamp: float, width: int, height: int, num_people: int) -> PersonFrame:
        self.counters["fitted"] += 1
        state = self._tracks.get(person.track_id)
        if state is None:
            state = self._tracks[person.track_id] = _TrackState(
                SmplFitter(self.model, self.params.fitter),
                OneEuroFilter(self.params.translation_filter) if self.params.translation_filter else None)
        state.last_stamp = stamp
        intrinsics = self._intrinsics_for(width, height)
        pixels = person.image_landmarks[:, :2] * (width, height)
        try:
            hip_camera = estimate_translation(person.world_landmarks, pixels, person.visibility, intrinsics)
        except TranslationError:
            return self._invalid(stamp, "no_translation", person, num_people, state.fitter)
        fit = state.fitter.fit_mediapipe(stamp, person.world_landmarks, person.visibility)
        if not fit.valid:
            return self._invalid(stamp, fit.reason.value, person, num_people, state.fitter, fit)
        # The camera frame and MediaPipe's world frame share their axes (x right, y down, z away), so the same
        # rotation takes the hip centre into the output frame.
        hip = mediapipe_to_smpl_frame(hip_camera[None], self.params.fitter.camera_pitch)
        if state.hip_filter is not None:
            hip = state.hip_filter(stamp, hip)
        transl = fit.transl + hip[0]
        pelvis = self.model.rest_joints(fit.betas)[0] + transl
        self.counters["valid"] += 1
        joint_seen = np.ones(22, bool)
        threshold = self.params.fitter.min_visibility
        joint_seen[list(_FOREARM_JOINTS)] = person.visibility[list(_FOREARM_LANDMARKS)] >= threshold
        # Legs: in the picture, whether or not the other leg hides one (MediaPipe's presence, not its visibility,
        # which is low for a self-occluded knee): inside the image and present.
        legs = list(_LEG_LANDMARKS)
        inside = np.all((person.image_landmarks[legs, :2] >= 0.0) & (person.image_landmarks[legs, :2] <= 1.0), axis=1)
        present = person.presence[legs] >= threshold if person.presence is not None else True
        joint_seen[list(_LEG_JOINTS)] = inside & present
        return PersonFrame(stamp, True, None, person.track_id, num_people, fit.global_orient, fit.body_pose,
                           fit.betas, transl, fit.joints + pelvis, fit.residual, joint_seen, person.bbox,
                           person.id_uncertain)

    def _orientation_step(self, stamp: float) -> np.ndarray:
        """This frame's camera -> the previous frame's (output axes) from camera_orientation; NaN when unknown."""
        orientation = self._orientation(stamp)
        previous, self._previous_orientation = self._previous_orientation, orientation
        if orientation is None:
            return np.full((3, 3), np.nan)
        if previous is None:
            return np.eye(3)
        return self._output_axes @ (previous.T @ orientation) @ self._output_axes.T

    def set_intrinsics(self, intrinsics: Intrinsics) -> None:
        """A camera calibration (camera_info) for the frames from now on; one assignment, so the perception worker
        sees the old or the new calibration, never a mix."""
        self.intrinsics = intrinsics

    def _intrinsics_for(self, width: int, height: int) -> Intrinsics:
        known = self.intrinsics
        if known is not None and (known.width, known.height) == (width, height):
            return known
        if known is not None:
            LOG.warning("camera intrinsics are for %dx%d images, this one is %dx%d: using the field of view instead",
                        known.width, known.height, width, height)
        if self.params.hfov_deg is not None:
            self.intrinsics = Intrinsics.from_fov(width, height, self.params.hfov_deg)
        else:
            self.intrinsics = Intrinsics.default(width, height)
        return self.intrinsics

    def _invalid(self, stamp: float, reason: str, person: TrackedPose, num_people: int, fitter: SmplFitter,
                 fit: SmplFit | None = None) -> PersonFrame:
        self.counters[reason] += 1
        return unfitted(stamp, reason, person.track_id, num_people, fit.betas if fit is not None else fitter.betas,
                        person.bbox, person.id_uncertain)


def unfitted(stamp: float, reason: str, track_id: int | None, num_people: int, betas: np.ndarray,
             bbox: np.ndarray | None = None, id_uncertain: bool = False) -> PersonFrame:
    """A PersonFrame without a fit (valid False, `reason` says why): poses, joints and residual NaN."""
    return PersonFrame(stamp, False, reason, track_id, num_people, _NAN3, np.full(69, np.nan), betas, _NAN3,
                       np.full((22, 3), np.nan), float("nan"), np.zeros(22, bool),
                       np.full(4, np.nan) if bbox is None else bbox, id_uncertain)


@dataclass
class _TrackState:
    """Per track: its own shape calibration and warm start, and its own smoothing of the hip position."""

    fitter: SmplFitter
    hip_filter: OneEuroFilter | None
    last_stamp: float = 0.0  # seconds, data time of its last frame


def with_final_shape(frames: list[PersonFrame], model: SmplModel) -> list[PersonFrame]:
    """Offline only: every valid frame of a track re-posed with the track's last (calibrated) body shape.

    Online, a track is fitted with the mean shape until its shape is calibrated, then with the calibrated one, so
    bone lengths change once. A recording is seen whole: keeping each frame's joint rotations and pelvis position
    and swapping in the final shape makes the bone lengths constant along the track.
    """
    final: dict[int | None, np.ndarray] = {f.track_id: f.betas for f in frames if f.valid}
    out = []
    for f in frames:
        betas = final.get(f.track_id)
        if not f.valid or betas is None or np.array_equal(f.betas, betas):
            out.append(f)
            continue
        pelvis = f.joints[0]
        transl = pelvis - model.rest_joints(betas)[0]
        joints = model.forward_kinematics(betas, f.global_orient, f.body_pose, transl).joints[:22]
        out.append(dataclasses.replace(f, betas=betas, transl=transl, joints=joints))
    return out
