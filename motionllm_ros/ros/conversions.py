"""ROS messages <-> plain Python for the node: images, stamps, and the messages the node publishes.

Nothing here imports rclpy or generated message modules: every builder takes the message classes as arguments,
so the tests can pass the classes of a rosbags typestore (same field names) and the node passes the rclpy ones.
Field values follow Humble's rules, the strict ones (its generated setters assert every field's type): float32 and
float64 fields get Python floats, integer fields Python ints, fixed-size numeric arrays numpy arrays of the exact
dtype and size, variable-size numeric arrays `array.array` of the matching typecode. Jazzy does not check fields at
all, so code that is right for Humble is right for both.
"""

from __future__ import annotations

import array
import logging
import math
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any, Callable, Sequence

import numpy as np

from motionllm_ros.engine import Description
from motionllm_ros.perception.fitter import smpl_to_mediapipe_frame
from motionllm_ros.perception.skeleton import HUMANML3D_PARENTS
from motionllm_ros.perception.smpl import axis_angle_to_matrix, matrix_to_axis_angle
from motionllm_ros.sources.images import compressed_to_rgb, image_to_rgb

LOG = logging.getLogger("motionllm.ros")

NANOSECONDS_PER_SECOND = 1_000_000_000
INT32_MAX = 2**31 - 1  # builtin_interfaces/Time.sec is int32


def camera_info_topic(image_topic: str) -> str:
    """image_transport's convention: camera_info in the namespace of the image topic
    (/camera/image_raw -> /camera/camera_info), whichever transport carries the images."""
    return str(PurePosixPath(image_topic).parent / "camera_info")


class ConversionError(ValueError):
    """A value cannot become a field of a ROS message; the text names the field."""


# ------------------------------------------------------------------------------------------------------ stamps
def stamp_to_seconds(stamp: Any) -> float:
    """builtin_interfaces/Time (sec, nanosec) -> seconds.

    A float64 holds today's epoch seconds to about 0.24 us: far below any camera's frame period, so data-time
    arithmetic (windows, strides, rates) may use plain floats.
    """
    return stamp.sec + stamp.nanosec * 1e-9


def seconds_to_time(seconds: float, time_type: type) -> Any:
    """Seconds -> `time_type(sec=..., nanosec=...)` (builtin_interfaces/Time, or any class with those fields)."""
    if not math.isfinite(seconds) or seconds < 0 or seconds > INT32_MAX:
        raise ConversionError(f"time {seconds!r} s cannot be a builtin_interfaces/Time (0 <= sec <= {INT32_MAX})")
    sec = math.floor(seconds)
    # seconds - sec is exact for floats (both are within a factor of 2 of each other or sec is 0).
    nanosec = round((seconds - sec) * NANOSECONDS_PER_SECOND)
    if nanosec == NANOSECONDS_PER_SECOND:  # 0.9999999997 rounds up to the next second
        sec, nanosec = sec + 1, 0
    return time_type(sec=int(sec), nanosec=int(nanosec))


def make_header(stamp: float, frame_id: str, *, header_type: type, time_type: type) -> Any:
    """std_msgs/Header from a data-time stamp in seconds and a frame id."""
    return header_type(stamp=seconds_to_time(stamp, time_type), frame_id=str(frame_id))


# ------------------------------------------------------------------------------------------------------ images
# Encodings (-> channels) for which cv_bridge's imgmsg_to_cv2(msg, "rgb8") yields exactly what sources/images.py
# yields (same cvtColor codes, no scaling). 16-bit images are not among them: cv_bridge scales by 255/65535 where we
# keep the top byte; YUV and Bayer go through numpy too, so every result has one definition.
CV_BRIDGE_CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}

# A 2x2 bgr8 picture whose channels all differ: cv_bridge is used only if it turns this into what numpy does.
_PROBE_BGR = bytes(range(10, 22))


class ImageConverter:
    """sensor_msgs/Image and CompressedImage -> (H, W, 3) uint8 RGB, through cv_bridge when it works, else numpy.

    Both paths give the same pixels and the same `BadFrame` reasons: cv_bridge only gets messages of the 8-bit
    encodings where its output is identical and whose layout is consistent (cv_bridge itself accepts a buffer
    longer than step x height, and an empty image); everything else, and whatever cv_bridge refuses, goes through
    `sources/images.py`, whose rules (shared with the rosbag2 reader) name what is wrong.

    cv_bridge is "working" when it imports AND converts a probe image correctly: under numpy 2 the distro's
    cv_bridge imports fine and fails at the first conversion (ros-perception/vision_opencv#535). The probe runs
    once, at the first raw image, so a node that never sees one pays nothing. Compressed images always go through
    `compressed_to_rgb`: cv_bridge would call the same cv2.imdecode, without the truncated-JPEG check.
    """

    def __init__(self, use_cv_bridge: bool = True, log: Callable[[str], None] = LOG.info):
        self._log = log  # the node passes its ROS logger's info, which takes one str
        self._bridge: Any = None
        # "cv_bridge" or "numpy"; None until the first raw image decides.
        self.backend: str | None = None if use_cv_bridge else "numpy"

    def image_to_rgb(self, msg: Any) -> np.ndarray:
        """sensor_msgs/Image -> (H, W, 3) uint8 RGB; raises BadFrame with the reason when the message is bad."""
        if self.backend is None:
            self.backend = self._probe_cv_bridge(msg)
        if self.backend == "cv_bridge" and _cv_bridge_can_take(msg):
            rgb = self._cv_bridge_rgb(msg)
            if rgb is not None:
                return rgb
        # numpy path; also the one that names what is wrong with a message cv_bridge refused.
        return image_to_rgb(msg.height, msg.width, msg.encoding, msg.is_bigendian, msg.step, msg.data)

    def compressed_to_rgb(self, msg: Any) -> np.ndarray:
        """sensor_msgs/CompressedImage (JPEG or PNG) -> (H, W, 3) uint8 RGB; raises BadFrame when bad."""
        return compressed_to_rgb(msg.format, msg.data)

    def _cv_bridge_rgb(self, msg: Any) -> np.ndarray | None:
        try:
            rgb = self._bridge.imgmsg_to_cv2(msg, desired_encoding="rgb8")
        except Exception:  # CvBridgeError (a TypeError), or numpy's "buffer is too small": the numpy path explains
            return None
        if rgb.shape != (msg.height, msg.width, 3) or rgb.dtype != np.uint8:
            return None
        return np.ascontiguousarray(rgb)

    def _probe_cv_bridge(self, msg: Any) -> str:
        # Built with the incoming message's own class (rclpy's, or a test's), every field given by keyword.
        probe = type(msg)(header=msg.header, height=2, width=2, encoding="bgr8", is_bigendian=0, step=6,
                          data=array.array("B", _PROBE_BGR))
        expected = image_to_rgb(2, 2, "bgr8", 0, 6, _PROBE_BGR)
        try:
            from cv_bridge import CvBridge

            bridge = CvBridge()
            got = bridge.imgmsg_to_cv2(probe, desired_encoding="rgb8")
            if not np.array_equal(np.asarray(got), expected):
                raise ValueError(f"probe image converted to {np.asarray(got).tolist()}, expected {expected.tolist()}")
        except Exception as error:  # ImportError, the numpy-2 ABI failure, or a wrong result: all mean "not working"
            self._log(f"image conversion with numpy (cv_bridge not usable: {type(error).__name__}: {error})")
            return "numpy"
        self._bridge = bridge
        self._log("image conversion with cv_bridge")
        return "cv_bridge"


def _cv_bridge_can_take(msg: Any) -> bool:
    channels = CV_BRIDGE_CHANNELS.get(msg.encoding)
    return (channels is not None and msg.height > 0 and msg.width > 0 and msg.step >= msg.width * channels
            and len(msg.data) == msg.step * msg.height)


# ------------------------------------------------------------------------------------------- published results
@dataclass(frozen=True)
class BehaviorResult:
    """What one track (or the whole scene) did during one window: the content of a BehaviorDescription."""

    track_id: int  # >= 0, or -1 (BehaviorDescription.TRACK_NONE) for the whole scene
    window_start: float  # s, data time: stamp of the first frame of the window
    window_end: float  # s, data time: stamp of the last frame (also the message's header stamp)
    num_frames: int  # >= 1, frames that went into the description
    description: str  # English, never empty
    labels: tuple[str, ...]  # lower_snake_case behaviour labels, highest score first
    scores: tuple[float, ...]  # one per label, in [0, 1]
    confidence: float  # trust in `description`, in [0, 1]; 0 = not estimated
    model_id: str  # checkpoint identifier, or "primitives" (BehaviorDescription.MODEL_ID_PRIMITIVES)
    frame_id: str  # camera frame of the source images
    label_spans: tuple[tuple[float, float], ...] = ()  # (start, end) s, data time, one per label; () = no spans
    ego_motion: str = "none"  # BehaviorDescription.EGO_MOTION_*: how camera motion was removed
    camera_rotation_deg: float = math.nan  # deg the camera turned during the window; NaN: not estimated
    label_partners: tuple[int, ...] = ()  # the other person's track id per label (interactions), -1 otherwise;
    # () = no interaction label
    track_id_uncertain: bool = False  # the track may have changed person within the window
    salience_rank: int = 0  # 0 = the most salient person of the window

    def __post_init__(self) -> None:
        if self.track_id < -1:
            raise ConversionError(f"BehaviorResult.track_id must be >= -1, got {self.track_id}")
        if not self.window_start <= self.window_end:
            raise ConversionError(f"BehaviorResult window_start {self.window_start} is after window_end "
                                  f"{self.window_end}")
        if self.num_frames < 1:
            raise ConversionError(f"BehaviorResult.num_frames must be >= 1, got {self.num_frames}")
        if not self.description:
            raise ConversionError("BehaviorResult.description must not be empty")
        if len(self.labels) != len(self.scores):
            raise ConversionError(f"BehaviorResult has {len(self.labels)} labels but {len(self.scores)} scores")
        for name, value in [("confidence", self.confidence), *(("scores", s) for s in self.scores)]:
            if not 0.0 <= value <= 1.0:
                raise ConversionError(f"BehaviorResult.{name} must be in [0, 1], got {value}")
        if self.label_spans and len(self.label_spans) != len(self.labels):
            raise ConversionError(f"BehaviorResult has {len(self.labels)} labels but {len(self.label_spans)} "
                                  f"label_spans")
        if not all(0.0 <= start <= end for start, end in self.label_spans):
            raise ConversionError(f"BehaviorResult.label_spans must be (start, end) with 0 <= start <= end, got "
                                  f"{self.label_spans}")
        if self.label_partners and len(self.label_partners) != len(self.labels):
            raise ConversionError(f"BehaviorResult has {len(self.labels)} labels but {len(self.label_partners)} "
                                  f"label_partners")
        if not 0 <= self.salience_rank <= 255:
            raise ConversionError(f"BehaviorResult.salience_rank must be in [0, 255], got {self.salience_rank}")
        if self.ego_motion not in EGO_MOTION_SOURCES:
            raise ConversionError(f"BehaviorResult.ego_motion must be one of {EGO_MOTION_SOURCES}, got "
                                  f"{self.ego_motion!r}")


TRACK_NONE = -1  # BehaviorDescription.TRACK_NONE
EGO_MOTION_SOURCES = ("none", "image", "tf")  # BehaviorDescription.EGO_MOTION_NONE, _IMAGE, _TF


def behavior_result(description: Description) -> BehaviorResult:
    """The engine's description of one window as the content of a BehaviorDescription.

    The engine's window starts one window length before its end, even before the first frame of a stream; a
    builtin_interfaces/Time cannot be negative, so such a start is sent as 0.
    """
    return BehaviorResult(
        track_id=TRACK_NONE if description.track_id is None else int(description.track_id),
        window_start=min(max(description.window_start, 0.0), description.window_end),
        window_end=description.window_end,
        num_frames=description.num_frames,
        description=description.text,
        labels=tuple(description.labels),
        scores=tuple(description.scores),
        confidence=description.confidence,
        model_id=description.model_id,
        frame_id=description.frame_id,
        # The describer's spans, clamped at 0 as window_start is (a Time cannot be negative).
        label_spans=tuple((max(float(start), 0.0), max(float(end), 0.0))
                          for start, end in description.details.get("label_spans", ())),
        ego_motion=str(description.details.get("ego_motion", "none")),
        camera_rotation_deg=float(description.details.get("camera_rotation_deg", math.nan)),
        label_partners=tuple(int(partner) for partner in description.details.get("label_partners", ())),
        track_id_uncertain=bool(description.id_uncertain),
        salience_rank=min(int(description.salience_rank), 255),
    )


SMPL_SHAPES = {"betas": (10,), "global_orient": (3,), "body_pose": (23, 3), "transl": (3,), "joints": (22, 3)}


@dataclass(frozen=True)
class SmplResult:
    """One SMPL fit of one track in one frame: the content of an SmplPose message."""

    stamp: float  # s, data time: stamp of the image the pose was fitted to
    frame_id: str  # that image's frame id
    track_id: int  # >= 0
    betas: np.ndarray  # (10,) SMPL shape coefficients
    global_orient: np.ndarray  # (3,) axis-angle [rad], SMPL body frame -> camera frame
    body_pose: np.ndarray  # (23, 3) axis-angle [rad] of SMPL joints 1..23 relative to their parents
    transl: np.ndarray  # (3,) [m] in the camera frame
    joints: np.ndarray  # (22, 3) [m] HumanML3D joints, y-up (camera frame rotated 180 deg about x)
    fit_residual: float  # [m] RMS joint distance to the observed keypoints; ignored when not valid
    valid: bool  # False: tracked but not fitted in this frame; the pose fields are then sent as zeros

    def __post_init__(self) -> None:
        if self.track_id < 0:
            raise ConversionError(f"SmplResult.track_id must be >= 0, got {self.track_id}")
        for name, shape in SMPL_SHAPES.items():
            value = np.asarray(getattr(self, name))
            if value.shape != shape:
                raise ConversionError(f"SmplResult.{name} must have shape {shape}, got {value.shape}")
            if self.valid and not np.all(np.isfinite(value)):
                raise ConversionError(f"SmplResult.{name} has non-finite values in a valid fit")


def behavior_description_msg(result: BehaviorResult, latency_sec: float, *, msg_type: type, header_type: type,
                             time_type: type) -> Any:
    """A motionllm_ros/BehaviorDescription of `msg_type` from `result`.

    `latency_sec`: node-clock seconds from window_end to now, measured by the caller at publication.
    """
    return msg_type(
        header=make_header(result.window_end, result.frame_id, header_type=header_type, time_type=time_type),
        track_id=int(result.track_id),
        window_start=seconds_to_time(result.window_start, time_type),
        window_end=seconds_to_time(result.window_end, time_type),
        num_frames=int(result.num_frames),
        description=str(result.description),
        labels=[str(label) for label in result.labels],
        scores=array.array("f", [float(score) for score in result.scores]),
        confidence=float(result.confidence),
        latency_sec=float(latency_sec),
        model_id=str(result.model_id),
        label_starts=[seconds_to_time(start, time_type) for start, _ in result.label_spans],
        label_ends=[seconds_to_time(end, time_type) for _, end in result.label_spans],
        ego_motion=str(result.ego_motion),
        camera_rotation_deg=float(result.camera_rotation_deg),
        # All -1 when no label is an interaction: the field is then as long as labels all the same.
        label_partners=array.array("i", list(result.label_partners) or [TRACK_NONE] * len(result.labels)),
        track_id_uncertain=bool(result.track_id_uncertain),
        salience_rank=int(result.salience_rank),
    )


def smpl_pose_msg(result: SmplResult, *, msg_type: type, header_type: type, time_type: type) -> Any:
    """A motionllm_ros/SmplPose of `msg_type` from `result`; an invalid fit gets zero poses and a NaN residual."""

    def flat(name: str) -> np.ndarray:
        # Fixed-size float32[N] fields: a C-contiguous float32 array of exactly N values is stored as is by rclpy.
        values = np.asarray(getattr(result, name), dtype=np.float32).reshape(-1)
        if name != "betas" and not result.valid:
            values = np.zeros_like(values)
        return np.ascontiguousarray(values)

    return msg_type(
        header=make_header(result.stamp, result.frame_id, header_type=header_type, time_type=time_type),
        track_id=int(result.track_id),
        betas=flat("betas"),
        global_orient=flat("global_orient"),
        body_pose=flat("body_pose"),
        transl=flat("transl"),
        joints=flat("joints"),
        fit_residual=float(result.fit_residual) if result.valid else math.nan,
        valid=bool(result.valid),
    )


TURN_ABOUT_X = np.array([1.0, -1.0, -1.0])  # 180 degrees about x, as a factor on (x, y, z): its own inverse


def smpl_result(person: Any, frame_id: str, camera_pitch_rad: float) -> SmplResult | None:
    """The SmplPose content of one frame's perception result (a PersonFrame); None when nobody is tracked.

    The pipeline works in a gravity-levelled frame: the camera frame turned 180 degrees about x, then tilted back
    by the camera pitch. SmplPose documents the turned camera frame without the tilt (so a subscriber needs no
    pitch to put the body over the image), so the tilt is undone here; at pitch 0 nothing changes.
    """
    if person.track_id is None:
        return None
    if not person.valid:
        zeros = np.zeros(3)
        return SmplResult(float(person.stamp), frame_id, int(person.track_id), np.asarray(person.betas), zeros,
                          np.zeros((23, 3)), zeros, np.zeros((22, 3)), math.nan, False)
    untilt = untilt_matrix(camera_pitch_rad)
    joints = np.asarray(person.joints, dtype=np.float64)
    rest_pelvis = joints[0] - np.asarray(person.transl)  # SMPL: pelvis = J_0(betas) + transl, in any frame
    joints_out = joints @ untilt
    global_orient = matrix_to_axis_angle(untilt.T @ axis_angle_to_matrix(person.global_orient))
    body_pose = np.asarray(person.body_pose, dtype=np.float64).reshape(23, 3)  # relative to parents: unchanged
    return SmplResult(float(person.stamp), frame_id, int(person.track_id), np.asarray(person.betas), global_orient,
                      body_pose, joints_out[0] - rest_pelvis, joints_out, float(person.residual), True)


def untilt_matrix(camera_pitch_rad: float) -> np.ndarray:
    """(3, 3) L with `levelled_points @ L` = the same points in the turned camera frame (row vectors)."""
    # smpl_to_mediapipe_frame takes levelled points to the optical frame (tilt undone, then the turn); turning
    # back about x (negating y and z) leaves the tilt alone.
    return smpl_to_mediapipe_frame(np.eye(3), camera_pitch_rad) * TURN_ABOUT_X


# --------------------------------------------------------------------------------------------- RViz skeleton
SKELETON_NAMESPACE = "skeleton"
SKELETON_LIFETIME_NS = 500_000_000  # a few processed frames at the 5-30 Hz the engine runs: a stalled stream fades
BONE_WIDTH_M = 0.02
JOINT_DIAMETER_M = 0.05


# Bone colours by track id (id modulo the palette), so that RViz tells the people apart.
SKELETON_COLOURS = ((0.1, 0.8, 0.2), (0.2, 0.5, 1.0), (1.0, 0.8, 0.1), (0.9, 0.2, 0.8), (0.1, 0.9, 0.9))
JOINT_COLOUR = (0.9, 0.3, 0.1)


def skeleton_markers(results: Sequence[SmplResult], *, array_type: type, marker_type: type, point_type: type,
                     header_type: type, time_type: type, duration_type: type) -> Any:
    """visualization_msgs/MarkerArray of the valid fits of one frame: per person, the 21 bones (LINE_LIST, id
    2 * track_id) and the 22 joints (SPHERE_LIST, id 2 * track_id + 1) in the image's optical frame (x right, y
    down, z forward), so RViz draws them over the camera. It starts with a DELETEALL, so people no longer fitted
    disappear with the next frame."""
    if not results:
        raise ConversionError("skeleton_markers needs at least one fit: send delete_skeleton_markers instead")
    markers = list(delete_skeleton_markers(results[0].stamp, results[0].frame_id, array_type=array_type,
                                           marker_type=marker_type, header_type=header_type,
                                           time_type=time_type).markers)
    for result in results:
        if not result.valid:
            raise ConversionError("skeleton_markers needs valid fits: leave the others out")
        optical = np.asarray(result.joints, dtype=np.float64) * TURN_ABOUT_X
        points = [point_type(x=float(x), y=float(y), z=float(z)) for x, y, z in optical]
        bones = [end for child, parent in enumerate(HUMANML3D_PARENTS) if parent >= 0
                 for end in (points[parent], points[child])]

        def marker(marker_id: int, kind: int, width: float, rgb: tuple[float, float, float], pts: list,
                   result: SmplResult = result) -> Any:
            msg = marker_type(header=make_header(result.stamp, result.frame_id, header_type=header_type,
                                                 time_type=time_type),
                              ns=SKELETON_NAMESPACE, id=marker_id, type=kind, action=marker_type.ADD, points=pts,
                              lifetime=duration_type(sec=0, nanosec=SKELETON_LIFETIME_NS))
            msg.pose.orientation.w = 1.0  # identity: the points are already in the header's frame
            msg.scale.x = msg.scale.y = msg.scale.z = float(width)
            msg.color.r, msg.color.g, msg.color.b = (float(c) for c in rgb)
            msg.color.a = 1.0
            return msg

        colour = SKELETON_COLOURS[result.track_id % len(SKELETON_COLOURS)]
        markers += [marker(2 * result.track_id, marker_type.LINE_LIST, BONE_WIDTH_M, colour, bones),
                    marker(2 * result.track_id + 1, marker_type.SPHERE_LIST, JOINT_DIAMETER_M, JOINT_COLOUR, points)]
    return array_type(markers=markers)


def delete_skeleton_markers(stamp: float, frame_id: str, *, array_type: type, marker_type: type, header_type: type,
                            time_type: type) -> Any:
    """A MarkerArray that removes the skeletons (DELETEALL): nobody is fitted any more."""
    header = make_header(stamp, frame_id, header_type=header_type, time_type=time_type)
    return array_type(markers=[marker_type(header=header, ns=SKELETON_NAMESPACE, action=marker_type.DELETEALL)])
