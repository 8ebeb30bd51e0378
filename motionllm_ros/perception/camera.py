"""Pinhole camera intrinsics and the camera-frame position of a person from its 2D and 3D landmarks.

Camera axes follow the optical frame convention that MediaPipe's world landmarks also use: x right, y down,
z forward (away from the camera), metres.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# Horizontal field of view assumed when nothing is known about the camera. Robot RGB cameras mostly have 60-70
# deg (RealSense D435 colour 69, Orbbec Astra 60, Kinect v1 57, typical USB webcams 60-65); with 62 deg the
# focal length, and so the estimated depth of a person, is off by at most about 13 % across 57-69 deg.
DEFAULT_HFOV_DEG = 62.0


class CameraModelError(ValueError):
    """Intrinsics that cannot describe a real pinhole camera."""


class TranslationError(ValueError):
    """Too few or degenerate correspondences to place the person in the camera frame."""


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics of an undistorted image; pixel coordinates are continuous, (0, 0) the top-left corner
    of the top-left pixel (as MediaPipe's normalised landmarks times width / height)."""

    fx: float  # pixels
    fy: float  # pixels
    cx: float  # pixels
    cy: float  # pixels
    width: int  # pixels
    height: int  # pixels

    def __post_init__(self) -> None:
        if self.width <= 0 or self.height <= 0:
            raise CameraModelError(f"image size must be positive, got {self.width}x{self.height}")
        values = {"fx": self.fx, "fy": self.fy, "cx": self.cx, "cy": self.cy}
        if not all(math.isfinite(v) for v in values.values()):
            raise CameraModelError(f"intrinsics must be finite, got {values}")
        if self.fx <= 0 or self.fy <= 0:
            raise CameraModelError(f"focal lengths must be positive, got fx={self.fx}, fy={self.fy}")

    @classmethod
    def from_camera_info_k(cls, k: Sequence[float], width: int, height: int) -> Intrinsics:
        """From sensor_msgs/CameraInfo.k: the row-major 3x3 matrix [fx 0 cx; 0 fy cy; 0 0 1]."""
        values = np.asarray(k, dtype=np.float64).ravel()
        if values.shape != (9,):
            raise CameraModelError(f"CameraInfo.k must have 9 elements, got {values.size}")
        if values[0] == 0.0:
            # ROS convention (CameraInfo.msg): a zero fx means the camera is not calibrated.
            raise CameraModelError(
                "CameraInfo.k has fx = 0 (uncalibrated camera): calibrate it, or use Intrinsics.from_fov / "
                "Intrinsics.default"
            )
        return cls(
            fx=float(values[0]),
            fy=float(values[4]),
            cx=float(values[2]),
            cy=float(values[5]),
            width=int(width),
            height=int(height),
        )

    @classmethod
    def from_fov(cls, width: int, height: int, hfov_deg: float) -> Intrinsics:
        """Square pixels, principal point at the image centre, `hfov_deg` across the image width."""
        focal = _focal_from_fov(width, hfov_deg)
        return cls(fx=focal, fy=focal, cx=width / 2.0, cy=height / 2.0, width=int(width), height=int(height))

    @classmethod
    def default(cls, width: int, height: int) -> Intrinsics:
        """Guess for an unknown camera: DEFAULT_HFOV_DEG across the longer image side, because a portrait image
        (a phone video) is a landscape sensor turned on its side."""
        focal = _focal_from_fov(max(width, height), DEFAULT_HFOV_DEG)
        return cls(fx=focal, fy=focal, cx=width / 2.0, cy=height / 2.0, width=int(width), height=int(height))


def _focal_from_fov(extent_px: float, fov_deg: float) -> float:
    if not 0.0 < fov_deg < 180.0:
        raise CameraModelError(f"field of view must be in (0, 180) degrees, got {fov_deg}")
    return (extent_px / 2.0) / math.tan(math.radians(fov_deg) / 2.0)


def estimate_translation(
    world_landmarks: np.ndarray,
    image_xy_px: np.ndarray,
    weights: np.ndarray,
    intrinsics: Intrinsics,
    min_weight: float = 0.5,
) -> np.ndarray:
    """Camera-frame position t (3,) metres of the landmarks' origin (MediaPipe: the hip centre).

    world_landmarks: (K, 3) metres, camera axes, relative to the origin; image_xy_px: (K, 2) pixels;
    weights: (K,) confidence in [0, 1] (MediaPipe visibility). Points below `min_weight` or not finite are
    ignored, the rest weighted by their confidence.

    Projection u = fx (X + tx) / (Z + tz) + cx is linear in t after multiplying out the depth:
        tx - x' tz = x' Z - X   with x' = (u - cx) / fx   (likewise for y),
    so t is the closed-form weighted linear least-squares solution of 2 equations per point.
    """
    world = np.asarray(world_landmarks, dtype=np.float64)
    image = np.asarray(image_xy_px, dtype=np.float64)
    weight = np.asarray(weights, dtype=np.float64)
    if world.ndim != 2 or world.shape[1] != 3:
        raise TranslationError(f"world_landmarks must be (K, 3), got {world.shape}")
    if image.shape != (len(world), 2) or weight.shape != (len(world),):
        raise TranslationError(
            f"image_xy_px must be (K, 2) and weights (K,) with K={len(world)}, got {image.shape} and {weight.shape}"
        )
    usable = (
        np.isfinite(world).all(axis=1) & np.isfinite(image).all(axis=1) & np.isfinite(weight) & (weight >= min_weight)
    )
    if usable.sum() < 2:
        raise TranslationError(
            f"need at least 2 landmarks with weight >= {min_weight} to place the person, got {int(usable.sum())}"
        )
    world, image, weight = world[usable], image[usable], weight[usable]
    x_norm = (image[:, 0] - intrinsics.cx) / intrinsics.fx
    y_norm = (image[:, 1] - intrinsics.cy) / intrinsics.fy
    count = len(world)
    a = np.zeros((2 * count, 3))
    a[:count, 0] = 1.0
    a[:count, 2] = -x_norm
    a[count:, 1] = 1.0
    a[count:, 2] = -y_norm
    b = np.concatenate([x_norm * world[:, 2] - world[:, 0], y_norm * world[:, 2] - world[:, 1]])
    row_scale = np.sqrt(np.concatenate([weight, weight]))
    solution, _, rank, _ = np.linalg.lstsq(a * row_scale[:, None], b * row_scale, rcond=None)
    if rank < 3:
        raise TranslationError(f"the {count} usable landmarks do not determine the depth (all project to one ray)")
    return solution
