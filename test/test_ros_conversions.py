"""ROS message conversions without rclpy: images (numpy and cv_bridge paths), stamps, published messages.

Messages are rosbags typestore classes (same field names as rclpy's); serialize_cdr / deserialize_cdr prove they
survive the wire in Humble and Jazzy. The markers are built with rclpy's own classes, whose setters check every
field's type, where real ROS 2 is installed (scripts/test_ros.sh); the node's tests publish the other messages.
"""

from __future__ import annotations

import array
import dataclasses
import math
import sys
import textwrap

import cv2
import numpy as np
import pytest
from interfaces_typestore import make_typestore
from rosbags.typesys import Stores, get_typestore

from motionllm_ros.engine import Description
from motionllm_ros.ros.conversions import (BehaviorResult, ConversionError, ImageConverter, SmplResult,
                                           behavior_description_msg, behavior_result, delete_skeleton_markers,
                                           make_header, seconds_to_time, skeleton_markers, smpl_pose_msg, smpl_result,
                                           stamp_to_seconds)
from motionllm_ros.sources.base import BadFrame

HUMBLE = get_typestore(Stores.ROS2_HUMBLE)
Image = HUMBLE.types["sensor_msgs/msg/Image"]
CompressedImage = HUMBLE.types["sensor_msgs/msg/CompressedImage"]
Header = HUMBLE.types["std_msgs/msg/Header"]
Time = HUMBLE.types["builtin_interfaces/msg/Time"]

RNG = np.random.default_rng(1)
RGB = RNG.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)  # (H, W, 3) reference picture
GREY = RNG.integers(0, 256, size=(6, 8), dtype=np.uint8)


def image_msg(height: int, width: int, encoding: str, step: int, data: bytes, bigendian: int = 0):
    """A sensor_msgs/Image as rclpy delivers it: data is array('B')."""
    return Image(header=Header(stamp=Time(sec=5, nanosec=0), frame_id="camera"), height=height, width=width,
                 encoding=encoding, is_bigendian=bigendian, step=step, data=array.array("B", data))


def compressed_msg(data: bytes, fmt: str = "jpeg"):
    return CompressedImage(header=Header(stamp=Time(sec=5, nanosec=0), frame_id="camera"), format=fmt,
                           data=array.array("B", data))


# What a camera driver would publish for RGB / GREY, written independently of the decoder under test.
ENCODED = {
    "rgb8": (RGB, RGB.tobytes(), 24),
    "bgr8": (RGB, RGB[:, :, ::-1].tobytes(), 24),
    "8UC3": (RGB, RGB[:, :, ::-1].tobytes(), 24),  # OpenCV order, as cv_bridge assumes
    "rgba8": (RGB, np.dstack([RGB, np.full((6, 8), 255, np.uint8)]).tobytes(), 32),
    "bgra8": (RGB, np.dstack([RGB[:, :, ::-1], np.full((6, 8), 9, np.uint8)]).tobytes(), 32),
    "mono8": (np.dstack([GREY] * 3), GREY.tobytes(), 8),
    # 16 bit keeps the top byte: GREY * 256 + 77 -> GREY
    "mono16": (np.dstack([GREY] * 3), (GREY.astype("<u2") * 256 + 77).astype("<u2").tobytes(), 16),
}


@pytest.mark.parametrize("encoding", sorted(ENCODED))
def test_numpy_conversion_of_each_encoding(encoding):
    expected, data, step = ENCODED[encoding]
    rgb = ImageConverter(use_cv_bridge=False).image_to_rgb(image_msg(6, 8, encoding, step, data))
    assert rgb.dtype == np.uint8 and rgb.flags.c_contiguous
    np.testing.assert_array_equal(rgb, expected)


def test_padded_rows_and_big_endian_16_bit():
    converter = ImageConverter(use_cv_bridge=False)
    padded = np.zeros((6, 30), np.uint8)
    padded[:, :24] = RGB.reshape(6, 24)
    np.testing.assert_array_equal(converter.image_to_rgb(image_msg(6, 8, "rgb8", 30, padded.tobytes())), RGB)
    big = (GREY.astype(">u2") * 256).astype(">u2").tobytes()
    np.testing.assert_array_equal(converter.image_to_rgb(image_msg(6, 8, "mono16", 16, big, bigendian=1)),
                                  np.dstack([GREY] * 3))


def test_compressed_jpeg_and_png():
    converter = ImageConverter(use_cv_bridge=False)
    ok, png = cv2.imencode(".png", RGB[:, :, ::-1])  # lossless: exact round trip
    np.testing.assert_array_equal(converter.compressed_to_rgb(compressed_msg(png.tobytes(), "png")), RGB)
    # JPEG is lossy (and subsamples colour), so flat 16x16 blocks of pure colours: red, green / blue, white.
    blocks = np.zeros((32, 32, 3), np.uint8)
    blocks[:16, :16, 0] = blocks[:16, 16:, 1] = blocks[16:, :16, 2] = 255
    blocks[16:, 16:] = 255
    ok, jpeg = cv2.imencode(".jpg", blocks[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    decoded = converter.compressed_to_rgb(compressed_msg(jpeg.tobytes(), "rgb8; jpeg compressed bgr8"))
    assert decoded.shape == (32, 32, 3)
    for rows, cols in [(slice(2, 14), slice(2, 14)), (slice(2, 14), slice(18, 30)), (slice(18, 30), slice(2, 14)),
                       (slice(18, 30), slice(18, 30))]:
        np.testing.assert_allclose(decoded[rows, cols].mean(axis=(0, 1)), blocks[rows, cols][0, 0], atol=8)


@pytest.mark.parametrize("msg, reason", [
    (image_msg(480, 640, "rgb8", 1920, bytes(30)), "size_mismatch"),  # the malformed bags' image
    (image_msg(6, 8, "rgb8", 20, bytes(120)), "step_too_small"),
    (image_msg(6, 8, "weird9", 24, bytes(144)), "unknown_encoding"),
    (image_msg(0, 8, "rgb8", 24, b""), "empty_image"),
])
def test_bad_images_are_rejected_with_a_reason(msg, reason):
    with pytest.raises(BadFrame) as error:
        ImageConverter(use_cv_bridge=False).image_to_rgb(msg)
    assert error.value.reason == reason


def test_truncated_jpeg_is_rejected():
    ok, jpeg = cv2.imencode(".jpg", RGB)
    with pytest.raises(BadFrame) as error:
        ImageConverter(use_cv_bridge=False).compressed_to_rgb(compressed_msg(jpeg.tobytes()[:10]))
    assert error.value.reason == "truncated_jpeg"


def test_real_malformed_and_camera_bags(test_data):
    from rosbags.highlevel import AnyReader

    converter = ImageConverter()
    reasons = []
    with AnyReader([test_data / "bags" / "malformed_mcap"], default_typestore=HUMBLE) as reader:
        wanted = [c for c in reader.connections
                  if c.topic in ("/test/sensor_msgs/image", "/test/sensor_msgs/compressed_image")]
        for connection, _, raw in reader.messages(connections=wanted):
            msg = reader.deserialize(raw, connection.msgtype)
            with pytest.raises(BadFrame) as error:
                if connection.msgtype.endswith("CompressedImage"):
                    converter.compressed_to_rgb(msg)
                else:
                    converter.image_to_rgb(msg)
            reasons.append(error.value.reason)
    assert sorted(reasons) == ["size_mismatch", "size_mismatch", "truncated_jpeg", "truncated_jpeg"]

    bag = next((test_data / "bags" / "humble_camera_mcap").glob("*.mcap"))
    with AnyReader([bag], default_typestore=HUMBLE) as reader:
        raw_image = [c for c in reader.connections if c.topic == "/image"]
        jpeg_image = [c for c in reader.connections if c.topic == "/compressed_image"]
        connection, _, raw = next(reader.messages(connections=raw_image))
        msg = reader.deserialize(raw, connection.msgtype)
        rgb = converter.image_to_rgb(msg)
        assert rgb.shape == (480, 640, 3) and msg.encoding == "rgb8"
        np.testing.assert_array_equal(rgb, np.asarray(msg.data).reshape(480, 640, 3))
        connection, _, raw = next(reader.messages(connections=jpeg_image))
        assert converter.compressed_to_rgb(reader.deserialize(raw, connection.msgtype)).shape == (480, 640, 3)


# ------------------------------------------------------------------------------------------------- cv_bridge
# cv_bridge cannot be installed here; these stand-ins reproduce the two behaviours the converter must handle.
BROKEN_CV_BRIDGE = '''
class CvBridgeError(TypeError):
    pass

class CvBridge:
    def imgmsg_to_cv2(self, img_msg, desired_encoding="passthrough"):
        # What the distro's cv_bridge does under numpy 2: its extension fails to import at the first conversion.
        raise ImportError("A module that was compiled using NumPy 1.x cannot be run in NumPy 2.0.0")
'''
# cv_bridge's documented Python path (core.py): view data by `step` (no size check beyond "big enough"), cut to the
# width, then convert the colour with OpenCV.
WORKING_CV_BRIDGE = '''
import cv2
import numpy as np

class CvBridgeError(TypeError):
    pass

CHANNELS = {"rgb8": 3, "bgr8": 3, "rgba8": 4, "bgra8": 4, "mono8": 1}
TO_RGB = {"bgr8": cv2.COLOR_BGR2RGB, "rgba8": cv2.COLOR_RGBA2RGB, "bgra8": cv2.COLOR_BGRA2RGB,
          "mono8": cv2.COLOR_GRAY2RGB}
calls = []

class CvBridge:
    def imgmsg_to_cv2(self, img_msg, desired_encoding="passthrough"):
        calls.append(img_msg.encoding)
        if img_msg.encoding not in CHANNELS:
            raise CvBridgeError("Unrecognized image encoding [%s]" % img_msg.encoding)
        n = CHANNELS[img_msg.encoding]
        im = np.ndarray(shape=(img_msg.height, img_msg.step // n, n), dtype=np.uint8, buffer=img_msg.data)
        im = np.ascontiguousarray(im[:img_msg.height, :img_msg.width, :])
        if img_msg.encoding == "rgb8":
            return im
        return cv2.cvtColor(im[:, :, 0] if n == 1 else im, TO_RGB[img_msg.encoding])
'''


@pytest.fixture
def cv_bridge_module(tmp_path, monkeypatch):
    """Installs a cv_bridge stand-in with the given source; returns the imported module."""

    def install(source: str):
        (tmp_path / "cv_bridge").mkdir()
        (tmp_path / "cv_bridge" / "__init__.py").write_text(textwrap.dedent(source))
        monkeypatch.syspath_prepend(str(tmp_path))
        monkeypatch.delitem(sys.modules, "cv_bridge", raising=False)
        import cv_bridge

        monkeypatch.setitem(sys.modules, "cv_bridge", cv_bridge)  # forgotten again after the test
        return cv_bridge

    return install


def test_cv_bridge_that_fails_under_numpy2_falls_back_to_numpy(cv_bridge_module):
    cv_bridge_module(BROKEN_CV_BRIDGE)
    logged = []
    converter = ImageConverter(log=logged.append)
    expected, data, step = ENCODED["bgr8"]
    np.testing.assert_array_equal(converter.image_to_rgb(image_msg(6, 8, "bgr8", step, data)), expected)
    assert converter.backend == "numpy"
    assert len(logged) == 1 and "cv_bridge not usable" in logged[0] and "NumPy 2" in logged[0]


def test_working_cv_bridge_gives_the_numpy_result_and_the_same_reasons(cv_bridge_module):
    module = cv_bridge_module(WORKING_CV_BRIDGE)
    converter = ImageConverter(log=lambda text: None)
    reference = ImageConverter(use_cv_bridge=False)
    for encoding, (expected, data, step) in ENCODED.items():
        msg = image_msg(6, 8, encoding, step, data)
        np.testing.assert_array_equal(converter.image_to_rgb(msg), reference.image_to_rgb(msg))
    assert converter.backend == "cv_bridge"
    # Only the 8-bit encodings whose result is identical went to cv_bridge (after the probe).
    assert sorted(set(module.calls)) == ["bgr8", "bgra8", "mono8", "rgb8", "rgba8"]
    # cv_bridge alone would accept a buffer longer than step x height; the converter still rejects it.
    with pytest.raises(BadFrame) as error:
        converter.image_to_rgb(image_msg(6, 8, "rgb8", 24, RGB.tobytes() + bytes(24)))
    assert error.value.reason == "size_mismatch"
    with pytest.raises(BadFrame) as error:
        converter.image_to_rgb(image_msg(480, 640, "rgb8", 1920, bytes(30)))
    assert error.value.reason == "size_mismatch"


def test_cv_bridge_probe_is_skipped_when_disabled():
    converter = ImageConverter(use_cv_bridge=False)
    assert converter.backend == "numpy"


# ---------------------------------------------------------------------------------------------------- stamps
@pytest.mark.parametrize("seconds, sec, nanosec", [
    (0.0, 0, 0),
    (1.5, 1, 500_000_000),
    (12.000000001, 12, 1),
    (0.9999999999, 1, 0),  # rounds up into the next second, not to nanosec 1e9
])
def test_seconds_to_time(seconds, sec, nanosec):
    stamp = seconds_to_time(seconds, Time)
    assert (stamp.sec, stamp.nanosec) == (sec, nanosec)


def test_stamps_round_trip():
    # float64 resolution at 1.7e9 s is 2**-22 s (0.24 us): nanoseconds come back within 1 us.
    for sec, nanosec in [(1_700_000_000, 123_456_789), (1_700_000_000, 999_999_999), (42, 1)]:
        back = seconds_to_time(stamp_to_seconds(Time(sec=sec, nanosec=nanosec)), Time)
        assert abs((back.sec - sec) * 10**9 + back.nanosec - nanosec) < 1000
        assert 0 <= back.nanosec < 10**9
    assert stamp_to_seconds(seconds_to_time(1234.25, Time)) == 1234.25


@pytest.mark.parametrize("seconds", [-0.5, math.nan, math.inf, 2.0**31])
def test_seconds_that_are_no_time_are_refused(seconds):
    with pytest.raises(ConversionError, match="builtin_interfaces/Time"):
        seconds_to_time(seconds, Time)


# ------------------------------------------------------------------------------------------ published messages
BEHAVIOR = BehaviorResult(track_id=3, window_start=100.25, window_end=102.75, num_frames=50,
                          description="A person waves with the right hand.", labels=("waving_right_hand", "standing"),
                          scores=(0.9, 0.4), confidence=0.8, model_id="primitives", frame_id="camera_optical",
                          label_spans=((101.0, 101.7), (100.25, 102.75)), ego_motion="image", camera_rotation_deg=12.5)


def a_smpl_result(valid: bool = True) -> SmplResult:
    rng = np.random.default_rng(2)
    return SmplResult(stamp=55.5, frame_id="camera_optical", track_id=1, betas=rng.normal(size=10),
                      global_orient=rng.normal(size=3), body_pose=rng.normal(size=(23, 3)),
                      transl=np.array([0.1, -0.2, 3.0]), joints=rng.normal(size=(22, 3)), fit_residual=0.031,
                      valid=valid)


def for_rosbags(msg):
    """rosbags' serializer wants numpy arrays where rclpy wants array.array (variable-size numeric fields)."""
    for name, value in vars(msg).items():
        if isinstance(value, array.array):
            setattr(msg, name, np.frombuffer(value, dtype=np.dtype(value.typecode)).copy())
    return msg


def message_types(distro: str):
    store = make_typestore(distro)
    return store, {"header_type": store.types["std_msgs/msg/Header"],
                   "time_type": store.types["builtin_interfaces/msg/Time"]}


@pytest.mark.parametrize("distro", ["humble", "jazzy"])
def test_behavior_description_message(distro):
    store, types = message_types(distro)
    msg_type = store.types["motionllm_ros/msg/BehaviorDescription"]
    msg = behavior_description_msg(BEHAVIOR, 0.125, msg_type=msg_type, **types)
    assert isinstance(msg.scores, array.array) and msg.scores.typecode == "f"
    back = store.deserialize_cdr(store.serialize_cdr(for_rosbags(msg), msg_type.__msgtype__), msg_type.__msgtype__)
    assert (back.header.stamp.sec, back.header.stamp.nanosec, back.header.frame_id) == (102, 750_000_000,
                                                                                        "camera_optical")
    assert (back.window_start.sec, back.window_start.nanosec) == (100, 250_000_000)
    assert (back.window_end.sec, back.window_end.nanosec) == (102, 750_000_000)
    assert (back.track_id, back.num_frames, back.model_id) == (3, 50, "primitives")
    assert back.description == BEHAVIOR.description
    assert back.labels == ["waving_right_hand", "standing"]
    np.testing.assert_allclose(back.scores, [0.9, 0.4], rtol=1e-7)  # float32 on the wire
    assert back.confidence == pytest.approx(0.8, rel=1e-7) and back.latency_sec == pytest.approx(0.125)
    assert back.model_id == msg_type.MODEL_ID_PRIMITIVES
    assert [(t.sec, t.nanosec) for t in back.label_starts] == [(101, 0), (100, 250_000_000)]
    assert [(t.sec, t.nanosec) for t in back.label_ends] == [(101, 700_000_000), (102, 750_000_000)]
    assert back.ego_motion == msg_type.EGO_MOTION_IMAGE and back.camera_rotation_deg == pytest.approx(12.5)
    assert back.label_partners.tolist() == [msg_type.TRACK_NONE] * 2  # no interaction: nobody else in a label
    assert (back.track_id_uncertain, back.salience_rank) == (False, 0)
    with_partner = dataclasses.replace(BEHAVIOR, labels=("handshake", "standing"), label_partners=(5, -1),
                                       track_id_uncertain=True, salience_rank=1)
    msg = behavior_description_msg(with_partner, 0.125, msg_type=msg_type, **types)
    back = store.deserialize_cdr(store.serialize_cdr(for_rosbags(msg), msg_type.__msgtype__), msg_type.__msgtype__)
    assert back.label_partners.tolist() == [5, -1] and (back.track_id_uncertain, back.salience_rank) == (True, 1)
    with pytest.raises(ConversionError, match="label_partners"):
        dataclasses.replace(BEHAVIOR, label_partners=(5,))


@pytest.mark.parametrize("distro", ["humble", "jazzy"])
def test_smpl_pose_message(distro):
    store, types = message_types(distro)
    msg_type = store.types["motionllm_ros/msg/SmplPose"]
    result = a_smpl_result()
    msg = smpl_pose_msg(result, msg_type=msg_type, **types)
    back = store.deserialize_cdr(store.serialize_cdr(msg, msg_type.__msgtype__), msg_type.__msgtype__)
    assert (back.header.stamp.sec, back.header.stamp.nanosec) == (55, 500_000_000)
    assert back.track_id == 1 and back.valid is True
    for name, size in [("betas", 10), ("global_orient", 3), ("body_pose", 69), ("transl", 3), ("joints", 66)]:
        value = getattr(back, name)
        assert value.dtype == np.float32 and value.shape == (size,)
        np.testing.assert_allclose(value, np.asarray(getattr(result, name), np.float32).reshape(-1))
    # Row-major: joint j, axis a is element 3 * j + a, as the message says (numpy.reshape(msg.joints, (22, 3))).
    np.testing.assert_allclose(back.joints.reshape(22, 3)[7], result.joints[7].astype(np.float32))
    assert back.fit_residual == pytest.approx(0.031)


def test_invalid_fit_sends_zero_pose_and_nan_residual():
    store, types = message_types("humble")
    msg = smpl_pose_msg(a_smpl_result(valid=False), msg_type=store.types["motionllm_ros/msg/SmplPose"], **types)
    assert msg.valid is False and math.isnan(msg.fit_residual)
    for name in ("global_orient", "body_pose", "transl", "joints"):
        assert not getattr(msg, name).any()
    np.testing.assert_allclose(msg.betas, a_smpl_result().betas.astype(np.float32))  # the shape stays


def test_messages_build_with_rclpys_own_classes():
    """rclpy's generated setters check every field's type (an int or numpy.float32 in a float field, a list in a
    fixed-size array): the conversions must satisfy them, for a valid fit, a failed one and a window."""
    pytest.importorskip("motionllm_ros.msg", reason="needs ROS 2's generated messages (scripts/test_ros.sh)")
    from builtin_interfaces.msg import Time as RosTime
    from std_msgs.msg import Header as RosHeader

    from motionllm_ros.msg import BehaviorDescription, SmplPose

    types = {"header_type": RosHeader, "time_type": RosTime}
    msg = behavior_description_msg(BEHAVIOR, 0.1, msg_type=BehaviorDescription, **types)
    assert msg.labels == list(BEHAVIOR.labels)
    for valid in (True, False):
        pose = smpl_pose_msg(a_smpl_result(valid=valid), msg_type=SmplPose, **types)
        assert pose.valid is valid


def engine_description(**change) -> Description:
    values = dict(window_start=98.0, window_end=102.0, frame_id="camera_optical", track_id=4, num_frames=48,
                  num_valid=40, text="one person walking", labels=("walking", "still"), scores=(0.95, 0.5),
                  confidence=0.95, model_id="primitives", latency_s=0.04)
    return Description(**{**values, **change})


def test_behavior_result_from_an_engine_description():
    result = behavior_result(engine_description())
    assert result == BehaviorResult(track_id=4, window_start=98.0, window_end=102.0, num_frames=48,
                                    description="one person walking", labels=("walking", "still"),
                                    scores=(0.95, 0.5), confidence=0.95, model_id="primitives",
                                    frame_id="camera_optical", camera_rotation_deg=result.camera_rotation_deg)
    assert math.isnan(result.camera_rotation_deg) and result.ego_motion == "none"
    spanned = behavior_result(engine_description(details={"label_spans": [[99.0, 101.5], [98.0, 99.0]],
                                                          "ego_motion": "tf", "camera_rotation_deg": 3.0}))
    assert (spanned.label_spans, spanned.ego_motion, spanned.camera_rotation_deg) == (
        ((99.0, 101.5), (98.0, 99.0)), "tf", 3.0)


@pytest.mark.parametrize("distro", ["humble", "jazzy"])
def test_a_label_held_in_two_stretches_is_two_entries_of_the_message(distro):
    # still, a step, still again: the label repeats, each entry with its own span and partner.
    result = behavior_result(engine_description(
        labels=("standing", "still", "still"), scores=(0.95, 0.9, 0.8),
        details={"label_spans": [[98.0, 102.0], [98.0, 99.5], [100.5, 102.0]], "label_partners": [-1, -1, -1]}))
    assert result.labels == ("standing", "still", "still")
    assert result.label_spans == ((98.0, 102.0), (98.0, 99.5), (100.5, 102.0))
    store, types = message_types(distro)
    msg_type = store.types["motionllm_ros/msg/BehaviorDescription"]
    msg = behavior_description_msg(result, 0.1, msg_type=msg_type, **types)
    back = store.deserialize_cdr(store.serialize_cdr(for_rosbags(msg), msg_type.__msgtype__), msg_type.__msgtype__)
    starts = [stamp.sec + stamp.nanosec * 1e-9 for stamp in back.label_starts]
    assert list(back.labels) == ["standing", "still", "still"] and starts == [98.0, 98.0, 100.5]
    assert len(back.label_ends) == len(back.label_partners) == 3


def test_whole_scene_and_a_window_reaching_before_time_zero():
    # The engine's first windows may start before the stream (window end - length < 0): a Time cannot be negative.
    store, types = message_types("humble")
    result = behavior_result(engine_description(track_id=None, window_start=-0.75, window_end=3.25, labels=(),
                                                scores=(), confidence=0.0, text="nobody tracked in this window"))
    assert (result.track_id, result.window_start) == (-1, 0.0)
    msg = behavior_description_msg(result, 0.5, msg_type=store.types["motionllm_ros/msg/BehaviorDescription"],
                                   **types)
    assert msg.track_id == msg.TRACK_NONE and (msg.window_start.sec, msg.window_start.nanosec) == (0, 0)
    assert (msg.labels, list(msg.scores)) == ([], [])


def test_make_header():
    header = make_header(7.25, "cam", header_type=Header, time_type=Time)
    assert (header.stamp.sec, header.stamp.nanosec, header.frame_id) == (7, 250_000_000, "cam")


@pytest.mark.parametrize("change, field", [
    ({"scores": (0.9,)}, "scores"),
    ({"num_frames": 0}, "num_frames"),
    ({"description": ""}, "description"),
    ({"confidence": 1.5}, "confidence"),
    ({"window_start": 103.0}, "window_start"),
    ({"track_id": -2}, "track_id"),
    ({"label_spans": ((101.0, 101.7),)}, "label_spans"),
    ({"label_spans": ((101.0, 100.0), (100.25, 102.75))}, "label_spans"),
    ({"ego_motion": "gps"}, "ego_motion"),
])
def test_behavior_result_is_validated(change, field):
    values = {**vars(BEHAVIOR), **change}
    with pytest.raises(ConversionError, match=field):
        BehaviorResult(**values)


def test_smpl_result_shapes_are_validated():
    with pytest.raises(ConversionError, match=r"body_pose must have shape \(23, 3\)"):
        SmplResult(**{**vars(a_smpl_result()), "body_pose": np.zeros(69)})
    with pytest.raises(ConversionError, match="joints has non-finite"):
        SmplResult(**{**vars(a_smpl_result()), "joints": np.full((22, 3), np.nan)})


# ---------------------------------------------------------------------- perception result -> SmplPose, skeleton
def person_frame(pitch_deg: float, global_orient, valid=True, track_id=4):
    """A PersonFrame as the pipeline makes it: the synthetic SMPL model posed in the levelled frame of a camera
    pitched down by `pitch_deg`, the pelvis 3 m in front of the camera."""
    from motionllm_ros.perception.fitter import mediapipe_to_smpl_frame
    from motionllm_ros.perception.pipeline import PersonFrame
    from motionllm_ros.perception.smpl import default_smpl_model

    model = default_smpl_model()
    betas = np.linspace(-1.0, 1.0, 10)
    body_pose = np.random.default_rng(5).normal(scale=0.3, size=69)
    pelvis = mediapipe_to_smpl_frame(np.array([[0.2, 0.1, 3.0]]), math.radians(pitch_deg))[0]
    transl = pelvis - model.rest_joints(betas)[0]
    joints = model.forward_kinematics(betas, np.asarray(global_orient, float), body_pose, transl).joints[:22]
    return PersonFrame(12.5, valid, None if valid else "too_few_keypoints", track_id, 1,
                       np.asarray(global_orient, float), body_pose, betas, transl, joints, 0.02), model


def test_smpl_pose_is_in_the_turned_camera_frame_whatever_the_pitch():
    from motionllm_ros.perception.smpl import axis_angle_to_matrix

    pitch = 30.0
    # Standing upright (levelled frame: no rotation). The camera looks 30 deg down, so in its own turned frame
    # (y up, z towards the camera) the person's up axis leans towards the camera: (0, cos 30, sin 30).
    person, model = person_frame(pitch, np.zeros(3))
    result = smpl_result(person, "cam_optical", math.radians(pitch))
    assert (result.stamp, result.frame_id, result.track_id, result.valid) == (12.5, "cam_optical", 4, True)
    up = axis_angle_to_matrix(result.global_orient) @ np.array([0.0, 1.0, 0.0])
    np.testing.assert_allclose(up, [0.0, math.cos(math.radians(30)), math.sin(math.radians(30))], atol=1e-12)
    # The pelvis was placed at (0.2, 0.1, 3.0) in the optical frame: (0.2, -0.1, -3.0) turned about x.
    np.testing.assert_allclose(result.joints[0], [0.2, -0.1, -3.0], atol=1e-9)
    # The message's fields are one SMPL body: posing the model with them gives its joints.
    posed = model.forward_kinematics(result.betas, result.global_orient, result.body_pose.reshape(-1),
                                     result.transl).joints[:22]
    np.testing.assert_allclose(posed, result.joints, atol=1e-9)
    np.testing.assert_allclose(result.body_pose.reshape(-1), person.body_pose)  # relative rotations unchanged


def test_smpl_pose_at_zero_pitch_is_the_pipeline_frame_and_nobody_tracked_sends_nothing():
    person, _ = person_frame(0.0, [0.1, 0.4, -0.2])
    result = smpl_result(person, "cam", 0.0)
    for name in ("global_orient", "transl", "joints", "betas"):
        np.testing.assert_allclose(getattr(result, name), getattr(person, name), atol=1e-12)
    nobody, _ = person_frame(0.0, np.zeros(3), valid=False, track_id=None)
    assert smpl_result(nobody, "cam", 0.0) is None


def test_a_failed_fit_of_a_tracked_person_is_sent_invalid_with_zero_pose():
    from motionllm_ros.perception.pipeline import PersonFrame

    nan3 = np.full(3, np.nan)
    person = PersonFrame(3.0, False, "too_few_keypoints", 2, 1, nan3, np.full(69, np.nan), np.ones(10), nan3,
                         np.full((22, 3), np.nan), math.nan)
    result = smpl_result(person, "cam", math.radians(10.0))
    assert result.valid is False and result.track_id == 2 and math.isnan(result.fit_residual)
    assert not result.joints.any() and not result.global_orient.any()
    store, types = message_types("humble")
    msg = smpl_pose_msg(result, msg_type=store.types["motionllm_ros/msg/SmplPose"], **types)
    assert msg.valid is False and (msg.betas == 1.0).all()


def marker_classes():
    """rclpy's own message classes, whose setters check every field's type: real ROS 2 only (scripts/test_ros.sh)."""
    pytest.importorskip("visualization_msgs.msg", reason="needs ROS 2's generated messages (scripts/test_ros.sh)")
    from builtin_interfaces.msg import Duration, Time
    from geometry_msgs.msg import Point
    from std_msgs.msg import Header
    from visualization_msgs.msg import Marker, MarkerArray

    return {"array_type": MarkerArray, "marker_type": Marker, "point_type": Point, "header_type": Header,
            "time_type": Time, "duration_type": Duration}


def test_skeleton_markers_draw_21_bones_and_22_joints_per_person_in_the_optical_frame():
    from motionllm_ros.perception.skeleton import HUMANML3D_PARENTS

    classes = marker_classes()
    person, _ = person_frame(0.0, np.zeros(3))
    result = smpl_result(person, "cam_optical", 0.0)
    other = smpl_result(person_frame(0.0, np.zeros(3), track_id=7)[0], "cam_optical", 0.0)
    msg = skeleton_markers([result, other], **classes)
    clear, bones, joints, other_bones, other_joints = msg.markers
    marker = classes["marker_type"]
    assert clear.action == marker.DELETEALL  # people fitted in the previous frame but not in this one disappear
    assert (bones.type, joints.type) == (marker.LINE_LIST, marker.SPHERE_LIST)
    # Ids 2 * track_id and 2 * track_id + 1, colours by track: every person's markers are their own.
    assert (bones.ns, bones.id, joints.id) == ("skeleton", 8, 9) and bones.action == marker.ADD
    assert (other_bones.id, other_joints.id) == (14, 15) and other_bones.color != bones.color
    assert len(bones.points) == 2 * 21 and len(joints.points) == 22
    assert (bones.header.frame_id, bones.header.stamp.sec, bones.header.stamp.nanosec) == ("cam_optical", 12,
                                                                                            500_000_000)
    assert 0 < bones.lifetime.sec + bones.lifetime.nanosec * 1e-9 <= 1.0
    assert bones.pose.orientation.w == 1.0 and bones.color.a == 1.0 and joints.scale.z > 0
    # Optical frame (x right, y down, z forward): the pelvis was put at (0.2, 0.1, 3.0) there; the head is above
    # the pelvis (smaller y) in an upright body.
    pelvis = joints.points[0]
    assert (pelvis.x, pelvis.y, pelvis.z) == pytest.approx((0.2, 0.1, 3.0))
    assert joints.points[15].y < pelvis.y - 0.3
    # Bone i runs from joint i+1's parent to joint i+1.
    for child in (1, 12, 21):
        start, end = bones.points[2 * (child - 1)], bones.points[2 * (child - 1) + 1]
        assert (start, end) == (joints.points[HUMANML3D_PARENTS[child]], joints.points[child])

    with pytest.raises(ConversionError, match="valid"):
        skeleton_markers([smpl_result(person_frame(0.0, np.zeros(3), valid=False)[0], "cam", 0.0)], **classes)
    with pytest.raises(ConversionError, match="at least one"):
        skeleton_markers([], **classes)


def test_delete_all_markers():
    classes = marker_classes()
    del classes["point_type"], classes["duration_type"]
    msg = delete_skeleton_markers(7.25, "cam", **classes)
    (only,) = msg.markers
    assert only.action == classes["marker_type"].DELETEALL == 3
    assert (only.header.frame_id, only.header.stamp.sec, only.header.stamp.nanosec) == ("cam", 7, 250_000_000)
