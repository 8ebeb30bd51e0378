"""MediaPipe's pose models in the user's cache: where they live and how one gets there.

`pose.model` empty means `pose_landmarker_full.task` in `$XDG_CACHE_HOME/motionllm/models` (default
`~/.cache/motionllm/models`). `motionllm models` fills it, from MediaPipe's published URL or from a local file
(`--from`, what an offline machine or CI uses). Either way a file enters the cache only once it is checked: the whole
transfer arrived (the server's Content-Length), it is a .task bundle (a zip holding the two .tflite graphs), MediaPipe
loads it, and its sha256 matches when the user pins one. Google publishes no checksum for the `latest` files, so none
is pinned here. It is written to a temporary file beside its final name and renamed into place, so the cache never
holds half a model.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path

VARIANTS = ("lite", "full", "heavy")
DEFAULT_VARIANT = "full"
URL_TEMPLATE = ("https://storage.googleapis.com/mediapipe-models/pose_landmarker/pose_landmarker_{variant}/float16/"
                "latest/pose_landmarker_{variant}.task")
BUNDLE_MEMBERS = {"pose_detector.tflite", "pose_landmarks_detector.tflite"}
TIMEOUT_S = 60.0  # per socket operation, not for the whole transfer


class ModelDownloadError(ValueError):
    """A model could not be fetched or did not pass its checks; the cache is left as it was."""


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/motionllm/models, ~/.cache/motionllm/models when XDG_CACHE_HOME is unset or empty."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "motionllm" / "models"


def file_name(variant: str = DEFAULT_VARIANT) -> str:
    if variant not in VARIANTS:
        raise ModelDownloadError(f"pose model variant {variant!r}: expected one of {', '.join(VARIANTS)}")
    return f"pose_landmarker_{variant}.task"


def default_pose_model() -> Path:
    """Where `pose.model` points when it is empty."""
    return cache_dir() / file_name(DEFAULT_VARIANT)


def url_for(variant: str = DEFAULT_VARIANT) -> str:
    file_name(variant)  # validates the variant
    return URL_TEMPLATE.format(variant=variant)


def how_to_get(path: Path) -> str:
    """One sentence for a missing default model: what to run, or what to download and where to put it."""
    return (f"run `motionllm models` (downloads {url_for()} into {path.parent}), or download that file yourself "
            f"and put it at {path} (`motionllm models --from FILE` checks and copies it), or give --pose-model PATH")


def install(source: str, variant: str = DEFAULT_VARIANT, sha256: str | None = None,
            directory: Path | None = None) -> Path:
    """Fetches `source` (an http(s) URL or a local file), checks it and puts it in the cache as the `variant` model.
    Returns its path. Raises ModelDownloadError, leaving no file behind, when any step or check fails."""
    target = (directory or cache_dir()) / file_name(variant)
    target.parent.mkdir(parents=True, exist_ok=True)
    # Beside the target, so the final rename is atomic (same file system).
    handle, temp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    temp = Path(temp_name)
    try:
        with os.fdopen(handle, "wb") as out:
            _copy(source, out)
        check(temp, sha256, name=source)
        temp.chmod(0o644)  # mkstemp makes it private; a model is not a secret
        os.replace(temp, target)
    finally:
        temp.unlink(missing_ok=True)
    return target


def _copy(source: str, out) -> None:
    if not source.startswith(("http://", "https://")):
        try:
            with open(source, "rb") as local:
                shutil.copyfileobj(local, out)
        except OSError as error:
            raise ModelDownloadError(f"cannot read {source}: {error.strerror or error}") from None
        return
    try:
        with urllib.request.urlopen(source, timeout=TIMEOUT_S) as response:
            expected = response.headers.get("Content-Length")
            received = 0
            while chunk := response.read(1 << 20):
                out.write(chunk)
                received += len(chunk)
    except (OSError, http.client.HTTPException) as error:  # URLError is an OSError; a cut transfer: IncompleteRead
        reason = getattr(error, "reason", None) or f"{type(error).__name__}: {error}"
        raise ModelDownloadError(f"download of {source} failed: {reason}") from None
    if expected is not None and received != int(expected):
        raise ModelDownloadError(f"download of {source} is incomplete: {received} of {expected} bytes")


def check(path: Path, sha256: str | None = None, name: str | None = None) -> None:
    """Raises ModelDownloadError unless `path` is a PoseLandmarker bundle MediaPipe loads (and has `sha256`)."""
    name = name or str(path)
    if sha256 is not None:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if digest != sha256.lower():
            raise ModelDownloadError(f"{name}: sha256 {digest}, expected {sha256.lower()}")
    try:
        with zipfile.ZipFile(path) as bundle:
            members = set(bundle.namelist())
            damaged = bundle.testzip()
    except (zipfile.BadZipFile, OSError) as error:
        raise ModelDownloadError(f"{name}: not a MediaPipe .task bundle (truncated or wrong file?): {error}") from None
    if damaged is not None or not BUNDLE_MEMBERS <= members:
        raise ModelDownloadError(f"{name}: not a PoseLandmarker bundle: it holds {sorted(members)}"
                                 + (f", {damaged} damaged" if damaged else ""))
    from motionllm_ros.perception.pose import PoseEstimator, PoseModelError

    try:
        PoseEstimator(path).close()
    except PoseModelError as error:
        raise ModelDownloadError(f"{name}: MediaPipe cannot load it: {error}") from None
