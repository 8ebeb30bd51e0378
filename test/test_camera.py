"""Camera intrinsics and the closed-form placement of a person in the camera frame."""

from __future__ import annotations

import math

import numpy as np
import pytest

from motionllm_ros.perception.camera import (
    DEFAULT_HFOV_DEG,
    CameraModelError,
    Intrinsics,
    TranslationError,
    estimate_translation,
)

# A typical 640x480 CameraInfo.k (row-major), as published by a calibrated RGB camera driver.
CAMERA_INFO_K = [615.3, 0.0, 320.4, 0.0, 614.9, 241.7, 0.0, 0.0, 1.0]


def _project(points: np.ndarray, intrinsics: Intrinsics) -> np.ndarray:
    return np.stack(
        [
            intrinsics.fx * points[:, 0] / points[:, 2] + intrinsics.cx,
            intrinsics.fy * points[:, 1] / points[:, 2] + intrinsics.cy,
        ],
        axis=1,
    )


def _body(count: int = 33, seed: int = 0) -> np.ndarray:
    """Points spread like a standing person around the hip centre: metres, x right, y down, z away."""
    rng = np.random.default_rng(seed)
    return rng.uniform([-0.4, -0.9, -0.2], [0.4, 0.9, 0.2], size=(count, 3))


def test_from_camera_info_k_reads_row_major_matrix() -> None:
    intrinsics = Intrinsics.from_camera_info_k(CAMERA_INFO_K, 640, 480)
    assert (intrinsics.fx, intrinsics.fy, intrinsics.cx, intrinsics.cy) == (615.3, 614.9, 320.4, 241.7)
    assert (intrinsics.width, intrinsics.height) == (640, 480)


def test_from_camera_info_k_rejects_wrong_length_and_uncalibrated() -> None:
    with pytest.raises(CameraModelError, match="9 elements"):
        Intrinsics.from_camera_info_k(CAMERA_INFO_K[:8], 640, 480)
    with pytest.raises(CameraModelError, match="uncalibrated"):
        Intrinsics.from_camera_info_k([0.0] * 9, 640, 480)


def test_invalid_intrinsics_are_rejected() -> None:
    with pytest.raises(CameraModelError, match="focal"):
        Intrinsics(fx=-1.0, fy=500.0, cx=320.0, cy=240.0, width=640, height=480)
    with pytest.raises(CameraModelError, match="size"):
        Intrinsics(fx=500.0, fy=500.0, cx=320.0, cy=240.0, width=0, height=480)
    with pytest.raises(CameraModelError, match="field of view"):
        Intrinsics.from_fov(640, 480, 180.0)


def test_from_fov_matches_pinhole_definition() -> None:
    # At 90 deg the half-width subtends 45 deg, so the focal length equals half the width.
    intrinsics = Intrinsics.from_fov(640, 480, 90.0)
    assert intrinsics.fx == pytest.approx(320.0)
    assert intrinsics.fy == pytest.approx(320.0)
    assert (intrinsics.cx, intrinsics.cy) == (320.0, 240.0)


def test_default_applies_fov_to_the_longer_side() -> None:
    landscape = Intrinsics.default(1920, 1080)
    portrait = Intrinsics.default(1080, 1920)
    expected = 960.0 / math.tan(math.radians(DEFAULT_HFOV_DEG / 2))
    assert landscape.fx == pytest.approx(expected)
    assert portrait.fx == pytest.approx(expected)
    assert (portrait.cx, portrait.cy) == (540.0, 960.0)


def test_translation_round_trip() -> None:
    intrinsics = Intrinsics.from_camera_info_k(CAMERA_INFO_K, 640, 480)
    body = _body()
    truth = np.array([0.31, -0.22, 3.7])
    pixels = _project(body + truth, intrinsics)
    weights = np.linspace(0.5, 1.0, len(body))
    estimate = estimate_translation(body, pixels, weights, intrinsics)
    assert estimate.shape == (3,)
    np.testing.assert_allclose(estimate, truth, atol=1e-6)


def test_low_weight_and_non_finite_points_are_ignored() -> None:
    intrinsics = Intrinsics.default(1080, 1920)
    body = _body(seed=1)
    truth = np.array([-0.5, 0.1, 2.4])
    pixels = _project(body + truth, intrinsics)
    weights = np.ones(len(body))
    pixels[:5] += 300.0  # occluded landmarks guessed far off ...
    weights[:5] = 0.1  # ... with low visibility
    pixels[5] = np.nan
    body[6] = np.nan
    estimate = estimate_translation(body, pixels, weights, intrinsics)
    np.testing.assert_allclose(estimate, truth, atol=1e-6)


def test_two_points_are_enough_and_one_is_not() -> None:
    intrinsics = Intrinsics.from_fov(640, 480, 60.0)
    body = np.array([[0.0, -0.5, 0.0], [0.1, 0.5, 0.05]])
    truth = np.array([0.2, 0.0, 3.0])
    pixels = _project(body + truth, intrinsics)
    np.testing.assert_allclose(estimate_translation(body, pixels, np.ones(2), intrinsics), truth, atol=1e-6)
    with pytest.raises(TranslationError, match="at least 2"):
        estimate_translation(body, pixels, np.array([1.0, 0.2]), intrinsics)


def test_points_on_one_ray_are_degenerate() -> None:
    intrinsics = Intrinsics.from_fov(640, 480, 60.0)
    body = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 0.3]])
    pixels = np.array([[intrinsics.cx, intrinsics.cy]] * 2)
    with pytest.raises(TranslationError, match="depth"):
        estimate_translation(body, pixels, np.ones(2), intrinsics)


def test_shape_mismatch_is_a_clear_error() -> None:
    intrinsics = Intrinsics.from_fov(640, 480, 60.0)
    with pytest.raises(TranslationError, match=r"\(K, 3\)"):
        estimate_translation(np.zeros((5, 2)), np.zeros((5, 2)), np.ones(5), intrinsics)
    with pytest.raises(TranslationError, match="K=5"):
        estimate_translation(np.zeros((5, 3)), np.zeros((4, 2)), np.ones(5), intrinsics)
