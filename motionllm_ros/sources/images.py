"""sensor_msgs/Image and CompressedImage payloads -> validated RGB arrays, with numpy and OpenCV only.

Shared by the rosbag2 reader and the ROS node, so a frame is judged the same way live and offline, and so the node
does not depend on cv_bridge (whose binaries break under numpy 2). Every rejection raises `BadFrame` with a short
reason key that the caller counts.
"""

from __future__ import annotations

import numpy as np

from motionllm_ros.sources.base import BadFrame


# encoding -> (channels, numpy dtype, OpenCV conversion to RGB or None when the layout already is RGB).
# The cv2 constants are looked up by name so that importing this module does not import cv2.
_ENCODINGS: dict[str, tuple[int, str, str | None]] = {
    "rgb8": (3, "u1", None),
    "bgr8": (3, "u1", "COLOR_BGR2RGB"),
    "rgba8": (4, "u1", "COLOR_RGBA2RGB"),
    "bgra8": (4, "u1", "COLOR_BGRA2RGB"),
    "mono8": (1, "u1", "COLOR_GRAY2RGB"),
    "8UC1": (1, "u1", "COLOR_GRAY2RGB"),
    "8UC3": (3, "u1", "COLOR_BGR2RGB"),  # OpenCV's default channel order, as cv_bridge assumes
    "rgb16": (3, "u2", None),
    "bgr16": (3, "u2", "COLOR_BGR2RGB"),
    "rgba16": (4, "u2", "COLOR_RGBA2RGB"),
    "bgra16": (4, "u2", "COLOR_BGRA2RGB"),
    "mono16": (1, "u2", "COLOR_GRAY2RGB"),
    "16UC1": (1, "u2", "COLOR_GRAY2RGB"),
    # sensor_msgs' "yuv422" is UYVY byte order; "yuv422_yuy2" is YUYV. Two bytes per pixel.
    "yuv422": (2, "u1", "COLOR_YUV2RGB_UYVY"),
    "uyvy": (2, "u1", "COLOR_YUV2RGB_UYVY"),
    "yuv422_yuy2": (2, "u1", "COLOR_YUV2RGB_YUY2"),
    "yuyv": (2, "u1", "COLOR_YUV2RGB_YUY2"),
    # Bayer: OpenCV names the pattern by the second row, hence rggb -> BG (the mapping cv_bridge uses).
    "bayer_rggb8": (1, "u1", "COLOR_BayerBG2RGB"),
    "bayer_bggr8": (1, "u1", "COLOR_BayerRG2RGB"),
    "bayer_gbrg8": (1, "u1", "COLOR_BayerGR2RGB"),
    "bayer_grbg8": (1, "u1", "COLOR_BayerGB2RGB"),
}

SUPPORTED_ENCODINGS = tuple(_ENCODINGS)

# Largest image decoded: 8192 x 8192. A compressed image's header can declare any size (65500 x 65500 is 12 GB of
# RGB) in a few bytes, so the declared size is checked before OpenCV allocates anything.
MAX_PIXELS = 8192 * 8192


def image_to_rgb(height: int, width: int, encoding: str, is_bigendian: int, step: int, data) -> np.ndarray:
    """The fields of a sensor_msgs/Image -> (height, width, 3) uint8 RGB.

    `data` is whatever the message carries (bytes, array.array('B') from rclpy, numpy uint8 from rosbags); it is
    viewed, not copied, until the final conversion. 16-bit images keep their top 8 bits (value >> 8): a fixed,
    scene-independent mapping, so the same pixel gives the same value in every frame.
    """
    if encoding not in _ENCODINGS:
        raise BadFrame("unknown_encoding", f"encoding {encoding!r} is not one of {', '.join(SUPPORTED_ENCODINGS)}")
    channels, kind, conversion = _ENCODINGS[encoding]
    if height <= 0 or width <= 0:
        raise BadFrame("empty_image", f"image is {width}x{height}")
    itemsize = np.dtype(kind).itemsize
    row_bytes = width * channels * itemsize
    if channels == 2 and width % 2:
        # YUV 4:2:2 stores one U/V pair per two pixels: an odd width has no valid layout (OpenCV asserts on it).
        raise BadFrame("odd_width", f"{encoding} needs an even width, got {width}")
    if step < row_bytes:
        raise BadFrame("step_too_small", f"step {step} < width {width} x {channels} channels x {itemsize} bytes")
    buffer = np.frombuffer(data, dtype=np.uint8)
    if buffer.size != step * height:
        raise BadFrame("size_mismatch", f"{buffer.size} bytes of data, expected step {step} x height {height} "
                                        f"= {step * height} ({encoding} {width}x{height})")
    # Rows may be padded (step > row_bytes): cut each row to its pixels before reinterpreting.
    rows = buffer.reshape(height, step)[:, :row_bytes]
    dtype = np.dtype(kind).newbyteorder(">" if is_bigendian else "<")
    pixels = rows.view(dtype) if rows.flags.c_contiguous else np.ascontiguousarray(rows).view(dtype)
    pixels = pixels.reshape(height, width, channels)
    if itemsize == 2:
        pixels = (pixels >> 8).astype(np.uint8)
    if conversion is None:
        return np.ascontiguousarray(pixels)
    import cv2

    source = pixels[:, :, 0] if channels == 1 else pixels
    try:
        return cv2.cvtColor(np.ascontiguousarray(source), getattr(cv2, conversion))
    except cv2.error as error:  # any layout OpenCV refuses is this frame's problem, not the run's
        raise BadFrame("decode_failed", f"OpenCV cannot convert {encoding} {width}x{height}: "
                                        f"{_one_line(error)}") from None


def compressed_to_rgb(format: str, data) -> np.ndarray:
    """The fields of a sensor_msgs/CompressedImage (JPEG or PNG) -> (H, W, 3) uint8 RGB.

    The container is recognised from its bytes, not from `format` (image_transport writes strings such as
    "rgb8; jpeg compressed bgr8"). OpenCV happily decodes a truncated JPEG into a half-grey picture, so the end
    marker is checked first: a truncated frame is rejected rather than fed to the pose estimator.
    """
    buffer = np.frombuffer(data, dtype=np.uint8)
    head = buffer[:8].tobytes()
    if head.startswith(b"\xff\xd8"):
        # The image ends at the EOI marker; some encoders pad after it.
        if b"\xff\xd9" not in buffer[-64:].tobytes():
            raise BadFrame("truncated_jpeg", f"{buffer.size}-byte JPEG has no end-of-image marker")
    elif head == b"\x89PNG\r\n\x1a\n":
        if b"IEND" not in buffer[-16:].tobytes():
            raise BadFrame("truncated_png", f"{buffer.size}-byte PNG has no IEND chunk")
    elif "compresseddepth" in format.lower().replace(" ", ""):
        raise BadFrame("unsupported_format", f"format {format!r} is a depth image, not a camera image")
    else:
        raise BadFrame("unknown_compression", f"format {format!r}: data is neither JPEG nor PNG "
                                              f"(starts with {head[:4].hex()})")
    size = _declared_size(buffer.tobytes())
    if size is not None and size[0] * size[1] > MAX_PIXELS:
        raise BadFrame("image_too_large", f"the {format!r} image declares {size[0]}x{size[1]} pixels, more than "
                                          f"{MAX_PIXELS}")
    import cv2

    try:
        bgr = cv2.imdecode(buffer, cv2.IMREAD_COLOR)
    except cv2.error as error:
        raise BadFrame("decode_failed", f"OpenCV refused the {buffer.size}-byte {format!r} image: "
                                        f"{_one_line(error)}") from None
    if bgr is None or bgr.size == 0:
        raise BadFrame("decode_failed", f"OpenCV could not decode the {buffer.size}-byte {format!r} image")
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def _declared_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG's IHDR or a JPEG's start-of-frame segment; None when not found."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return (int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")) if len(data) >= 24 else None
    offset = 2  # after the JPEG start-of-image marker
    while offset + 9 <= len(data):
        if data[offset] != 0xFF:
            return None
        marker = data[offset + 1]
        if marker == 0xFF or marker == 0x01 or 0xD0 <= marker <= 0xD8:  # fill byte, markers without a length
            offset += 1 if marker == 0xFF else 2
            continue
        # SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            return int.from_bytes(data[offset + 7:offset + 9], "big"), int.from_bytes(data[offset + 5:offset + 7],
                                                                                      "big")
        offset += 2 + int.from_bytes(data[offset + 2:offset + 4], "big")
    return None


def _one_line(error: Exception) -> str:
    """OpenCV errors span several lines; the last one says what failed."""
    return str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__


def validate_rgb(rgb: np.ndarray) -> np.ndarray:
    """Checks an array that claims to be an RGB frame; returns it C-contiguous."""
    if not isinstance(rgb, np.ndarray):
        raise BadFrame("not_an_array", f"frame is a {type(rgb).__name__}, not a numpy array")
    if rgb.dtype != np.uint8:
        raise BadFrame("wrong_dtype", f"frame dtype is {rgb.dtype}, expected uint8")
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise BadFrame("wrong_shape", f"frame shape is {rgb.shape}, expected (H, W, 3)")
    return np.ascontiguousarray(rgb)
