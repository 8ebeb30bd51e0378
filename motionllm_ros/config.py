"""One typed configuration for the node, the launch files and the CLI.

The ROS parameter file `config/motionllm.yaml` (`/**: ros__parameters:`), the launch arguments and the `motionllm`
CLI flags all map onto `Config`. Sections are nested dataclasses; their ROS parameter names are dotted
(`input.image_topic`), which is also how nested YAML maps become ROS parameters.

Every field carries its help text, and where it applies its choices or range, in the dataclass metadata: the node
declares its parameters from `parameter_specs()` and the CLI prints the same help, so there is one source of truth.
"""

from __future__ import annotations

import dataclasses
import math
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

NODE_NAME = "motionllm"


class ConfigError(ValueError):
    """A configuration value is unknown, of the wrong type or out of range; the message names the key."""

    MAX_LENGTH = 1500  # a rejected value may be a huge string or list from a file: the message stays one short line

    def __init__(self, message: str):
        message = " ".join(message.split())
        super().__init__(message if len(message) <= self.MAX_LENGTH else message[:self.MAX_LENGTH - 3] + "...")


def _param(default: Any, help: str, *, choices: tuple[Any, ...] | None = None,
           min: float | None = None, max: float | None = None) -> Any:
    return field(default=default, metadata={"help": help, "choices": choices, "min": min, "max": max})


@dataclass(frozen=True)
class InputConfig:
    image_topic: str = _param("/camera/image_raw", "Image topic the node subscribes to (remap or set per robot).")
    image_transport: str = _param(
        "raw", "'raw' subscribes to sensor_msgs/Image on image_topic, 'compressed' to "
        "sensor_msgs/CompressedImage on image_topic + '/compressed'.", choices=("raw", "compressed"))
    qos_reliability: str = _param(
        "best_effort", "Image subscription reliability. best_effort matches every camera driver; a reliable "
        "subscription never receives from a best-effort publisher.", choices=("best_effort", "reliable"))
    qos_depth: int = _param(
        5, "Image subscription queue depth. Small, but more than 1: the callback only converts and hands the "
        "image to the engine, whose own drop-oldest queue keeps frames fresh; at depth 1 images that arrive while "
        "the executor is busy for a moment are lost before the callback sees them.", min=1, max=100)
    camera_info: bool = _param(
        True, "Subscribe to sensor_msgs/CameraInfo beside the images (image_transport's convention: camera_info "
        "in the image topic's namespace) and use its calibration for distances and speeds; until one arrives, or "
        "when it is uncalibrated (fx = 0), camera.hfov_deg is used.")
    bag_topic: str = _param(
        "", "Offline only: image topic to read from a rosbag2 recording; empty = the image topic with the most "
        "messages.")


@dataclass(frozen=True)
class PoseConfig:
    model: str = _param(
        "", "MediaPipe PoseLandmarker .task file. Empty: pose_landmarker_full.task in the user's cache "
        "($XDG_CACHE_HOME/motionllm/models, default ~/.cache/motionllm/models), which `motionllm models` downloads.")
    num_poses: int = _param(3, "People MediaPipe may report per frame, each tracked under its own id. What the "
                               "frame rate depends on: MediaPipe runs its landmark model once per person (3 people "
                               "in view: 1.55x the one-person frame time at 3, 1.15x at 2; `motionllm bench "
                               "people`). 1 is fastest, but then a second person can replace the first unnoticed.",
                            min=1, max=10)
    max_people: int = _param(
        3, "People fitted and described per frame, nearest (largest in the image) first; the others are tracked "
        "and counted (over_cap) but not fitted. Each costs one SMPL fit (about 3.4 ms of CPU per frame here), not "
        "MediaPipe's per-person pass: pose.num_poses is what holds the frame rate.", min=1, max=10)
    min_detection_confidence: float = _param(0.5, "MediaPipe person detection threshold.", min=0.0, max=1.0)
    min_presence_confidence: float = _param(0.5, "MediaPipe pose presence threshold.", min=0.0, max=1.0)
    min_tracking_confidence: float = _param(
        0.85, "MediaPipe VIDEO mode: the overlap (IoU) of two people's regions above which they count as one "
              "person. MediaPipe's own 0.5 merges two people standing side by side (talking, hugging), so one of "
              "them goes missing; 0.85 keeps them apart.", min=0.0, max=1.0)
    max_match_cost: float = _param(
        0.5, "Tracking: the largest frame-to-frame change (torso centre and size, relative to the person's size) "
        "still accepted as the same person; beyond it the person starts a new track.", min=0.01, max=5.0)
    ambiguity_margin: float = _param(
        0.2, "Tracking: a person who matches two tracks (or a track two people) within this margin is skipped in "
        "that frame (ambiguous) and the track's id is reported uncertain from then on.", min=0.0, max=5.0)
    lost_timeout_s: float = _param(
        0.5, "Seconds (data time) without its person after which a track ends; seen again, the person gets a new "
        "track id.", min=0.01, max=60.0)


@dataclass(frozen=True)
class SmplConfig:
    model: str = _param(
        "", "SMPL model file (SMPL_NEUTRAL.pkl / .npz from smpl.is.tue.mpg.de, registration required). Empty: the "
        "built-in licence-free synthetic skeleton (same joints, approximate shape space, no real mesh).")
    camera_pitch_deg: float = _param(
        0.0, "Degrees the camera looks down (negative: up). Levels the motion with gravity; on the robot the node "
        "will take it from TF.", min=-90.0, max=90.0)
    min_visibility: float = _param(0.5, "Landmarks less visible than this are not fitted.", min=0.0, max=1.0)
    calibration_frames: int = _param(
        30, "Good frames used to calibrate a new person's body shape before it is frozen; 0 keeps the mean shape.",
        min=0, max=1000)
    max_residual: float = _param(0.08, "Metres RMS: a fit worse than this is reported invalid.", min=0.001, max=1.0)
    filter: bool = _param(True, "One-Euro temporal filter on the observed landmarks before the fit.")
    filter_min_cutoff: float = _param(1.0, "One-Euro cutoff (Hz) of a still point: lower is smoother, with more "
                                           "lag on slow motion.", min=0.01, max=100.0)
    filter_beta: float = _param(4.0, "One-Euro cutoff increase (Hz per m/s): higher lags less on fast motion.",
                                min=0.0, max=100.0)


@dataclass(frozen=True)
class CameraConfig:
    hfov_deg: float = _param(
        0.0, "Horizontal field of view used when no camera_info is available (videos, bags without it). 0: 62 "
        "degrees across the image's longer side, typical of robot and phone cameras.", min=0.0, max=170.0)
    ego_motion: str = _param(
        "image", "How the camera's own rotation is removed before motion is judged: image (background points "
        "tracked between frames), tf (the camera frame's rotation in camera.fixed_frame at each image stamp, looked "
        "up by the node) or none (the camera is taken as still).", choices=("image", "tf", "none"))
    fixed_frame: str = _param(
        "odom", "With ego_motion tf: the world-fixed TF frame (odom, map) the camera's rotation is taken in.")
    ego_motion_max_residual_deg: float = _param(
        0.3, "Degrees: median misfit of the background's rays after the estimated rotation above which the "
        "camera's motion counts as not estimated (translation close to a wall, zoom).", min=0.01, max=10.0)


@dataclass(frozen=True)
class MotionConfig:
    max_gap_s: float = _param(0.5, "A tracking gap longer than this (data time) ends the motion segment.",
                              min=0.01, max=10.0)
    max_seconds: float = _param(9.8, "Longest motion kept for features (9.8 s = 196 frames at 20 fps, the "
                                     "motion tokenizer's training maximum).", min=0.5, max=60.0)


@dataclass(frozen=True)
class WindowConfig:
    length_s: float = _param(4.0, "Seconds of data time described together.", min=0.5, max=60.0)
    stride_s: float = _param(1.0, "Seconds of data time between two descriptions (<= length_s).", min=0.1, max=60.0)


@dataclass(frozen=True)
class BehaviorConfig:
    """Thresholds of the kinematic behaviour primitives (behavior/primitives.py, PrimitiveParams). A threshold
    written "(ramp)" is the decision point of a score that ramps linearly over the span the primitives document
    around it; the other values are used as they are. L: the person's leg length, A: arm length."""

    locomotion_span_s: float = _param(1.0, "Seconds: pelvis velocity per frame from a line fitted over this span.",
                                      min=0.2, max=5.0)
    locomotion_min_s: float = _param(0.5, "Seconds: shortest run of frames that gives walking or running.",
                                     min=0.05, max=10.0)
    still_min_s: float = _param(0.5, "Seconds: shortest run of frames that gives still.", min=0.05, max=10.0)
    posture_bridge_s: float = _param(1.5, "Seconds: a posture seen on both sides of a stretch this short where the "
                                          "legs are out of view holds through it.", min=0.0, max=10.0)
    posture_stretch_min_s: float = _param(
        0.5, "Seconds: a posture held in more than one stretch of a window is reported for each stretch at least "
        "this long; a shorter break is bridged (a flicker at a boundary, not a change).", min=0.0, max=10.0)
    depth_span_s: float = _param(
        2.0, "Seconds: the speed along the line of sight is the slope of the fitted distance over this span (the "
        "monocular distance of a person swings ~10-20% within a second; a walk keeps its course).", min=0.1,
        max=10.0)
    step_length: float = _param(0.15, "x L: one foot this far ahead of the other along the way of travel counts "
                                      "as a step position.", min=0.01, max=1.0)
    min_steps: int = _param(2, "Walking / running need at least this many steps (changes of the foot ahead).",
                            min=0, max=20)
    turn_rate_dps: float = _param(30.0, "Degrees per second: slower drifts of the facing are not a turn.",
                                  min=1.0, max=720.0)
    turn_hold_s: float = _param(0.3, "Seconds: a turn's new facing must be seen held this long after it (a turn "
                                     "still under way where the track ends, or undone at once, is not a turn).",
                                min=0.0, max=5.0)
    turn_max_step_deg: float = _param(40.0, "Degrees: a facing change between two 20 Hz frames above this is a "
                                             "pose flip, and the run is not a turn.", min=5.0, max=180.0)
    radial_fraction: float = _param(0.7, "(ramp) Share of the walking speed along the line of sight for "
                                         "approaching / leaving the camera.", min=0.0, max=1.0)
    jump_min_flight_s: float = _param(0.2, "Seconds: shortest flight of a jump (a 5 cm hop).", min=0.02, max=2.0)
    jump_max_flight_s: float = _param(1.0, "Seconds: longest flight of a jump.", min=0.05, max=3.0)
    jump_gravity_mps2: float = _param(5.5, "(ramp) m/s^2: downward acceleration of the pelvis in the air (9.81 in "
                                           "free fall).", min=0.0, max=20.0)
    jump_feet_with_pelvis: float = _param(0.55, "(ramp) Rise of the lower foot / rise of the pelvis at the apex.",
                                          min=0.0, max=2.0)
    jump_ballistic_misfit: float = _param(0.7, "(ramp, smaller is better) |ln(apex rise / (g T^2 / 8))| for a "
                                               "flight of T seconds.", min=0.0, max=5.0)
    jump_max_speed: float = _param(1.5, "(ramp, smaller is better) m/s: horizontal pelvis speed in the flight; "
                                        "faster is a running stride.", min=0.0, max=20.0)
    bending_tilt_deg: float = _param(45.0, "(ramp) Degrees: pelvis->neck angle from vertical for bending (on the "
                                           "feet; standing below).", min=10.0, max=90.0)
    bending_max_tilt_deg: float = _param(92.5, "(ramp, smaller is better) Degrees: beyond this the body is not "
                                               "bent over its feet.", min=45.0, max=180.0)
    reaching_elbow_deg: float = _param(110.0, "(ramp) Degrees: interior elbow angle of a reaching arm.", min=90.0,
                                       max=180.0)
    reaching_forward: float = _param(0.625, "(ramp) x A: wrist ahead of the shoulder along the chest's facing.",
                                     min=0.0, max=1.0)
    reaching_elevation_low_deg: float = _param(-45.0, "(ramp) Degrees: lowest shoulder->wrist elevation of a "
                                                      "reaching arm.", min=-90.0, max=90.0)
    reaching_elevation_high_deg: float = _param(-15.0, "(ramp, smaller is better) Degrees: highest elevation "
                                                       "(above: pointing).", min=-90.0, max=90.0)
    reaching_min_s: float = _param(0.25, "Seconds: shortest reach.", min=0.05, max=5.0)
    reaching_max_s: float = _param(0.6, "Seconds: a reach is the movement out; an arm held out longer is its first "
                                        "this-many seconds.", min=0.1, max=10.0)
    wave_vertical: float = _param(0.7, "(ramp, smaller is better) Vertical share of the wrist's main direction of "
                                       "motion: a wave goes side to side, a lift up and down.", min=0.0, max=1.0)
    exercise_min_reps: int = _param(2, "Repetitions an exercise needs to be said.", min=1, max=100)
    exercise_min_rep_s: float = _param(0.5, "Seconds per repetition, at least.", min=0.1, max=60.0)
    exercise_max_rep_s: float = _param(8.0, "Seconds per repetition, at most.", min=0.2, max=60.0)
    squat_range: float = _param(0.25, "(ramp) x L: pelvis height range of squats (feet down, torso upright).",
                                min=0.0, max=2.0)
    push_up_range: float = _param(0.125, "(ramp) x L: neck height range of push-ups, cobra included (face down, "
                                         "hips low).", min=0.0, max=2.0)
    lift_range: float = _param(0.6, "(ramp) x A: range of the wrists' height over the shoulders in lifts.",
                               min=0.0, max=3.0)


@dataclass(frozen=True)
class EngineConfig:
    lossless: bool = _param(
        False, "false (live): bounded queues keep the newest frames and drop the oldest, counted; true: every frame "
        "is processed and the producer waits (offline replay). `motionllm run` on files uses lossless unless --live.")
    frame_queue: int = _param(2, "Frames waiting for perception; small so that what is processed is recent.",
                              min=1, max=1000)
    window_queue: int = _param(2, "Windows waiting for the model.", min=1, max=100)
    history: int = _param(1800, "Descriptions kept for queries (1800 = 10 minutes at a 1 s stride with 3 people).",
                          min=1, max=100000)


@dataclass(frozen=True)
class ModelConfig:
    dir: str = _param(
        "", "MotionLLM model directory (from `motionllm convert`, or `motionllm make-tiny-checkpoint` for a random "
        "test model). Empty: windows are described by the kinematic behaviour primitives only.")
    question: str = _param("What is the person doing in the video? Describe the motion.",
                           "The question asked about every window.")
    sampling: str = _param("greedy", "greedy: repeatable answers (robots); official: the release's sampling "
                                     "(temperature 0.8, top-k 200).", choices=("greedy", "official"))
    max_new_tokens: int = _param(64, "Longest answer per window, in tokens (the release allows 200).", min=1,
                                 max=1024)
    dtype: str = _param("float32", "Weights' precision: float32 (CPU), bfloat16 / float16 (GPU).",
                        choices=("float32", "bfloat16", "float16"))
    quantization: str = _param(
        "none", "Weight-only quantisation of the LLM's linear layers with torchao: int8 (CPU or CUDA), int4 (CUDA "
        "only). For 8 GB devices.", choices=("none", "int8", "int4"))
    video_tokens_per_frame: int = _param(
        256, "Video tokens per frame after average pooling of the 16x16 patch grid (64 = 2x2, 16 = 4x4); 256 = off. "
        "The released weights were trained with 256: fewer trade answer quality for prefill time and memory.",
        choices=(256, 64, 16))
    people: int = _param(
        1, "People per window the model describes, most salient first; the others get the behaviour primitives "
        "(model_id 'primitives'). Beyond the first, only while the model's answers of that window still fit in one "
        "window stride (window.stride_s); otherwise the primitives, counted as model_over_budget.", min=1, max=10)


@dataclass(frozen=True)
class VideoConfig:
    backend: str = _param(
        "auto", "Video tower backend; unavailable ones are skipped, with the reason logged, in the order tensorrt "
        "-> onnxruntime -> torch ('auto' starts at tensorrt).", choices=("auto", "tensorrt", "onnxruntime", "torch"))
    engine_cache_dir: str = _param(
        "~/.cache/motionllm/engines", "Where ONNX exports and TensorRT engines are kept, keyed by model hash, "
        "TensorRT version, GPU and precision (`motionllm build-engine` prebuilds them).")
    precision: str = _param("fp16", "TensorRT / CUDA precision; ONNX Runtime always runs fp32.",
                            choices=("fp32", "fp16"))


@dataclass(frozen=True)
class OutputConfig:
    smpl_pose: bool = _param(True, "Publish ~/smpl_pose (SmplPose) for every fitted person of every processed frame.")
    skeleton_markers: bool = _param(True, "Publish ~/skeleton (visualization_msgs/MarkerArray) for RViz.")


@dataclass(frozen=True)
class QueryConfig:
    timeout_s: float = _param(5.0, "Longest a ~/query with allow_cached false may spend on a fresh model answer.",
                              min=0.1, max=120.0)


@dataclass(frozen=True)
class Config:
    device: str = _param("auto", "Where the models run: 'auto' (CUDA when available), 'cpu' or 'cuda'.",
                         choices=("auto", "cpu", "cuda"))
    autostart: bool = _param(True, "Configure and activate the lifecycle node on start-up.")
    input: InputConfig = field(default_factory=InputConfig)
    pose: PoseConfig = field(default_factory=PoseConfig)
    smpl: SmplConfig = field(default_factory=SmplConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)
    window: WindowConfig = field(default_factory=WindowConfig)
    behavior: BehaviorConfig = field(default_factory=BehaviorConfig)
    engine: EngineConfig = field(default_factory=EngineConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    video: VideoConfig = field(default_factory=VideoConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    query: QueryConfig = field(default_factory=QueryConfig)

    def flat(self) -> dict[str, Any]:
        """Dotted parameter name -> value, in declaration order."""
        return {spec.name: spec.get(self) for spec in parameter_specs()}

    def replace(self, overrides: Mapping[str, Any]) -> Config:
        """A copy with `overrides` (dotted names or nested maps) applied and validated."""
        values = self.flat()
        for name, value in flatten(overrides).items():
            spec = _SPECS_BY_NAME.get(name)
            if spec is None:
                raise ConfigError(f"unknown parameter '{name}'; known parameters: {', '.join(_SPECS_BY_NAME)}")
            values[name] = spec.validate(value)
        return _checked(_build(Config, values, prefix=""))


def _checked(config: Config) -> Config:
    """Rules between parameters, which no single range can express."""
    if config.window.stride_s > config.window.length_s:
        raise ConfigError(f"parameter 'window.stride_s' ({config.window.stride_s}) must be <= 'window.length_s' "
                          f"({config.window.length_s}): windows would leave data time undescribed")
    return config


@dataclass(frozen=True)
class ParameterSpec:
    """One leaf of the config: what the node declares, the YAML holds and the CLI accepts."""

    name: str  # dotted, e.g. "input.image_topic"
    type: type  # bool, int, float or str
    default: Any
    help: str
    choices: tuple[Any, ...] | None
    min: float | None
    max: float | None

    def get(self, config: Config) -> Any:
        value: Any = config
        for part in self.name.split("."):
            value = getattr(value, part)
        return value

    def validate(self, value: Any) -> Any:
        # bool is a subclass of int: reject it explicitly, as ROS parameters do. An int fills a float (YAML
        # writes 2 for 2.0), but never the other way round.
        ok = isinstance(value, self.type) and not (self.type is not bool and isinstance(value, bool))
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value, ok = float(value), True
        if not ok:
            raise ConfigError(f"parameter '{self.name}' must be {self.type.__name__}, got "
                              f"{type(value).__name__} {value!r}")
        if self.type is float and not math.isfinite(value):  # NaN would pass every range check below
            raise ConfigError(f"parameter '{self.name}' must be a finite number, got {value!r}")
        if self.choices is not None and value not in self.choices:
            raise ConfigError(f"parameter '{self.name}' must be one of {list(self.choices)}, got {value!r}")
        if self.min is not None and value < self.min:
            raise ConfigError(f"parameter '{self.name}' must be >= {self.min}, got {value!r}")
        if self.max is not None and value > self.max:
            raise ConfigError(f"parameter '{self.name}' must be <= {self.max}, got {value!r}")
        return value


def _walk(cls: type, prefix: str) -> Iterator[ParameterSpec]:
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        name = prefix + f.name
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            yield from _walk(kind, name + ".")
        else:
            yield ParameterSpec(name, kind, f.default, f.metadata["help"], f.metadata["choices"],
                                f.metadata["min"], f.metadata["max"])


_SPECS: tuple[ParameterSpec, ...] = tuple(_walk(Config, ""))
_SPECS_BY_NAME = {spec.name: spec for spec in _SPECS}


def parameter_specs() -> tuple[ParameterSpec, ...]:
    return _SPECS


def _build(cls: type, values: Mapping[str, Any], prefix: str) -> Any:
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for f in dataclasses.fields(cls):
        kind = hints[f.name]
        if dataclasses.is_dataclass(kind):
            kwargs[f.name] = _build(kind, values, prefix + f.name + ".")
        else:
            kwargs[f.name] = values[prefix + f.name]
    return cls(**kwargs)


def flatten(mapping: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{'input': {'qos_depth': 1}} and {'input.qos_depth': 1} both -> {'input.qos_depth': 1}."""
    flat: dict[str, Any] = {}
    for key, value in mapping.items():
        name = prefix + str(key)
        if isinstance(value, Mapping):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def ros_parameters_from_yaml(path: str | Path, node_name: str = NODE_NAME) -> dict[str, Any]:
    """The `ros__parameters` of a ROS 2 parameter file, flattened, for `/**`, `node_name` or `/node_name`.

    Node-specific entries override the wildcard ones, as in rcl.
    """
    path = Path(path)
    document = load_yaml_file(path, "parameter file")
    if not isinstance(document, Mapping):
        raise ConfigError(f"parameter file {path} must map node names to 'ros__parameters'")
    merged: dict[str, Any] = {}
    for key in ("/**", node_name, "/" + node_name):
        section = document.get(key)
        if section is None:
            continue
        if not isinstance(section, Mapping) or not isinstance(section.get("ros__parameters"), Mapping):
            raise ConfigError(f"parameter file {path}: '{key}' must contain a 'ros__parameters' map")
        merged.update(flatten(section["ros__parameters"]))
    if not merged:
        raise ConfigError(f"parameter file {path} has no 'ros__parameters' for '/**' or '{node_name}'")
    # use_sim_time and other rclpy-owned parameters are legal in the file but are not ours.
    merged.pop("use_sim_time", None)
    return merged


# Bounds of a YAML file we read (parameter and annotation files are a few KB): its size, and the number of nodes it
# describes once every alias is expanded. A YAML "billion laughs" is a few hundred bytes whose aliases expand to
# billions of nodes; PyYAML shares aliased objects, but flattening or printing them expands them in full.
MAX_YAML_BYTES = 16 * 1024 * 1024
MAX_YAML_NODES = 1_000_000


def load_yaml_file(path: str | Path, what: str) -> Any:
    """The document of a YAML file (safe types only), or ConfigError in one line naming `what`, the path and the
    problem: missing, not a readable text file, too large, invalid YAML, or aliases that expand too far."""
    import yaml

    path = Path(path)
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_YAML_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{what} not found: {path}") from None
    except OSError as error:  # a folder, no permission
        raise ConfigError(f"{what} {path} cannot be read: {error.strerror or error}") from None
    if len(raw) > MAX_YAML_BYTES:
        raise ConfigError(f"{what} {path} is larger than {MAX_YAML_BYTES // (1024 * 1024)} MiB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise ConfigError(f"{what} {path} is not a UTF-8 text file (byte {error.start})") from None
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}, set()) > MAX_YAML_NODES:
            raise ConfigError(f"{what} {path}: its aliases expand to more than {MAX_YAML_NODES} values; refused")
        return loader.construct_document(node)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{what} {path} is not valid YAML: {error.problem or error.context}{where}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{what} {path} is not valid YAML: {' '.join(str(error).split())}") from None
    except RecursionError:
        raise ConfigError(f"{what} {path} is nested too deeply") from None
    finally:
        loader.dispose()


def _expanded_size(node: Any, sizes: dict[int, int], open_nodes: set[int]) -> int:
    """Nodes under `node` with every alias expanded, computed once per node; above MAX_YAML_NODES the count stops
    early. A node that contains itself (a recursive alias) counts as too large."""
    import yaml

    key = id(node)
    if key in sizes:
        return sizes[key]
    if key in open_nodes:
        return MAX_YAML_NODES + 1
    if isinstance(node, yaml.SequenceNode):
        children = node.value
    elif isinstance(node, yaml.MappingNode):
        children = [child for pair in node.value for child in pair]
    else:
        children = []
    open_nodes.add(key)
    total = 1
    for child in children:
        total += _expanded_size(child, sizes, open_nodes)
        if total > MAX_YAML_NODES:
            break
    open_nodes.discard(key)
    sizes[key] = total
    return total


def load_config(params_file: str | Path | None = None, overrides: Mapping[str, Any] | None = None) -> Config:
    """Defaults, then the parameter file, then explicit overrides (CLI flags, launch arguments)."""
    config = Config()
    if params_file is not None:
        try:
            config = config.replace(ros_parameters_from_yaml(params_file))
        except ConfigError as error:
            message = str(error)
            raise (error if str(params_file) in message else ConfigError(f"parameter file {params_file}: {message}"))
    if overrides:
        config = config.replace(overrides)
    return config


def parse_override(text: str) -> tuple[str, Any]:
    """'input.qos_depth=2' -> ('input.qos_depth', 2), typed by the parameter's declared type."""
    name, sep, raw = text.partition("=")
    if not sep:
        raise ConfigError(f"expected NAME=VALUE, got {text!r}")
    spec = _SPECS_BY_NAME.get(name.strip())
    if spec is None:
        raise ConfigError(f"unknown parameter '{name.strip()}'; known parameters: {', '.join(_SPECS_BY_NAME)}")
    raw = raw.strip()
    value: Any = raw
    if spec.type is bool:
        lowered = raw.lower()
        if lowered not in ("true", "false", "1", "0"):
            raise ConfigError(f"parameter '{spec.name}' must be true or false, got {raw!r}")
        value = lowered in ("true", "1")
    elif spec.type in (int, float):
        try:
            value = spec.type(raw)
        except ValueError:
            raise ConfigError(f"parameter '{spec.name}' must be {spec.type.__name__}, got {raw!r}") from None
    return spec.name, spec.validate(value)
