"""The rotation algebra of the TF camera orientation (motionllm_ros/ros/tf_orientation.py); the TF lookup itself
needs tf2_ros, which the PyPI wheels lack (the node then refuses camera.ego_motion tf at configure, tested there)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from motionllm_ros.ros.tf_orientation import BODY_FROM_OPTICAL, optical_orientation, rotation_from_quaternion


def test_quaternions_give_the_rotations_they_name():
    np.testing.assert_allclose(rotation_from_quaternion(0.0, 0.0, 0.0, 1.0), np.eye(3))
    half = math.radians(90.0) / 2  # 90 degrees about z: x -> y
    turn = rotation_from_quaternion(0.0, 0.0, math.sin(half), math.cos(half))
    np.testing.assert_allclose(turn @ [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], atol=1e-12)
    # Not normalised on the wire: the same rotation.
    np.testing.assert_allclose(rotation_from_quaternion(0.0, 0.0, 2 * math.sin(half), 2 * math.cos(half)), turn)
    assert np.linalg.det(turn) == pytest.approx(1.0)


def test_a_body_frame_is_turned_into_the_optical_one():
    # REP 103: the optical z (ahead) is the body's x, the optical x (right) is the body's -y, optical y (down) -z.
    np.testing.assert_allclose(BODY_FROM_OPTICAL @ [0.0, 0.0, 1.0], [1.0, 0.0, 0.0])
    np.testing.assert_allclose(BODY_FROM_OPTICAL @ [1.0, 0.0, 0.0], [0.0, -1.0, 0.0])
    np.testing.assert_allclose(BODY_FROM_OPTICAL @ [0.0, 1.0, 0.0], [0.0, 0.0, -1.0])
    np.testing.assert_allclose(optical_orientation(np.eye(3), "camera_color_optical_frame"), np.eye(3))
    np.testing.assert_allclose(optical_orientation(np.eye(3), "camera_link"), BODY_FROM_OPTICAL)
