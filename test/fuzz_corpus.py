"""Generators of bad input for the CLI fuzz tests (test_fuzz_cli.py): damaged videos, bags, parameter and
annotation files, arrays, model directories and output paths, each a `Case` that names the command line to run and
what a correct outcome looks like.

Everything is built from files the generators write themselves (a small synthetic clip, bags written with
rosbags) plus, where given, the shared real data; randomness comes from `random.Random(seed)`, so every run builds
the same bytes.
"""

from __future__ import annotations

import json
import os
import random
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

SEED = 13
FAR_FUTURE_S = 1_000_000.0  # 11.6 days: a replay that waited for it would hang


@dataclass(frozen=True)
class Case:
    """One CLI run. `exits`: the exit codes a correct run may have (0: read, bad items counted; 2: unusable, one
    line). `names`: text the exit-2 line must contain (the input or option at fault). `skipped`: reasons
    `frames --json` must count. `min_frames`: frames that must be delivered when the run exits 0."""

    name: str
    argv: tuple[str, ...]
    exits: frozenset[int] = frozenset({0, 2})
    names: str = ""
    skipped: tuple[str, ...] = ()
    min_frames: int = 0
    max_frames: int | None = None
    extra: dict = field(default_factory=dict)


def ok(name: str, argv, *, skipped=(), min_frames=0, max_frames=None) -> Case:
    return Case(name, tuple(map(str, argv)), frozenset({0}), "", tuple(skipped), min_frames, max_frames)


def refused(name: str, argv, names: str) -> Case:
    return Case(name, tuple(map(str, argv)), frozenset({2}), names)


def either(name: str, argv, names: str = "") -> Case:
    return Case(name, tuple(map(str, argv)), frozenset({0, 2}), names)


# ----------------------------------------------------------------------------------------------------- pixels
def synthetic_rgb(width: int, height: int, seed: int) -> np.ndarray:
    """A deterministic picture: gradients plus noise, so that codecs have something to encode."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // max(width - 1, 1), y * 255 // max(height - 1, 1),
                     (x + y) * 127 // max(width + height - 2, 1)], axis=-1)
    return np.clip(base + rng.integers(-20, 20, base.shape), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------------------------------ videos
def write_video(path: Path, frames: int = 40, fps: float = 10.0, size: tuple[int, int] = (64, 48)) -> Path:
    import cv2

    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), fps, size)
    for i in range(frames):
        writer.write(synthetic_rgb(size[0], size[1], i)[:, :, ::-1])
    writer.release()
    return path


def _box(data: bytes | bytearray, name: bytes) -> int:
    """Offset of the first MP4 box called `name` (its size field)."""
    return data.index(name) - 4


def _grow(data: bytearray, by: int, parents: tuple[bytes, ...]) -> None:
    for name in parents:
        at = _box(data, name)
        data[at:at + 4] = struct.pack(">I", struct.unpack(">I", data[at:at + 4])[0] + by)


def mp4_with_durations(data: bytes, deltas: list[int], keep_edit_list: bool = False) -> bytes:
    """An mp4v file (index at the end, as OpenCV writes it) with one sample duration per frame: variable frame rate
    (unequal deltas) or duplicate presentation times (zero deltas). The media duration follows; with
    `keep_edit_list` the edit list still ends at the old duration, so the samples after it are not presented."""
    out = bytearray(data)
    at = _box(out, b"stts")
    size = struct.unpack(">I", out[at:at + 4])[0]
    body = struct.pack(">II", 0, len(deltas)) + b"".join(struct.pack(">II", 1, d) for d in deltas)
    new = struct.pack(">I", 8 + len(body)) + b"stts" + body
    out[at:at + size] = new
    _grow(out, len(new) - size, (b"moov", b"trak", b"mdia", b"minf", b"stbl"))
    mdhd = _box(out, b"mdhd")  # version 0: size, type, version/flags, created, modified, timescale, duration
    out[mdhd + 24:mdhd + 28] = struct.pack(">I", sum(deltas))
    if not keep_edit_list:
        edts = _box(out, b"edts")
        edts_size = struct.unpack(">I", out[edts:edts + 4])[0]
        del out[edts:edts + edts_size]
        _grow(out, -edts_size, (b"moov", b"trak"))
    return bytes(out)


def flip_bytes(data: bytes, count: int, seed: int, start: int = 0, end: int | None = None) -> bytes:
    """`count` bytes in [start, end) replaced by random values."""
    rng = random.Random(seed)
    out = bytearray(data)
    end = len(out) if end is None else end
    for _ in range(count):
        at = rng.randrange(start, end)
        out[at] = rng.randrange(256)
    return bytes(out)


def video_cases(folder: Path, data: Path | None) -> list[Case]:
    """Damaged and unusual video files, read by `motionllm frames --json`."""
    folder.mkdir(parents=True, exist_ok=True)
    clip = write_video(folder / "clip.mp4")
    raw = clip.read_bytes()
    mdat = _box(raw, b"mdat")
    cases = [ok("video/intact", ["frames", clip, "--json"], min_frames=40, max_frames=40)]
    timescale_delta = struct.unpack(">II", raw[_box(raw, b"stts") + 16:_box(raw, b"stts") + 24])[1]
    variants = {
        "vfr": mp4_with_durations(raw, [timescale_delta] * 20 + [2 * timescale_delta] * 20),
        "duplicate_stamps": mp4_with_durations(raw, [timescale_delta] * 10 + [0] * 5 + [timescale_delta] * 25),
    }
    # Samples stored after the end of the edit list are not presented by FFmpeg: read, and the rest counted.
    variants["edit_list_cut"] = mp4_with_durations(raw, [timescale_delta] * 20 + [2 * timescale_delta] * 20,
                                                   keep_edit_list=True)
    for name, content in variants.items():
        (folder / f"{name}.mp4").write_bytes(content)
    cases.append(ok("video/vfr", ["frames", folder / "vfr.mp4", "--json"], min_frames=40, max_frames=40))
    cases.append(ok("video/duplicate_stamps", ["frames", folder / "duplicate_stamps.mp4", "--json"],
                    skipped=["duplicate_stamp"], min_frames=35, max_frames=35))
    cases.append(ok("video/edit_list_cut", ["frames", folder / "edit_list_cut.mp4", "--json"],
                    skipped=["undecodable_frame"], min_frames=30, max_frames=30))
    sources = [clip] + ([data / "video" / "street_walking_5frames.mp4"] if data else [])
    for source in sources:
        content = source.read_bytes()
        stem = source.stem
        for fraction in (0.05, 0.5, 0.95):
            cut = folder / f"{stem}_cut{int(fraction * 100)}.mp4"
            cut.write_bytes(content[:int(len(content) * fraction)])
            cases.append(either(f"video/{cut.name}", ["frames", cut, "--json"], cut.name))
        start = _box(content, b"mdat") + 8 if b"mdat" in content else 64
        for seed in range(4):
            flipped = folder / f"{stem}_flip{seed}.mp4"
            flipped.write_bytes(flip_bytes(content, 40, SEED + seed, start, len(content)))
            cases.append(either(f"video/{flipped.name}", ["frames", flipped, "--json"], flipped.name))
        header = folder / f"{stem}_header.mp4"
        header.write_bytes(content[:4] + b"ftyp" + bytes(24) + content[32:])  # brand and moov start zeroed
        cases.append(either(f"video/{header.name}", ["frames", header, "--json"], header.name))
    zeroed = folder / "index_zeroed.mp4"
    moov = _box(raw, b"moov")
    zeroed.write_bytes(raw[:moov] + bytes(len(raw) - moov))
    cases.append(either("video/index_zeroed", ["frames", zeroed, "--json"], zeroed.name))
    noise = folder / "noise.mp4"
    noise.write_bytes(raw[:mdat + 8] + random.Random(SEED).randbytes(len(raw) - mdat - 8))
    cases.append(either("video/noise_payload", ["frames", noise, "--json"], noise.name))
    (folder / "empty.mp4").write_bytes(b"")
    cases.append(refused("video/empty", ["frames", folder / "empty.mp4"], "empty.mp4"))
    fifo = folder / "fifo.mp4"
    os.mkfifo(fifo)
    cases.append(refused("video/fifo", ["frames", fifo], "fifo.mp4"))
    cases.append(refused("video/dev_zero", ["frames", "/dev/zero"], "/dev/zero"))
    cases.append(refused("video/missing", ["frames", folder / "missing.mp4"], "missing.mp4"))
    return cases


# -------------------------------------------------------------------------------------------------------- bags
def _store():
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_HUMBLE)


def _header(stamp: float, frame_id: str = "cam"):
    types = _store().types
    sec = int(stamp)
    return types["std_msgs/msg/Header"](
        stamp=types["builtin_interfaces/msg/Time"](sec=sec, nanosec=int(round((stamp - sec) * 1e9)) % 1_000_000_000),
        frame_id=frame_id)


def image_msg(stamp: float, width: int, height: int, encoding: str = "rgb8", data: bytes | None = None,
              step: int | None = None, seed: int = 0):
    """A sensor_msgs/Image; without `data`, a synthetic rgb8 picture of the given size."""
    if data is None:
        data = synthetic_rgb(width, height, seed).tobytes()
        step = width * 3
    return _store().types["sensor_msgs/msg/Image"](
        header=_header(stamp), height=height, width=width, encoding=encoding, is_bigendian=0,
        step=step if step is not None else width * 3, data=np.frombuffer(data, np.uint8))


def compressed_msg(stamp: float, data: bytes, fmt: str = "jpeg"):
    return _store().types["sensor_msgs/msg/CompressedImage"](header=_header(stamp), format=fmt,
                                                             data=np.frombuffer(data, np.uint8))


def camera_info_msg(stamp: float, k: list[float], width: int, height: int):
    types = _store().types
    return types["sensor_msgs/msg/CameraInfo"](
        header=_header(stamp), height=height, width=width, distortion_model="plumb_bob", d=np.zeros(5),
        k=np.array(k, dtype=np.float64), r=np.eye(3).reshape(-1), p=np.zeros(12), binning_x=0, binning_y=0,
        roi=types["sensor_msgs/msg/RegionOfInterest"](x_offset=0, y_offset=0, height=0, width=0, do_rectify=False))


def write_bag(path: Path, storage: str, messages: list[tuple[str, object]]) -> Path:
    """A rosbag2 (directory) of (topic, message) pairs, logged at their header stamps."""
    from rosbags.rosbag2 import StoragePlugin, Writer

    store = _store()
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    with Writer(path, version=8, storage_plugin=plugin) as writer:
        connections = {}
        for topic, message in messages:
            msgtype = message.__msgtype__
            if topic not in connections:
                connections[topic] = writer.add_connection(topic, msgtype, typestore=store)
            stamp = message.header.stamp
            writer.write(connections[topic], stamp.sec * 1_000_000_000 + stamp.nanosec,
                         store.serialize_cdr(message, msgtype))
    return path


def jpeg_declaring(width: int, height: int) -> bytes:
    """A valid small JPEG whose start-of-frame segment is rewritten to declare `width` x `height`."""
    import cv2

    data = bytearray(cv2.imencode(".jpg", synthetic_rgb(16, 16, 1))[1].tobytes())
    at = data.index(b"\xff\xc0")
    data[at + 5:at + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def bad_frames_messages(t0: float = 100.0) -> list[tuple[str, object]]:
    """Good frames on /cam/image_raw with bad ones between them, a CameraInfo with inf in K, and a compressed
    topic holding a decompression bomb."""
    good = [("/cam/image_raw", image_msg(t0 + 0.1 * i, 64, 48, seed=i)) for i in range(6)]
    yuv = synthetic_rgb(63, 48, 7)[:, :, :2].tobytes()  # 2 bytes per pixel, odd width
    bad = [
        ("/cam/image_raw", image_msg(t0 + 0.61, 63, 48, "yuv422", data=yuv, step=63 * 2)),
        ("/cam/image_raw", image_msg(t0 + 0.62, 64, 48, "rgb8", data=b"\x01" * 30)),
        ("/cam/image_raw", image_msg(t0 + 0.63, 64, 48, "no_such_encoding")),
        ("/cam/image_raw", image_msg(t0 + 0.7, 32, 24, seed=9)),  # another size than the CameraInfo
    ]
    info = [("/cam/camera_info", camera_info_msg(t0, [float("inf"), 0, 32, 0, 50, 24, 0, 0, 1], 64, 48))]
    jpeg = [("/cam/image_raw/compressed", compressed_msg(t0 + 0.1 * i, jpeg_declaring(64, 48))) for i in range(2)]
    bomb = [("/cam/image_raw/compressed", compressed_msg(t0 + 0.3, jpeg_declaring(65500, 65500)))]
    return info + good[:3] + bad + good[3:] + jpeg + bomb


def multi_chunk_mcap(folder: Path, frames: int = 24) -> Path:
    """A bare .mcap of 320x240 raw frames: rosbags closes a chunk every MiB, so about one chunk per 4 frames."""
    bag = write_bag(folder / "chunks", "mcap",
                    [("/camera/image_raw", image_msg(200.0 + 0.1 * i, 320, 240, seed=i)) for i in range(frames)])
    mcap = next(bag.glob("*.mcap"))
    target = folder / "chunks.mcap"
    mcap.replace(target)
    for leftover in bag.iterdir():
        leftover.unlink()
    bag.rmdir()
    return target


def mcap_chunk_offsets(data: bytes) -> list[int]:
    """Offsets of the Chunk records (opcode 0x06) of an MCAP file, walking its records from the magic on."""
    offsets, offset = [], 8
    while offset + 9 <= len(data):
        if data[offset] == 0x06:
            offsets.append(offset)
        offset += 9 + int.from_bytes(data[offset + 1:offset + 9], "little")
    return offsets


def bag_cases(folder: Path, data: Path | None) -> list[Case]:
    """Bags with bad frames, damaged bytes, cut files, read by `motionllm frames --json`."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    messages = bad_frames_messages()
    for storage in ("mcap", "sqlite3"):
        bag = write_bag(folder / f"bad_frames_{storage}", storage, messages)
        cases.append(ok(f"bag/bad_frames_{storage}", ["frames", bag, "--json", "--topic", "/cam/image_raw"],
                        skipped=["odd_width", "size_mismatch", "unknown_encoding"], min_frames=7, max_frames=7))
        cases.append(ok(f"bag/jpeg_bomb_{storage}",
                        ["frames", bag, "--json", "--topic", "/cam/image_raw/compressed"],
                        skipped=["image_too_large"], min_frames=2, max_frames=2))
    mcap = multi_chunk_mcap(folder)
    content = mcap.read_bytes()
    for fraction in (0.3, 0.6, 0.9):
        cut = folder / f"cut{int(fraction * 100)}.mcap"
        cut.write_bytes(content[:int(len(content) * fraction)])
        # A killed recorder: everything in the complete chunks before the cut is read.
        cases.append(ok(f"bag/{cut.name}", ["frames", cut, "--json"], min_frames=int(24 * fraction) - 6))
    # The third chunk's CRC damaged: its frames are lost and counted, the chunks after it are still read.
    crc = bytearray(content)
    third = mcap_chunk_offsets(content)[2]
    crc[third + 9 + 24:third + 9 + 28] = b"\xff\xff\xff\xff"  # after start time, end time, uncompressed size
    (folder / "bad_chunk.mcap").write_bytes(bytes(crc))
    cases.append(ok("bag/bad_chunk.mcap", ["frames", folder / "bad_chunk.mcap", "--json"], skipped=["corrupt_bag"],
                    min_frames=15, max_frames=23))
    for seed in range(4):
        flipped = folder / f"flip{seed}.mcap"
        flipped.write_bytes(flip_bytes(content, 8, SEED + seed, 256, len(content) - 256))
        cases.append(either(f"bag/{flipped.name}", ["frames", flipped, "--json"], flipped.name))
    db3_bag = write_bag(folder / "pages_sqlite3", "sqlite3",
                        [("/camera/image_raw", image_msg(300.0 + 0.1 * i, 64, 48, seed=i)) for i in range(40)])
    db3 = next(db3_bag.glob("*.db3"))
    pristine = db3.read_bytes()
    rng = random.Random(SEED)
    for variant, pages in enumerate(([len(pristine) // 4096 // 2], [len(pristine) // 4096 - 2], [1, 3])):
        damaged_bag = folder / f"garbage_pages{variant}"
        damaged_bag.mkdir()
        (damaged_bag / "metadata.yaml").write_bytes((db3_bag / "metadata.yaml").read_bytes())
        damaged = bytearray(pristine)
        for page in pages:
            damaged[page * 4096:(page + 1) * 4096] = rng.randbytes(4096)
        (damaged_bag / db3.name).write_bytes(bytes(damaged))
        cases.append(either(f"bag/{damaged_bag.name}", ["frames", damaged_bag, "--json"], damaged_bag.name))
    if data:
        for name in ("malformed_mcap", "malformed_sqlite3"):
            cases.append(ok(f"bag/real_{name}", ["frames", data / "bags" / name, "--json", "--topic",
                                                 "/test/sensor_msgs/image"], skipped=["size_mismatch"]))
        real = next((data / "bags" / "humble_camera_mcap").glob("*.mcap")).read_bytes()
        real_cut = folder / "real_cut50.mcap"
        real_cut.write_bytes(real[:len(real) // 2])
        cases.append(either("bag/real_humble_cut50", ["frames", real_cut, "--json"], real_cut.name))
    return cases


def far_future_bag(folder: Path) -> Path:
    """Frames 0.1 s apart, then a stamp 11.6 days later: `run --live` must not wait for it."""
    t0 = 1_700_000_000.0
    stamps = [t0, t0 + 0.1, t0 + 0.2, t0 + FAR_FUTURE_S, t0 + FAR_FUTURE_S + 0.1]
    return write_bag(folder / "far_future", "mcap",
                     [("/camera/image_raw", image_msg(s, 64, 48, seed=i)) for i, s in enumerate(stamps)])


# ----------------------------------------------------------------------------------------------- param files
ALIAS_BOMB = "\n".join(["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
                       + [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]) + "\n"


def params_document(body: str) -> str:
    return "/**:\n  ros__parameters:\n" + "".join(f"    {line}\n" for line in body.splitlines())


def param_cases(folder: Path) -> list[Case]:
    """Bad parameter files and values, through `motionllm params` (the same loader every command uses)."""
    folder.mkdir(parents=True, exist_ok=True)
    cases = []
    files = {
        "alias_bomb.yaml": ALIAS_BOMB + "/**:\n  ros__parameters:\n    window: {length_s: 4.0}\n",
        "alias_bomb_params.yaml": ALIAS_BOMB + "/**:\n  ros__parameters:\n    pose: *a9\n",
        "recursive_alias.yaml": "/**: &r\n  ros__parameters:\n    x: *r\n",
        "invalid.yaml": "/**:\n  ros__parameters:\n    window: {length_s: [1, 2\n  bad: : :\n",
        "tabs.yaml": "/**:\n\tros__parameters: {}\n",
        "not_a_map.yaml": "- 1\n- 2\n",
        "empty.yaml": "",
        "deep.yaml": "/**:\n  ros__parameters:\n    x: " + "[" * 5000 + "]" * 5000 + "\n",
        "nan.yaml": params_document("window:\n  length_s: .nan"),
        "inf.yaml": params_document("camera:\n  hfov_deg: .inf"),
        "huge.yaml": params_document("engine:\n  frame_queue: 100000000000000000000000"),
        "wrong_type.yaml": params_document("window:\n  length_s: [1, 2]"),
        "string_for_bool.yaml": params_document("engine:\n  lossless: maybe"),
        "stride_gt_length.yaml": params_document("window:\n  length_s: 1.0\n  stride_s: 2.0"),
        "unknown.yaml": params_document("no_such: 1"),
        "huge_string.yaml": params_document("device: " + "x" * 200_000),
    }
    for name, text in files.items():
        (folder / name).write_text(text)
        cases.append(refused(f"params/{name}", ["params", "--params-file", folder / name], name))
    (folder / "binary.yaml").write_bytes(random.Random(SEED).randbytes(4096))
    cases.append(refused("params/binary", ["params", "--params-file", folder / "binary.yaml"], "binary.yaml"))
    (folder / "a_folder.yaml").mkdir()
    cases.append(refused("params/folder", ["params", "--params-file", folder / "a_folder.yaml"], "a_folder.yaml"))
    cases.append(refused("params/dev_zero", ["params", "--params-file", "/dev/zero"], "/dev/zero"))
    overrides = ["window.length_s=nan", "window.length_s=inf", "camera.hfov_deg=nan", "motion.max_gap_s=nan",
                 "window.stride_s=-inf", "window.stride_s=5", "engine.frame_queue=1e400", "engine.frame_queue=0",
                 "device=gpu", "engine.lossless=2", "pose.num_poses=NaN", "smpl.max_residual=1e999"]
    for text in overrides:
        cases.append(refused(f"params/-p {text}", ["params", "-p", text], text.split("=")[0]))
    return cases


# ------------------------------------------------------------------------------------------------------ arrays
def npy_with_header(shape: tuple[int, ...], payload: bytes, dtype: str = "<f4") -> bytes:
    """A .npy whose header claims `shape`, followed by `payload` (whatever its real size)."""
    header = f"{{'descr': '{dtype}', 'fortran_order': False, 'shape': {shape}, }}"
    header += " " * (63 - (10 + len(header)) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + payload


def array_cases(folder: Path) -> list[Case]:
    """Bad arrays for `motionllm features` (joints -> features) and `features --inverse`."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(SEED)
    arrays = {
        "strings.npy": np.array(["a", "b", "c"]),
        "nan_features.npy": np.where(rng.random((30, 263)) < 0.1, np.nan, rng.random((30, 263))).astype(np.float32),
        "inf_joints.npy": np.full((30, 22, 3), np.inf, np.float32),
        "wrong_shape.npy": rng.random((30, 7)).astype(np.float32),
        "empty.npy": np.zeros((0, 263), np.float32),
        "scalar.npy": np.float32(1.0),
        "complex.npy": np.zeros((30, 263), np.complex64),
    }
    for name, array in arrays.items():
        np.save(folder / name, array)
    (folder / "huge_header.npy").write_bytes(npy_with_header((2_200_000_000_000, 3), bytes(1024)))
    (folder / "short.npy").write_bytes(npy_with_header((30, 263), bytes(100)))
    (folder / "garbage.npy").write_bytes(random.Random(SEED).randbytes(2000))
    np.save(folder / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    (folder / "not_a_zip.npz").write_bytes(b"PK\x03\x04" + random.Random(SEED).randbytes(500))
    cases = []
    for path in sorted(folder.glob("*.np[yz]")):
        for inverse in (False, True):
            argv = ["features", path, "--out", folder / f"out_{path.stem}_{int(inverse)}.npy"]
            argv += ["--inverse"] if inverse else []
            cases.append(refused(f"arrays/{path.name}{' --inverse' if inverse else ''}", argv, path.name))
    return cases


# ------------------------------------------------------------------------------------------------- annotations
def label_cases(folder: Path, video: Path) -> list[Case]:
    """Bad annotation files for `motionllm eval` that must be refused before any recording runs."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {
        "alias_bomb_labels.yaml": ALIAS_BOMB + "recordings: [{path: x.mp4, captions: *a9}]\n",
        "invalid_labels.yaml": "recordings: [\n  {path: : }\n",
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    (folder / "binary_labels.yaml").write_bytes(random.Random(SEED).randbytes(2048))
    (folder / "folder_labels.yaml").mkdir()
    names = list(files) + ["binary_labels.yaml", "folder_labels.yaml"]
    return [refused(f"labels/{name}", ["eval", video, "--labels", folder / name, "--out", folder / "out",
                                       "--pose-model", folder / "unused.task"], name) for name in names]


# ------------------------------------------------------------------------------------------------ output paths
def output_cases(folder: Path, video: Path, features: Path) -> list[Case]:
    """Outputs that cannot be written, refused before the work (models are never loaded: the pose model named
    does not exist, so a command that started its work would fail on it instead)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "existing_folder").mkdir(exist_ok=True)
    pose = ["--pose-model", folder / "no_such_model.task"]
    bad_files = {"missing_folder": folder / "no" / "such" / "out.x", "dev_full": Path("/dev/full"),
                 "proc": Path("/proc/motionllm_fuzz.x"), "folder": folder / "existing_folder"}
    cases = []
    for name, path in bad_files.items():
        cases.append(refused(f"out/pose {name}", ["pose", video, "--out", path, *pose], str(path)))
        cases.append(refused(f"out/features {name}", ["features", features, "--out", path], str(path)))
        cases.append(refused(f"out/run --out {name}", ["run", video, "--out", path, *pose], str(path)))
        cases.append(refused(f"out/run --mcap {name}", ["run", video, "--mcap", path, *pose], str(path)))
        cases.append(refused(f"out/record-bag {name}", ["record-bag", video, "--out", path], str(path)))
    cases.append(refused("out/run --out empty", ["run", video, "--out", "", *pose], "--out"))
    (folder / "labels.yaml").write_text(f"recordings: [{{path: {video}}}]\n")
    cases.append(refused("out/eval proc", ["eval", video, "--labels", folder / "labels.yaml", "--out",
                                           "/proc/motionllm_fuzz", *pose], "/proc/motionllm_fuzz"))
    cases.append(refused("out/record-bag scale 200", ["record-bag", video, "--out", folder / "big.mcap",
                                                      "--scale", "200"], "scale"))
    return cases


def argument_cases(video: Path, folder: Path) -> list[Case]:
    """Numeric options out of range: argparse refuses them, naming the option."""
    pose = ["--pose-model", folder / "no_such_model.task"]
    return [
        refused("args/run --limit 0", ["run", video, "--limit", "0", *pose], "--limit"),
        refused("args/frames --limit -3", ["frames", video, "--limit", "-3"], "--limit"),
        refused("args/eval --workers 0", ["eval", "--labels", "x", "--out", folder, "--workers", "0", *pose],
                "--workers"),
        refused("args/eval --iou nan", ["eval", "--labels", "x", "--out", folder, "--iou", "nan", *pose], "--iou"),
        refused("args/eval --iou 7", ["eval", "--labels", "x", "--out", folder, "--iou", "7", *pose], "--iou"),
        refused("args/features --max-gap nan", ["features", video, "--out", folder / "f.npy", "--max-gap", "nan"],
                "--max-gap"),
    ]


# ------------------------------------------------------------------------------------------------ model dirs
def model_dir_cases(folder: Path, tiny: Path, video: Path) -> list[Case]:
    """Damaged copies of a tiny model directory, loaded by `motionllm describe` and `motionllm run --model`: each is
    refused in one line that names the damaged file."""
    import shutil

    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(SEED)

    def truncate(path: Path) -> None:
        path.write_bytes(path.read_bytes()[:path.stat().st_size // 2])

    damages = {
        "llm/model.safetensors": truncate,
        "video_projector.safetensors": lambda path: path.write_bytes(b"\xff" * 8 + rng.randbytes(200)),
        "llm/tokenizer.model": lambda path: path.write_bytes(rng.randbytes(3000)),
        "llm/config.json": lambda path: path.write_text("{not json"),
        "motionllm.json": lambda path: path.write_text("{\"format\": "),
    }
    cases = []
    for index, (name, damage) in enumerate(damages.items()):
        copy = folder / f"damaged{index}"
        shutil.copytree(tiny, copy)
        damage(copy / name)
        cases.append(refused(f"model/describe {name}", ["describe", video, "--model", copy], name))
    manifest = json.loads((tiny / "motionllm.json").read_text())
    for index, change in enumerate(({"llm": {"n_embd": "wide"}}, {"llm": None}, {"format": 99})):
        copy = folder / f"manifest{index}"
        shutil.copytree(tiny, copy)
        (copy / "motionllm.json").write_text(json.dumps({**manifest, **change}))
        cases.append(refused(f"model/describe manifest {change}", ["describe", video, "--model", copy],
                             "motionllm.json"))
    cases.append(refused("model/run --model device=cuda", ["run", video, "--model", tiny, "--pose-model",
                                                           folder / "unused.task", "-p", "device=cuda"], "cuda"))
    return cases


def release_cases(folder: Path, release: dict[str, Path]) -> list[Case]:
    """`motionllm convert` with one file of a (tiny) official release replaced by something else."""
    import zipfile

    folder.mkdir(parents=True, exist_ok=True)
    flags = {"lit_model": "--lit-model", "lora": "--lora", "video_projector": "--video-projector",
             "tokenizer": "--tokenizer"}
    text = folder / "text.txt"
    text.write_text("not a checkpoint\n" * 20)
    cut_zip = folder / "cut.pth"
    cut_zip.write_bytes(release["lora"].read_bytes()[:release["lora"].stat().st_size // 2])
    not_torch = folder / "plain.zip"
    with zipfile.ZipFile(not_torch, "w") as archive:
        archive.writestr("readme.txt", "hello")
    replacements = [("lit_model", text), ("lora", cut_zip), ("video_projector", not_torch), ("tokenizer", text),
                    ("tokenizer", release["lora"])]
    cases = []
    for index, (key, bad) in enumerate(replacements):
        argv = ["convert", "--out", folder / f"out{index}", "--dtype", "float32"]
        for name, flag in flags.items():
            argv += [flag, bad if name == key else release[name]]
        cases.append(refused(f"convert/{key}={bad.name}", argv, bad.name))
    return cases


def annotation_content_cases(folder: Path, video: Path, pose_model: Path) -> list[Case]:
    """Annotation files whose YAML is fine but whose content is not: a label that is a list, a recording listed
    twice (it would be scored twice)."""
    folder.mkdir(parents=True, exist_ok=True)
    interval = "{start_s: 0, end_s: 1, label: %s}"
    files = {
        "label_list.yaml": f"recordings:\n  - path: {video}\n    intervals: [{interval % '[walking]'}]\n",
        "listed_twice.yaml": "labels: [walking]\nrecordings:\n"
                             + f"  - path: {video}\n    intervals: [{interval % 'walking'}]\n" * 2,
    }
    cases = []
    for name, text in files.items():
        (folder / name).write_text(text)
        cases.append(refused(f"labels/{name}", ["eval", "--labels", folder / name, "--out", folder / f"out_{name}",
                                                "--pose-model", pose_model, "--no-mcap"], name))
    return cases
