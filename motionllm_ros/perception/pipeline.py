"""One camera frame -> the target person's SMPL pose and 22 joints in a gravity-aligned, camera-centred frame.

pose (MediaPipe, target tracking) -> where the hips are (2D + 3D landmarks + intrinsics) -> SMPL fit (local pose
against MediaPipe's metric world landmarks). The output frame: origin at the camera, y up (against gravity, given
the configured camera pitch), z towards the camera, x to the camera's right; HumanML3D features are computed from
these joints after resampling to 20 fps.

One pipeline follows one person; when the tracker gives a new track id the fitter is reset, so the new person gets
their own shape calibration and no warm start from somebody else.
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
from motionllm_ros.perception.pose import PoseEstimator, PoseParams
from motionllm_ros.perception.smpl import SmplModel


@dataclass(frozen=True)
class PerceptionParams:
    pose: PoseParams = field(default_factory=PoseParams)
    fitter: FitterParams = field(default_factory=FitterParams)
    hfov_deg: float | None = None  # camera's horizontal field of view when no intrinsics are given; None: default
    # The hip position comes from a 2D/3D least squares whose depth is noisier than the landmarks: smooth it too.
    translation_filter: OneEuroParams | None = field(default_factory=lambda: OneEuroParams(min_cutoff=1.0, beta=0.5))
    ego_motion: EgoMotionParams | None = field(default_factory=EgoMotionParams)  # None: camera motion not estimated


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
    )


@dataclass(frozen=True)
class PersonFrame:
    """What one frame says about the target person. `valid` False: `reason` says why, arrays are NaN."""

    stamp: float  # seconds, data time of the image
    valid: bool
    reason: str | None  # a NoTarget value, a FitFailure value or "no_translation"; None when valid
    track_id: int | None  # the tracker's id of the target person; None when nobody is followed
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
    camera_rotation: np.ndarray | None = None  # (3, 3) this frame's camera -> the previous frame's (output axes),
    # from the background of the image; NaN: the background did not say; None: estimation off


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
        self.fitter = SmplFitter(smpl_model, self.params.fitter)
        self.intrinsics = intrinsics  # None: derived from the first image's size and hfov_deg
        self.counters: Counter[str] = Counter()  # "valid" and every reason a frame had no result
        self._track_id: int | None = None
        self._hip_filter = OneEuroFilter(self.params.translation_filter) if self.params.translation_filter else None
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

    def process(self, rgb: np.ndarray, stamp: float) -> PersonFrame:
        """Never raises on bad frames: they come back invalid with a reason, and are counted."""
        seen = self.pose.process(rgb, stamp)
        target = seen.target
        rotation = None
        if self._orientation is not None:
            rotation = self._orientation_step(stamp)
        elif self._ego is not None and seen.width:
            rotation = self._ego.update(rgb, self._intrinsics_for(seen.width, seen.height),
                                        None if target is None else target.bbox)
        if rotation is not None:
            source = "tf" if self._orientation is not None else "image"
            self.ego_counters[f"{source}.{'known' if np.all(np.isfinite(rotation)) else 'unknown'}"] += 1
        if target is None:
            return self._invalid(stamp, seen.no_target.value, None, seen.num_people, rotation=rotation)
        if target.track_id != self._track_id:
            self._track_id = target.track_id
            self.fitter.reset()
            if self._hip_filter is not None:
                self._hip_filter.reset()
        intrinsics = self._intrinsics_for(seen.width, seen.height)
        pixels = target.image_landmarks[:, :2] * (seen.width, seen.height)
        try:
            hip_camera = estimate_translation(target.world_landmarks, pixels, target.visibility, intrinsics)
        except TranslationError:
            return self._invalid(stamp, "no_translation", target.track_id, seen.num_people, rotation=rotation)
        fit = self.fitter.fit_mediapipe(stamp, target.world_landmarks, target.visibility)
        if not fit.valid:
            return self._invalid(stamp, fit.reason.value, target.track_id, seen.num_people, fit, rotation)
        # The camera frame and MediaPipe's world frame share their axes (x right, y down, z away), so the same
        # rotation takes the hip centre into the output frame.
        hip = mediapipe_to_smpl_frame(hip_camera[None], self.fitter.params.camera_pitch)
        if self._hip_filter is not None:
            hip = self._hip_filter(stamp, hip)
        transl = fit.transl + hip[0]
        pelvis = self.fitter.model.rest_joints(fit.betas)[0] + transl
        self.counters["valid"] += 1
        joint_seen = np.ones(22, bool)
        threshold = self.fitter.params.min_visibility
        joint_seen[list(_FOREARM_JOINTS)] = target.visibility[list(_FOREARM_LANDMARKS)] >= threshold
        # Legs: in the picture, whether or not the other leg hides one (MediaPipe's presence, not its visibility,
        # which is low for a self-occluded knee): inside the image and present.
        legs = list(_LEG_LANDMARKS)
        inside = np.all((target.image_landmarks[legs, :2] >= 0.0) & (target.image_landmarks[legs, :2] <= 1.0), axis=1)
        present = target.presence[legs] >= threshold if target.presence is not None else True
        joint_seen[list(_LEG_JOINTS)] = inside & present
        return PersonFrame(stamp, True, None, target.track_id, seen.num_people, fit.global_orient, fit.body_pose,
                           fit.betas, transl, fit.joints + pelvis, fit.residual, joint_seen, rotation)

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

    def _invalid(self, stamp: float, reason: str, track_id: int | None, num_people: int,
                 fit: SmplFit | None = None, rotation: np.ndarray | None = None) -> PersonFrame:
        self.counters[reason] += 1
        betas = fit.betas if fit is not None else self.fitter.betas
        return PersonFrame(stamp, False, reason, track_id, num_people, _NAN3, np.full(69, np.nan), betas, _NAN3,
                           np.full((22, 3), np.nan), float("nan"), np.zeros(22, bool), rotation)


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
