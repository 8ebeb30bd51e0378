"""`motionllm run`: the engine over real clips and over a rosbag2 recording written from one."""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest

from motionllm_ros.cli import main
from motionllm_ros.sources import open_source


def _run(args, tmp_path, name):
    out = tmp_path / f"{name}.jsonl"
    assert main(["run", *args, "--out", str(out)]) == 0
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_run_on_a_clip_prints_windows_at_the_stride(test_data, pose_model_path, tmp_path, capsys):
    clip = str(test_data / "video" / "dribble_single_person.mp4")
    records = _run([clip, "--pose-model", str(pose_model_path), "-p", "window.length_s=2.0",
                    "-p", "window.stride_s=0.5"], tmp_path, "dribble")
    assert [x for r in records for x in (r["window_start"], r["window_end"])] == pytest.approx(
        [0.0, 2.0, 0.5, 2.5, 1.0, 3.0, 1.5, 3.25])
    assert all(r["model_id"] == "primitives" and r["input"] == clip for r in records)
    assert all(r["description"] and len(r["labels"]) == len(r["scores"]) for r in records)
    printed = capsys.readouterr().out
    assert printed.count("track") >= 4 and "40 processed, 0 dropped" in printed


def test_run_with_a_model_says_which_model_wrote_the_text(test_data, pose_model_path, tmp_path, capsys):
    pytest.importorskip("transformers")
    from motionllm_ros.model.checkpoint import make_tiny_checkpoint

    clip = str(test_data / "video" / "dribble_single_person.mp4")
    model = make_tiny_checkpoint(tmp_path / "tiny")
    records = _run([clip, "--pose-model", str(pose_model_path), "--model", str(model), "-p", "model.max_new_tokens=4",
                    "-p", f"video.engine_cache_dir={tmp_path / 'engines'}",
                    "-p", "window.length_s=2.0", "-p", "window.stride_s=1.0"], tmp_path, "model")
    assert len(records) == 3
    assert all(r["model_id"] == "tiny (random weights)" and r["labels"] for r in records)
    assert main(["run", clip, "--pose-model", str(pose_model_path), "--model", str(tmp_path / "missing")]) == 2
    assert "motionllm.json" in capsys.readouterr().err


def _write_bag_from_clip(clip, bag, storage):
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_typestore

    store = get_typestore(Stores.ROS2_HUMBLE)
    types = store.types
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(bag, version=8, storage_plugin=plugin) as writer:
        connection = writer.add_connection("/camera/image_raw/compressed", "sensor_msgs/msg/CompressedImage",
                                           typestore=store)
        for frame in open_source(clip):
            small = cv2.resize(frame.rgb, (frame.rgb.shape[1] // 2, frame.rgb.shape[0] // 2))
            jpeg = cv2.imencode(".jpg", small[:, :, ::-1])[1]
            stamp = 1_700_000_000 + frame.stamp
            sec = int(stamp)
            header = types["std_msgs/msg/Header"](
                stamp=types["builtin_interfaces/msg/Time"](sec=sec, nanosec=int(round((stamp - sec) * 1e9))),
                frame_id="camera")
            message = types["sensor_msgs/msg/CompressedImage"](header=header, format="jpeg",
                                                                data=np.asarray(jpeg, np.uint8).reshape(-1))
            writer.write(connection, int(stamp * 1e9), store.serialize_cdr(message, "sensor_msgs/msg/CompressedImage"))


@pytest.mark.parametrize("storage", ["sqlite3", "mcap"])
def test_bag_replay_is_repeatable_in_lossless_mode(test_data, pose_model_path, tmp_path, storage):
    bag = tmp_path / "bag"
    _write_bag_from_clip(str(test_data / "video" / "dribble_single_person.mp4"), bag, storage)
    args = [str(bag), "--pose-model", str(pose_model_path), "-p", "window.length_s=2.0", "-p", "window.stride_s=1.0"]
    first, second = _run(args, tmp_path, "first"), _run(args, tmp_path, "second")
    assert len(first) >= 2 and all(r["frame_id"] == "camera" for r in first)
    assert first[0]["window_end"] == pytest.approx(1_700_000_002.0)
    keys = ("window_start", "window_end", "description", "labels", "scores", "num_frames", "num_valid")
    assert [[r[k] for k in keys] for r in first] == [[r[k] for k in keys] for r in second]


def test_run_records_images_and_descriptions_into_mcap(test_data, pose_model_path, tmp_path):
    from pathlib import Path

    from rosbags.highlevel import AnyReader

    bag = tmp_path / "bag"
    assert main(["record-bag", str(test_data / "video" / "dribble_single_person.mp4"), "--out", str(bag),
                 "--storage", "sqlite3", "--scale", "0.5"]) == 0
    mcap = tmp_path / "out.mcap"
    records = _run([str(bag), "--pose-model", str(pose_model_path), "--mcap", str(mcap), "-p", "window.length_s=2.0",
                    "-p", "window.stride_s=1.0"], tmp_path, "bag")
    with AnyReader([Path(mcap)]) as reader:  # definitions from the file itself, as Foxglove reads them
        counts = {c.topic: c.msgcount for c in reader.connections}
        behavior = [reader.deserialize(raw, c.msgtype) for c, _, raw in
                    reader.messages(connections=[c for c in reader.connections if c.topic == "/motionllm/behavior"])]
    assert counts["/camera/image_raw/compressed"] == 40 and counts["/camera/camera_info"] == 40
    assert [m.description for m in behavior] == [r["description"] for r in records]
    assert [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in behavior] == pytest.approx(
        [r["window_end"] for r in records])
    # Each label's span, in data time inside its window, as the JSONL has it.
    seconds = [[t.sec + t.nanosec * 1e-9 for t in m.label_starts + m.label_ends] for m in behavior]
    assert seconds == [pytest.approx([s for s, _ in r["details"]["label_spans"]] +
                                     [e for _, e in r["details"]["label_spans"]]) for r in records]
    assert any(m.labels for m in behavior) and all(len(m.label_starts) == len(m.labels) for m in behavior)
    assert all(r["window_start"] - 1e-6 <= s <= e <= r["window_end"] + 1e-6
               for r in records for s, e in r["details"]["label_spans"])
    assert {m.ego_motion for m in behavior} <= {"none", "image"}


def test_hug_clip_reads_standing_throughout(test_data, pose_model_path, tmp_path):
    # Ground truth, from the 72 frames viewed one by one (feet cropped at full resolution, ankle landmarks of both
    # men followed): nobody walks. Both pairs of feet stay where they are for the whole clip. The man in black,
    # track 1 (the only person MediaPipe finds in the first frame), turns to his right to face the man in
    # grey between about frames 18 and 42 (stamps 0.6-1.4 s), then they hug until the end; the man in grey
    # leans in. With our default pose.min_tracking_confidence (0.85) both men are found; at MediaPipe's 0.5 the
    # two, side by side, share one detection slot and the target is missing from 29 of the 72 frames.
    clip = str(test_data / "video" / "hug_two_people.mp4")
    everyone = _run([clip, "--pose-model", str(pose_model_path), "-p", "window.length_s=1.5", "-p",
                     "window.stride_s=0.25"], tmp_path, "hug")
    # Both men are described in every window (the man in grey, track 2, too: see test_engine); here, the man in
    # black.
    assert {r["track_id"] for r in everyone} == {1, 2}
    records = [r for r in everyone if r["track_id"] == 1]
    # Windows every stride of source time, the last one at the last frame: the file stamps its frames 1/30 s apart
    # except for a 0.2 s gap between frames 66 and 67, so the 72nd frame is at 76 / 30 s.
    assert [r["window_end"] for r in records] == pytest.approx([1.5, 1.75, 2.0, 2.25, 2.5, 76 / 30])
    # The last window is the next one of the stride grid (1.25 .. 2.75) clipped to the last frame.
    assert records[-1]["window_start"] == pytest.approx(1.25)
    assert all(r["num_valid"] == r["num_frames"] for r in records)  # no frame lost to the other man
    for r in records:
        assert {"standing", "still"} <= set(r["labels"]), r
        assert not {"walking", "running", "turning_left"} & set(r["labels"]), r
    # A window holding the turn (about 0.75-1.8 s) and its new facing held for turn_hold_s after it (the one
    # ending at 2.25 s) sees it; the turn is to his right, in every window that measures one.
    assert any("turning_right" in r["labels"] for r in records[1:4])
    assert all(r["details"]["turn_deg"] <= 0 for r in records) and records[3]["details"]["turn_deg"] < -45
