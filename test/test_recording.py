"""Recordings out (motionllm_ros.recording) and the interface typestore lookup (motionllm_ros.typestore).

Clips are written at scale 0.25 (270x480 from the 1080x1920 dribble clip) to keep the files and the test small;
the scale path is what `record-bag --scale` runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from motionllm_ros.engine import Description
from motionllm_ros.perception.camera import Intrinsics
from motionllm_ros.recording import (
    VIDEO_EPOCH_OFFSET_S,
    BagRecorder,
    RecordingError,
    record_bag,
)
from motionllm_ros.ros.conversions import camera_info_topic
from motionllm_ros.sources import SourceError, open_source
from motionllm_ros.typestore import (
    PACKAGE,
    InterfaceDefinitionError,
    candidate_roots,
    find_interface_root,
    make_typestore,
)

REPO_ROOT = Path(__file__).resolve().parents[1]
CLIP = "video/dribble_single_person.mp4"  # 1080x1920 portrait, 12 fps, 40 frames (DATA.md)
SCALE = 0.25
NS = 1_000_000_000


def _messages(path: Path, topic: str) -> list[tuple[int, object]]:
    """(log time ns, message) of `topic`, decoded with the definitions stored in the recording itself."""
    from rosbags.highlevel import AnyReader

    with AnyReader([path]) as reader:
        connections = [c for c in reader.connections if c.topic == topic]
        return [(t, reader.deserialize(raw, c.msgtype)) for c, t, raw in reader.messages(connections=connections)]


@pytest.mark.parametrize("storage, compressed, distro, name", [
    ("mcap", False, "humble", "clip.mcap"),  # one self-contained file
    ("mcap", True, "jazzy", "clip_bag"),  # rosbag2 directory
    ("sqlite3", False, "jazzy", "clip_bag"),
    ("sqlite3", True, "humble", "clip_bag"),
])
def test_record_bag_reads_back_as_the_clip(test_data: Path, tmp_path: Path, storage: str, compressed: bool,
                                           distro: str, name: str) -> None:
    out = tmp_path / name
    summary = record_bag(test_data / CLIP, out, storage=storage, compressed=compressed, distro=distro,
                         frame_id="head_camera", scale=SCALE)

    assert summary["frames"] == 40 and (summary["width"], summary["height"]) == (270, 480)
    assert summary["stamp_offset_s"] == VIDEO_EPOCH_OFFSET_S
    image_topic = "/camera/image_raw/compressed" if compressed else "/camera/image_raw"
    assert summary["image_topic"] == image_topic and summary["camera_info_topic"] == "/camera/camera_info"
    assert out.is_file() == (name.endswith(".mcap"))
    assert not list(tmp_path.glob(".*"))  # no staging folder left behind

    video = list(open_source(str(test_data / CLIP)))
    source = open_source(str(out))
    frames = list(source)
    assert source.topic == image_topic
    assert len(frames) == 40 and sum(source.skipped.counts.values()) == 0
    assert {f.rgb.shape for f in frames} == {(480, 270, 3)}
    assert {f.frame_id for f in frames} == {"head_camera"}
    stamps = np.array([f.stamp for f in frames]) - VIDEO_EPOCH_OFFSET_S
    # Presentation times of a 12 fps clip: frame i at i/12 s (OpenCV reports whole milliseconds).
    np.testing.assert_allclose(stamps, np.arange(40) / 12.0, atol=1e-3)
    np.testing.assert_allclose(stamps, [f.stamp for f in video], atol=1e-6)

    import cv2

    expected = cv2.resize(video[7].rgb, (270, 480), interpolation=cv2.INTER_AREA)
    difference = np.abs(frames[7].rgb.astype(np.int16) - expected).mean()
    if compressed:
        assert 0.0 < difference < 3.0  # JPEG quality 90: close, not equal
    else:
        assert difference == 0.0

    infos = _messages(out, "/camera/camera_info")
    assert len(infos) == 40
    intrinsics = Intrinsics.default(270, 480)
    log_ns, info = infos[5]
    assert (info.width, info.height, info.header.frame_id) == (270, 480, "head_camera")
    np.testing.assert_allclose(info.k, [intrinsics.fx, 0, intrinsics.cx, 0, intrinsics.fy, intrinsics.cy, 0, 0, 1])
    np.testing.assert_allclose(info.p[[0, 2, 5, 6, 10]], [intrinsics.fx, intrinsics.cx, intrinsics.fy,
                                                           intrinsics.cy, 1])
    assert info.header.stamp.sec * NS + info.header.stamp.nanosec == log_ns  # log time = data time
    assert abs(log_ns / NS - frames[5].stamp) < 1e-6


def _description(end: float, *, track: int | None, labels: tuple[str, ...], scores: tuple[float, ...],
                 text: str) -> Description:
    return Description(window_start=end - 4.0, window_end=end, frame_id="camera", track_id=track, num_frames=12,
                       num_valid=11, text=text, labels=labels, scores=scores, confidence=max(scores, default=0.0),
                       model_id="primitives", latency_s=0.125)


@pytest.mark.parametrize("distro", ["humble", "jazzy"])
def test_behavior_descriptions_decode_from_the_file_definitions(tmp_path: Path, distro: str) -> None:
    from rosbags.typesys import Stores, get_typestore

    descriptions = [
        _description(1.5, track=None, labels=("standing",), scores=(0.75,), text="one person standing"),
        _description(6.25, track=3, labels=("walking", "waving_right_hand"), scores=(0.5, 0.25),
                     text="one person walking, right arm waving"),
        _description(7.25, track=3, labels=(), scores=(), text="one person"),
    ]
    out = tmp_path / "behavior.mcap"
    with BagRecorder(out, distro=distro, stamp_offset_s=VIDEO_EPOCH_OFFSET_S) as recorder:
        for description in descriptions:
            recorder.write_description(description)
    assert recorder.output == out and recorder.counts == {"/motionllm/behavior": 3}

    # The stock typestore knows nothing of our type: whatever decodes it below came from the file's own schema.
    stock = get_typestore(Stores.ROS2_HUMBLE if distro == "humble" else Stores.ROS2_JAZZY)
    assert f"{PACKAGE}/msg/BehaviorDescription" not in stock.types
    from rosbags.highlevel import AnyReader

    with AnyReader([out]) as reader:
        (connection,) = reader.connections
        assert connection.msgtype == f"{PACKAGE}/msg/BehaviorDescription"
        assert "MSG: std_msgs/Header" in connection.msgdef.data  # dependencies embedded for other tools
        read = [(t, reader.deserialize(raw, connection.msgtype)) for _, t, raw in reader.messages()]

    assert len(read) == 3
    first_ns, first = read[0]
    # Window end 1.5 s of data time -> header stamp 1.5 s after the epoch offset, also the log time.
    assert (first.header.stamp.sec, first.header.stamp.nanosec) == (VIDEO_EPOCH_OFFSET_S + 1, 500_000_000)
    assert first_ns == (VIDEO_EPOCH_OFFSET_S + 1) * NS + 500_000_000
    assert first.window_end == first.header.stamp
    # 1.5 - 4 s would be before the stream began: clamped at 0, i.e. at the offset.
    assert (first.window_start.sec, first.window_start.nanosec) == (VIDEO_EPOCH_OFFSET_S, 0)
    assert first.track_id == -1 and first.header.frame_id == "camera" and first.num_frames == 12
    assert list(first.labels) == ["standing"] and first.scores.tolist() == [0.75]
    assert first.description == "one person standing" and first.model_id == "primitives"
    assert first.latency_sec == 0.125 and first.confidence == 0.75

    _, second = read[1]
    assert second.track_id == 3
    assert (second.window_start.sec, second.window_start.nanosec) == (VIDEO_EPOCH_OFFSET_S + 2, 250_000_000)
    assert list(second.labels) == ["walking", "waving_right_hand"] and second.scores.tolist() == [0.5, 0.25]
    assert list(read[2][1].labels) == [] and read[2][1].scores.size == 0


def test_recording_interrupted_by_an_error_stays_readable(test_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "interrupted.mcap"
    frames = iter(open_source(str(test_data / CLIP)))
    with pytest.raises(KeyboardInterrupt):
        with BagRecorder(out, compressed=True) as recorder:
            for _ in range(3):
                recorder.write_frame(next(frames))
            raise KeyboardInterrupt
    assert len(list(open_source(str(out)))) == 3


def test_missing_video_is_a_source_error_and_writes_nothing(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="missing.mp4"):
        record_bag(tmp_path / "missing.mp4", tmp_path / "out.mcap")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("existing", ["out.mcap", "out_bag"])
def test_existing_output_is_refused_by_name(test_data: Path, tmp_path: Path, existing: str) -> None:
    out = tmp_path / existing
    out.mkdir() if existing.endswith("_bag") else out.write_bytes(b"keep me")
    with pytest.raises(RecordingError, match=f"{out}.*already exists"):
        record_bag(test_data / CLIP, out, scale=SCALE)
    assert out.is_dir() if existing.endswith("_bag") else out.read_bytes() == b"keep me"


def test_bad_options_are_named(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="storage 'mcap'"):
        BagRecorder(tmp_path / "x.mcap", storage="sqlite3")
    with pytest.raises(RecordingError, match="'rolling'"):
        BagRecorder(tmp_path / "x", distro="rolling")
    with pytest.raises(RecordingError, match="'lz4'"):
        BagRecorder(tmp_path / "x", storage="lz4")
    with pytest.raises(RecordingError, match="absolute topic"):
        BagRecorder(tmp_path / "x", image_topic="camera/image_raw")
    with pytest.raises(RecordingError, match="scale"):
        record_bag(tmp_path / "missing.mp4", tmp_path / "x", scale=0.0)
    assert list(tmp_path.iterdir()) == []


def test_bad_frame_is_refused_with_its_shape(tmp_path: Path) -> None:
    from motionllm_ros.sources import Frame

    with BagRecorder(tmp_path / "x.mcap") as recorder:
        with pytest.raises(RecordingError, match=r"float64 \(4, 4, 3\)"):
            recorder.write_frame(Frame(0.5, np.zeros((4, 4, 3)), "camera"))


def test_camera_info_topic_follows_image_transport() -> None:
    assert camera_info_topic("/camera/image_raw") == "/camera/camera_info"
    assert camera_info_topic("/robot/head/rgb/image_rect") == "/robot/head/rgb/camera_info"
    assert camera_info_topic("/image") == "/camera_info"


# ------------------------------------------------------------------------------------------ typestore lookup
def test_interfaces_are_found_in_the_checkout() -> None:
    assert find_interface_root() == REPO_ROOT
    store = make_typestore("jazzy")  # found without being told where
    assert f"{PACKAGE}/action/DescribeBehavior_Feedback" in store.types


def test_ament_prefixes_are_searched(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AMENT_PREFIX_PATH", f"{tmp_path / 'overlay'}:{tmp_path / 'install'}")
    roots = candidate_roots()
    assert roots[1:3] == [tmp_path / "overlay" / "share" / PACKAGE, tmp_path / "install" / "share" / PACKAGE]

    # An installed share/motionllm_ros: package.xml and the interface folders rosidl installs.
    share = tmp_path / "install" / "share" / PACKAGE
    for folder in ("msg", "srv", "action"):
        (share / folder).mkdir(parents=True)
        for path in (REPO_ROOT / folder).iterdir():
            (share / folder / path.name).write_bytes(path.read_bytes())
    (share / "package.xml").write_bytes((REPO_ROOT / "package.xml").read_bytes())
    stray = tmp_path / "site-packages"
    (stray / "msg").mkdir(parents=True)  # a msg/ folder without package.xml is not ours
    assert find_interface_root([stray, tmp_path / "overlay" / "share" / PACKAGE, share]) == share
    assert f"{PACKAGE}/msg/SmplPose" in make_typestore("humble", find_interface_root([stray, share])).types


def test_missing_interfaces_name_where_they_were_looked_for(tmp_path: Path) -> None:
    nowhere = [tmp_path / "a", tmp_path / "b" / "share" / PACKAGE]
    with pytest.raises(InterfaceDefinitionError, match=f"{nowhere[0]}, {nowhere[1]}"):
        find_interface_root(nowhere)


@pytest.mark.parametrize("clip, scale, hint", [("street_walking_5frames.mp4", 0.5, False),
                                               ("hug_two_people.mp4", 0.5, True)])
def test_record_bag_says_the_raw_size_before_writing(test_data: Path, tmp_path: Path, capsys, clip: str,
                                                     scale: float, hint: bool) -> None:
    from motionllm_ros.cli import main

    out = tmp_path / "raw.mcap"
    assert main(["record-bag", str(test_data / "video" / clip), "--out", str(out), "--scale", str(scale)]) == 0
    said = capsys.readouterr().err
    megabytes = float(said.split("about ")[1].split(" MB")[0])
    assert megabytes == pytest.approx(out.stat().st_size / 1e6, rel=0.05)  # the estimate is what gets written
    assert ("--compressed" in said) == hint  # suggested above 100 MB (the hug clip at half size: 112 MB)
    assert main(["record-bag", str(test_data / "video" / clip), "--out", str(tmp_path / "c.mcap"), "--scale",
                 str(scale), "--compressed"]) == 0
    assert "about" not in capsys.readouterr().err
