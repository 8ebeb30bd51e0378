"""The camera's orientation from TF, for `camera.ego_motion: tf`: the rotation of the image's optical frame (x right,
y down, z ahead) in `camera.fixed_frame` at an image stamp, which perception uses instead of estimating the camera's
motion from the image.

tf2_ros is part of every ROS 2 installation but not of the PyPI wheels: there `ego_motion: tf` fails configure with
that reason. The lookup itself has therefore not run in this project's CI; the rotation algebra is tested.
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

LOOKUP_TIMEOUT_S = 0.05  # per image, on the engine's perception worker: a late transform means "unknown"
# A camera body frame (REP 103: x ahead, y left, z up) -> its optical frame (x right, y down, z ahead).
BODY_FROM_OPTICAL = np.array([[0.0, 0.0, 1.0], [-1.0, 0.0, 0.0], [0.0, -1.0, 0.0]])


def rotation_from_quaternion(x: float, y: float, z: float, w: float) -> np.ndarray:
    """(3, 3) rotation matrix of a unit quaternion (geometry_msgs/Quaternion order x, y, z, w)."""
    norm = np.sqrt(x * x + y * y + z * z + w * w)
    x, y, z, w = x / norm, y / norm, z / norm, w / norm
    return np.array([[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
                     [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
                     [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def optical_orientation(fixed_from_frame: np.ndarray, frame_id: str) -> np.ndarray:
    """The optical frame's rotation in the fixed frame, from the rotation of the image's frame `frame_id`: a frame
    named *_optical_frame (REP 103) is optical already; any other is taken as the camera's body frame."""
    return fixed_from_frame if frame_id.endswith("optical_frame") else fixed_from_frame @ BODY_FROM_OPTICAL


def tf_camera_orientation(node: Any, fixed_frame: str,
                          frame_id: Callable[[], str]) -> Callable[[float], np.ndarray | None]:
    """camera_orientation(stamp) for perception: looks up `frame_id()` (the images' frame) in `fixed_frame` at the
    stamp through a TF listener on `node`; None when the transform is not available. Raises ImportError without
    tf2_ros."""
    import tf2_ros
    from rclpy.duration import Duration
    from rclpy.time import Time

    buffer = tf2_ros.Buffer()
    node._tf_listener = tf2_ros.TransformListener(buffer, node)  # kept alive with the node

    def orientation(stamp: float) -> np.ndarray | None:
        frame = frame_id()
        try:
            transform = buffer.lookup_transform(fixed_frame, frame, Time(nanoseconds=int(stamp * 1e9)),
                                                timeout=Duration(nanoseconds=int(LOOKUP_TIMEOUT_S * 1e9)))
        except Exception:  # tf2's LookupException, ExtrapolationException, ...: the camera's motion is unknown
            return None
        q = transform.transform.rotation
        return optical_orientation(rotation_from_quaternion(q.x, q.y, q.z, q.w), frame)

    return orientation
