"""The camera's own rotation, from the image: background points tracked from frame to frame.

A robot's head or a hand-held camera that pans or tilts moves the whole image; judged in the camera's frame, a
person standing still then walks and turns. The common case is a rotation (pan / tilt / roll) about the camera
centre: every background point's viewing ray turns by the same rotation, whatever its depth. So: corners outside
the target person's box are tracked (pyramidal Lucas-Kanade) into the next frame, their rays are back-projected
with the intrinsics, and the rotation between the two sets of rays is solved in closed form (Kabsch), twice, the
second time without the rays it explains worst (other people, things that move). Too few points, or rays that a
rotation does not explain (a camera that translates near a wall, a zoom), give no estimate: the caller then
falls back to "not estimated", never to a guess.

Frames: each step is returned in the perception output frame (x right, y up, z towards the viewer: MediaPipe's
camera axes turned 180 degrees about x, then the configured pitch) as a (3, 3) matrix taking a vector in the
current camera frame into the previous frame's camera frame; chained over a window (`chain_rotations`), they take
every frame into the camera frame of the window's first frame, which is fixed to the world.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from motionllm_ros.perception.camera import Intrinsics

# MediaPipe / OpenCV camera axes (x right, y down, z forward) -> the output frame (x right, y up, z backward).
_FLIP = np.diag([1.0, -1.0, -1.0])


@dataclass(frozen=True)
class EgoMotionParams:
    max_width: int = 320  # pixels: frames are downscaled to this width first (speed; flow is smooth)
    max_corners: int = 200  # background corners tracked per frame
    min_points: int = 12  # fewer tracked background points: no estimate
    person_margin: float = 0.05  # each person's box grown by this share of its size on each side is not
    # background. With everybody masked, 0.2 left too few corners in hug_two_people.mp4 (two men in a plain white
    # room: 31 of 72 frames unknown); 0.05 leaves enough (all 72), and the trimmed second solve drops the few
    # points on clothes or hair outside a box.
    max_residual_deg: float = 0.3  # median angle between rays after the rotation above which a rotation does not
    # explain the flow (translation near the camera, zoom, a moving background): no estimate
    trim_quantile: float = 0.7  # the second solve keeps this share of the rays, the best explained


def rotation_between(rays_from: np.ndarray, rays_to: np.ndarray) -> np.ndarray:
    """(3, 3) rotation R minimising sum |rays_to - R rays_from|^2 (Kabsch); rays (N, 3) unit vectors."""
    u, _, vt = np.linalg.svd(rays_from.T @ rays_to)
    d = np.sign(np.linalg.det(vt.T @ u.T))
    return vt.T @ np.diag([1.0, 1.0, d]) @ u.T


def chain_rotations(steps: list[np.ndarray | None]) -> np.ndarray | None:
    """Per-frame steps (current -> previous camera, (3, 3); the first is ignored) -> (T, 3, 3) camera -> first
    frame's camera; NaN from the first unknown step on. None when no step is given at all (estimation off)."""
    if not steps or any(step is None for step in steps):
        return None
    out = np.empty((len(steps), 3, 3))
    out[0] = np.eye(3)
    for k in range(1, len(steps)):
        out[k] = out[k - 1] @ steps[k]
    return out


def rotation_angle_deg(rotation: np.ndarray) -> float:
    """Angle of a (3, 3) rotation, degrees."""
    return float(np.degrees(np.arccos(np.clip((np.trace(rotation) - 1.0) / 2.0, -1.0, 1.0))))


class CameraRotationEstimator:
    """Feeds on consecutive frames; `update` returns the camera's rotation since the previous frame."""

    def __init__(self, params: EgoMotionParams = EgoMotionParams(), output_axes: np.ndarray = _FLIP):
        """output_axes (3, 3): takes camera-frame vectors (x right, y down, z ahead) into the output frame (the
        perception's, pitch included: see fitter.mediapipe_to_smpl_frame)."""
        self.params = params
        self.output_axes = output_axes
        self._previous: np.ndarray | None = None  # grey image (h, w) uint8, downscaled
        self._scale = 1.0

    def update(self, rgb: np.ndarray, intrinsics: Intrinsics, person_boxes: Sequence[np.ndarray] = ()
               ) -> np.ndarray | None:
        """rgb (H, W, 3) uint8; person_boxes: (4,) normalised x_min, y_min, x_max, y_max of each person in view
        (their motion is not the camera's, so they are masked out).
        Returns the (3, 3) rotation current camera -> previous camera in the output frame (the identity for a
        first frame), or a matrix of NaN when the background does not say how the camera moved."""
        import cv2

        p = self.params
        self._scale = min(1.0, p.max_width / rgb.shape[1])
        grey = cv2.cvtColor(cv2.resize(rgb, None, fx=self._scale, fy=self._scale, interpolation=cv2.INTER_AREA)
                            if self._scale < 1.0 else rgb, cv2.COLOR_RGB2GRAY)
        previous, self._previous = self._previous, grey
        if previous is None:
            return np.eye(3)
        if previous.shape != grey.shape:  # another image size: another camera, or another calibration
            return np.full((3, 3), np.nan)
        step = self._step(previous, grey, intrinsics, person_boxes)
        return np.full((3, 3), np.nan) if step is None else step

    def _step(self, previous: np.ndarray, grey: np.ndarray, intrinsics: Intrinsics,
              person_boxes: Sequence[np.ndarray]) -> np.ndarray | None:
        """Rotation taking the current camera frame into the previous one (output frame), or None."""
        import cv2

        p = self.params
        mask = np.full(previous.shape, 255, np.uint8)
        h, w = previous.shape
        for person_box in person_boxes:
            if not np.all(np.isfinite(person_box)):
                continue
            x0, y0, x1, y1 = person_box
            mx, my = (x1 - x0) * p.person_margin, (y1 - y0) * p.person_margin
            mask[max(0, int((y0 - my) * h)):max(0, int((y1 + my) * h)),
                 max(0, int((x0 - mx) * w)):max(0, int((x1 + mx) * w))] = 0
        corners = cv2.goodFeaturesToTrack(previous, p.max_corners, 0.01, 7, mask=mask)
        if corners is None or len(corners) < p.min_points:
            return None
        moved, status, _ = cv2.calcOpticalFlowPyrLK(previous, grey, corners, None)
        ok = status.reshape(-1) == 1
        if ok.sum() < p.min_points:
            return None
        rays_before = self._rays(corners.reshape(-1, 2)[ok], intrinsics)
        rays_now = self._rays(moved.reshape(-1, 2)[ok], intrinsics)
        rotation = rotation_between(rays_now, rays_before)
        error = np.linalg.norm(rays_before - rays_now @ rotation.T, axis=1)  # ~ radians
        keep = error <= np.quantile(error, p.trim_quantile)
        if keep.sum() < p.min_points:
            return None
        rotation = rotation_between(rays_now[keep], rays_before[keep])
        residual = np.degrees(np.median(np.linalg.norm(rays_before[keep] - rays_now[keep] @ rotation.T, axis=1)))
        if residual > p.max_residual_deg:
            return None
        return self.output_axes @ rotation @ self.output_axes.T  # the same rotation in the output frame

    def _rays(self, pixels: np.ndarray, k: Intrinsics) -> np.ndarray:
        """(N, 2) downscaled pixels -> (N, 3) unit viewing rays in the camera frame (x right, y down, z ahead)."""
        full = pixels / self._scale
        rays = np.stack([(full[:, 0] - k.cx) / k.fx, (full[:, 1] - k.cy) / k.fy, np.ones(len(full))], axis=1)
        return rays / np.linalg.norm(rays, axis=1, keepdims=True)
