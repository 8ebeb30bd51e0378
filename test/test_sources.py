"""Frame sources: image decoding, video files, rosbag2 recordings written here and the real ones in ../shared."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from motionllm_ros.sources import SourceError, detect_format, open_source
from motionllm_ros.sources.base import BadFrame
from motionllm_ros.sources.images import compressed_to_rgb, image_to_rgb, validate_rgb

RNG = np.random.default_rng(0)
RGB = RNG.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)  # (H, W, 3) reference picture


def _encode(rgb: np.ndarray, encoding: str) -> tuple[bytes, int]:
    """The bytes and row step a camera driver would publish for `rgb` in `encoding` (independent of the decoder)."""
    if encoding == "rgb8":
        pixels = rgb
    elif encoding == "bgr8":
        pixels = rgb[:, :, ::-1]
    elif encoding == "rgba8":
        pixels = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    elif encoding == "bgra8":
        pixels = np.dstack([rgb[:, :, ::-1], np.full(rgb.shape[:2], 7, np.uint8)])
    else:
        raise AssertionError(encoding)
    data = np.ascontiguousarray(pixels).tobytes()
    return data, rgb.shape[1] * pixels.shape[2]


@pytest.mark.parametrize("encoding", ["rgb8", "bgr8", "rgba8", "bgra8"])
def test_colour_encodings_give_the_same_rgb(encoding):
    data, step = _encode(RGB, encoding)
    out = image_to_rgb(6, 8, encoding, 0, step, data)
    assert out.dtype == np.uint8 and out.shape == (6, 8, 3)
    np.testing.assert_array_equal(out, RGB)


def test_padded_rows_are_cut_to_the_image():
    step = 8 * 3 + 5  # 5 bytes of padding per row, as some drivers align rows
    padded = np.zeros((6, step), np.uint8)
    padded[:, :24] = RGB.reshape(6, 24)
    np.testing.assert_array_equal(image_to_rgb(6, 8, "rgb8", 0, step, padded.tobytes()), RGB)


def test_mono8_and_mono16_both_endians():
    grey = RNG.integers(0, 256, size=(6, 8), dtype=np.uint8)
    out = image_to_rgb(6, 8, "mono8", 0, 8, grey.tobytes())
    np.testing.assert_array_equal(out, np.dstack([grey] * 3))
    wide = grey.astype(np.uint16) * 256 + 17  # the top byte is `grey`
    little = image_to_rgb(6, 8, "mono16", 0, 16, wide.astype("<u2").tobytes())
    big = image_to_rgb(6, 8, "mono16", 1, 16, wide.astype(">u2").tobytes())
    np.testing.assert_array_equal(little, np.dstack([grey] * 3))
    np.testing.assert_array_equal(big, little)


def test_yuv422_uyvy_and_yuyv():
    # Y = U = V = 128 is a neutral grey: BT.601 video range gives 1.164 * (128 - 16) = 130 in every channel.
    uyvy = np.full((6, 16), 128, np.uint8)
    for encoding in ("yuv422", "uyvy", "yuv422_yuy2", "yuyv"):
        out = image_to_rgb(6, 8, encoding, 0, 16, uyvy.tobytes())
        assert out.shape == (6, 8, 3)
        assert np.abs(out.astype(int) - 130).max() <= 1, encoding
    # UYVY and YUYV put luma at different bytes: a bright-luma pattern must decode bright in the right one only.
    pattern = np.tile(np.array([128, 235], np.uint8), (6, 8))  # U/V=128 at even bytes, Y=235 at odd bytes
    assert image_to_rgb(6, 8, "yuv422", 0, 16, pattern.tobytes()).mean() > 200
    assert image_to_rgb(6, 8, "yuv422_yuy2", 0, 16, pattern.tobytes()).mean() < 200


@pytest.mark.parametrize(
    "fields, reason",
    [
        ((480, 640, "rgb8", 0, 1920, b"\x00" * 30), "size_mismatch"),  # the malformed bag's frame
        ((6, 8, "rgb8", 0, 20, b"\x00" * 120), "step_too_small"),
        ((6, 8, "32FC1", 0, 32, b"\x00" * 192), "unknown_encoding"),
        ((0, 8, "rgb8", 0, 24, b""), "empty_image"),
    ],
)
def test_invalid_images_are_rejected_with_a_reason(fields, reason):
    with pytest.raises(BadFrame) as error:
        image_to_rgb(*fields)
    assert error.value.reason == reason


def test_compressed_jpeg_and_png_round_trip():
    big = cv2.resize(RGB, (64, 48), interpolation=cv2.INTER_NEAREST)
    ok, png = cv2.imencode(".png", big[:, :, ::-1])
    np.testing.assert_array_equal(compressed_to_rgb("png", png.tobytes()), big)
    flat = np.full((48, 64, 3), (200, 30, 90), np.uint8)
    ok, jpeg = cv2.imencode(".jpg", flat[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, 95])
    out = compressed_to_rgb("rgb8; jpeg compressed bgr8", jpeg.tobytes())
    assert np.abs(out.astype(int) - flat).max() <= 3  # RGB order preserved, not swapped


def test_truncated_and_garbage_compressed_images_are_rejected():
    flat = np.full((48, 64, 3), 100, np.uint8)
    jpeg = cv2.imencode(".jpg", flat)[1].tobytes()
    png = cv2.imencode(".png", flat)[1].tobytes()
    cases = [(jpeg[: len(jpeg) // 2], "truncated_jpeg"), (jpeg[:10], "truncated_jpeg"),
             (png[:-20], "truncated_png"), (b"GIF89a" + b"\x00" * 20, "unknown_compression"),
             (b"", "unknown_compression")]
    for data, reason in cases:
        with pytest.raises(BadFrame) as error:
            compressed_to_rgb("jpeg", data)
        assert error.value.reason == reason
    # A complete JPEG header with a corrupt body: the decoder itself refuses it.
    with pytest.raises(BadFrame) as error:
        compressed_to_rgb("jpeg", b"\xff\xd8" + b"\x13" * 100 + b"\xff\xd9")
    assert error.value.reason == "decode_failed"


def test_validate_rgb():
    assert validate_rgb(RGB) is not None
    for bad, reason in [(RGB.astype(np.float32), "wrong_dtype"), (RGB[:, :, 0], "wrong_shape"),
                        (RGB[:0], "wrong_shape"), ([[1, 2, 3]], "not_an_array")]:
        with pytest.raises(BadFrame) as error:
            validate_rgb(bad)
        assert error.value.reason == reason


# ----------------------------------------------------------------------------------------------- video files
def _write_video(path: Path, frames: int, fps: float, size=(64, 48)) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for i in range(frames):
        writer.write(np.full((size[1], size[0], 3), 10 * i % 256, np.uint8))
    writer.release()


def test_video_detected_by_content_not_extension(tmp_path):
    _write_video(tmp_path / "clip.mp4", 7, 15.0)  # OpenCV's writer needs the extension...
    video = (tmp_path / "clip.mp4").rename(tmp_path / "clip.bin")  # ...our reader must not
    assert detect_format(video) == "video"
    frames = list(open_source(str(video)))
    assert len(frames) == 7
    assert frames[0].rgb.shape == (48, 64, 3) and frames[0].rgb.dtype == np.uint8
    np.testing.assert_allclose([f.stamp for f in frames], np.arange(7) / 15.0, atol=1e-6)


def test_unknown_empty_and_missing_files_are_clear_errors(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("definitely not a video")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    with pytest.raises(SourceError, match="not a video"):
        open_source(str(text))
    with pytest.raises(SourceError, match="empty"):
        open_source(str(empty))
    with pytest.raises(SourceError, match="not found"):
        open_source(str(tmp_path / "missing.mp4"))


def test_truncated_video_yields_what_it_can(tmp_path):
    video = tmp_path / "clip.mp4"
    _write_video(video, 30, 10.0)
    data = video.read_bytes()
    # mp4v writes the index (moov) at the end: cutting the file loses it, and OpenCV then cannot open it at all.
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) // 2])
    try:
        frames = list(open_source(str(cut)))
    except SourceError as error:
        assert "cut.mp4" in str(error)
    else:
        assert len(frames) <= 30


# -------------------------------------------------------------------------------------------------- rosbag2
def _write_bag(path: Path, storage: str, messages: list[tuple[str, str, object]], version: int = 8) -> None:
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_JAZZY if version >= 9 else Stores.ROS2_HUMBLE)
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=version, storage_plugin=plugin) as writer:
        connections = {}
        for i, (topic, msgtype, message) in enumerate(messages):
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, msgtype, typestore=store)
            writer.write(connections[topic], 1_000_000_000 + i, store.serialize_cdr(message, msgtype))


def _image_msg(stamp: float, rgb: np.ndarray, encoding: str = "rgb8", frame_id: str = "cam", data=None):
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    Image, Header, Time = (store.types[n] for n in ("sensor_msgs/msg/Image", "std_msgs/msg/Header",
                                                     "builtin_interfaces/msg/Time"))
    sec = int(stamp)
    header = Header(stamp=Time(sec=sec, nanosec=int(round((stamp - sec) * 1e9))), frame_id=frame_id)
    if data is None:
        data, step = _encode(rgb, encoding)
    else:
        step = rgb.shape[1] * 3
    return Image(header=header, height=rgb.shape[0], width=rgb.shape[1], encoding=encoding, is_bigendian=0,
                 step=step, data=np.frombuffer(data, np.uint8))


def _compressed_msg(stamp: float, data: bytes, fmt: str = "jpeg"):
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    Compressed, Header, Time = (store.types[n] for n in ("sensor_msgs/msg/CompressedImage", "std_msgs/msg/Header",
                                                          "builtin_interfaces/msg/Time"))
    header = Header(stamp=Time(sec=int(stamp), nanosec=0), frame_id="cam")
    return Compressed(header=header, format=fmt, data=np.frombuffer(data, np.uint8))


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
@pytest.mark.parametrize("version", [8, 9])
def test_bag_with_good_and_bad_frames(tmp_path, storage, version):
    png = cv2.imencode(".png", RGB[:, :, ::-1])[1].tobytes()
    messages = [
        ("/cam/image_raw", "sensor_msgs/msg/Image", _image_msg(10.0, RGB, "bgr8")),
        ("/cam/image_raw", "sensor_msgs/msg/Image", _image_msg(10.1, RGB, "rgb8", data=b"\x01" * 30)),
        ("/cam/image_raw", "sensor_msgs/msg/Image", _image_msg(10.2, RGB, "rgba8")),
        ("/cam/image_raw/compressed", "sensor_msgs/msg/CompressedImage", _compressed_msg(11.0, png, "png")),
        ("/cam/image_raw/compressed", "sensor_msgs/msg/CompressedImage", _compressed_msg(12.0, png[:40], "png")),
    ]
    bag = tmp_path / "bag"
    _write_bag(bag, storage, messages, version)
    source = open_source(str(bag))  # auto: the topic with the most messages
    frames = list(source)
    assert source.topic == "/cam/image_raw"
    assert [f.stamp for f in frames] == pytest.approx([10.0, 10.2])
    assert all(f.frame_id == "cam" for f in frames)
    for frame in frames:
        np.testing.assert_array_equal(frame.rgb, RGB)
    assert dict(source.skipped.counts) == {"size_mismatch": 1}

    compressed = open_source(str(bag), topic="/cam/image_raw/compressed")
    frames = list(compressed)
    assert len(frames) == 1
    np.testing.assert_array_equal(frames[0].rgb, RGB)
    assert dict(compressed.skipped.counts) == {"truncated_png": 1}

    with pytest.raises(SourceError, match="/cam/image_raw/compressed"):
        open_source(str(bag), topic="/not/there")


def test_bare_mcap_file_and_folder_without_metadata(tmp_path):
    bag = tmp_path / "bag"
    _write_bag(bag, "mcap", [("/image", "sensor_msgs/msg/Image", _image_msg(1.5, RGB))])
    (bag / "metadata.yaml").unlink()
    mcap = next(bag.glob("*.mcap"))
    assert detect_format(mcap) == "rosbag2"
    assert len(list(open_source(str(mcap)))) == 1
    assert len(list(open_source(str(bag)))) == 1


def test_bag_without_images_lists_its_topics(tmp_path):
    from rosbags.typesys import Stores, get_typestore

    String = get_typestore(Stores.ROS2_HUMBLE).types["std_msgs/msg/String"]
    bag = tmp_path / "bag"
    _write_bag(bag, "sqlite3", [("/chatter", "std_msgs/msg/String", String(data="hi"))])
    with pytest.raises(SourceError, match=r"/chatter \(std_msgs/msg/String\)"):
        open_source(str(bag))


def test_corrupt_bag_file_is_a_clear_error(tmp_path):
    fake = tmp_path / "broken.mcap"
    fake.write_bytes(b"\x89MCAP0\r\n" + b"\x00" * 50)
    with pytest.raises(SourceError, match="broken.mcap"):
        open_source(str(fake))


# ---------------------------------------------------------------------------------------- real data (../shared)
# Frame counts and rates from ../shared/DATA.md.
VIDEOS = {
    "dribble_single_person.mp4": (40, 12.0, 1080, 1920),
    "handshake_two_people.mp4": (40, 12.0, 1080, 1920),
    "hug_two_people.mp4": (72, 28.05, 1920, 1080),
    "basketball_gym.mp4": (300, 29.97, 426, 240),
    "street_walking_5frames.mp4": (5, 5.0, 960, 540),
}


@pytest.mark.parametrize("name", sorted(VIDEOS))
def test_real_videos_match_data_md(test_data, name):
    from motionllm_ros.cli import summarize_frames

    frames, fps, width, height = VIDEOS[name]
    summary = summarize_frames(open_source(str(test_data / "video" / name)))
    assert summary["frames"] == frames
    assert summary["fps"] == pytest.approx(fps, abs=0.01)
    assert (summary["width"], summary["height"]) == (width, height)
    assert summary["skipped"] == {}


@pytest.mark.parametrize("topic, msgtype", [("/image", "Image"), ("/compressed_image", "CompressedImage")])
def test_real_humble_bare_mcap(test_data, topic, msgtype):
    folder = test_data / "bags" / "humble_camera_mcap"
    source = open_source(str(folder), topic=topic)
    frames = list(source)
    assert [f.rgb.shape for f in frames] == [(480, 640, 3)]
    assert frames[0].frame_id == "base_link"
    assert frames[0].stamp == pytest.approx(1757502238.482648699)


@pytest.mark.parametrize("bag", ["malformed_sqlite3", "malformed_mcap"])
def test_real_malformed_bags_skip_every_image(test_data, bag):
    results = {}
    for topic in ("/test/sensor_msgs/image", "/test/sensor_msgs/compressed_image"):
        source = open_source(str(test_data / "bags" / bag), topic=topic)
        assert list(source) == []
        results[topic] = dict(source.skipped.counts)
    assert results == {"/test/sensor_msgs/image": {"size_mismatch": 2},
                       "/test/sensor_msgs/compressed_image": {"truncated_jpeg": 2}}


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_real_talker_bag_has_no_image_topic(test_data, storage):
    with pytest.raises(SourceError) as error:
        open_source(str(test_data / "bags" / "talker" / storage))
    assert "/topic (std_msgs/msg/String)" in str(error.value) and "/rosout" in str(error.value)


def test_frames_json_schema(test_data, capsys):
    from motionllm_ros.cli import main

    assert main(["frames", str(test_data / "bags" / "malformed_mcap"), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert {"frames", "width", "height", "fps", "skipped"} <= set(summary)
    assert summary["frames"] == 0 and summary["skipped"] == {"size_mismatch": 2}


@pytest.mark.parametrize("bag, topic, fx", [("humble_camera_mcap", "/compressed_image", 500.0),
                                            ("malformed_sqlite3", "/test/sensor_msgs/image", 525.0)])
def test_real_bags_give_their_camera_info(test_data, bag, topic, fx):
    source = open_source(str(test_data / "bags" / bag), topic=topic)
    assert source.camera_info is not None
    assert source.camera_info.k[0] == fx and (source.camera_info.width, source.camera_info.height) == (640, 480)


def test_camera_info_beside_the_image_topic_is_chosen(tmp_path):
    from rosbags.typesys import Stores, get_typestore

    types = get_typestore(Stores.ROS2_HUMBLE).types

    def info(fx):
        return types["sensor_msgs/msg/CameraInfo"](
            header=types["std_msgs/msg/Header"](stamp=types["builtin_interfaces/msg/Time"](sec=1, nanosec=0),
                                                frame_id="cam"),
            height=6, width=8, distortion_model="plumb_bob", d=np.zeros(5), k=np.array([fx, 0, 4, 0, fx, 3, 0, 0, 1.0]),
            r=np.eye(3).reshape(-1), p=np.zeros(12), binning_x=0, binning_y=0,
            roi=types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))

    bag = tmp_path / "bag"
    _write_bag(bag, "mcap", [("/left/camera_info", "sensor_msgs/msg/CameraInfo", info(100.0)),
                             ("/right/camera_info", "sensor_msgs/msg/CameraInfo", info(200.0)),
                             ("/right/image_raw", "sensor_msgs/msg/Image", _image_msg(1.0, RGB))])
    assert open_source(str(bag)).camera_info.k[0] == 200.0
    _write_video(tmp_path / "v.mp4", 3, 10.0)
    assert open_source(str(tmp_path / "v.mp4")).camera_info is None  # videos carry no calibration


def test_recorded_rate_replay_waits_for_the_stamps():
    import time

    from motionllm_ros.sources import at_recorded_rate
    from motionllm_ros.sources.base import Frame

    frames = [Frame(100.0 + 0.05 * i, RGB, "cam") for i in range(5)]
    started = time.monotonic()
    assert list(at_recorded_rate(frames)) == frames
    # Five frames 50 ms apart cannot be replayed in less than the 200 ms they span (a lower bound, not a timing).
    assert time.monotonic() - started >= 0.2 - 1e-3
