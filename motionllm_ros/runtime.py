"""One config -> the models and the streaming engine: what `motionllm run` and the ROS node both run.

Both front ends call `build_engine`, so a parameter file means the same thing offline and on the robot. Heavy
imports (MediaPipe, the SMPL loader) happen inside it.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Iterable

from motionllm_ros.config import Config, ConfigError
from motionllm_ros.engine import Description, EngineParams, StreamingEngine

LOG = logging.getLogger("motionllm")

def engine_params(config: Config) -> EngineParams:
    """Window length and stride, live or lossless, queue sizes and history, from the config."""
    return EngineParams(window_s=config.window.length_s, stride_s=config.window.stride_s,
                        lossless=config.engine.lossless, frame_queue=config.engine.frame_queue,
                        window_queue=config.engine.window_queue, history=config.engine.history,
                        describer_people=config.model.people)


def build_engine(config: Config, on_result: Callable[[Description], None] | None = None,
                 on_person: Callable[[Any, Any], None] | None = None, intrinsics: Any = None,
                 camera_orientation: Callable[[float], Any] | None = None) -> StreamingEngine:
    """Loads the pose model (`pose.model`), the SMPL model (`smpl.model`, empty: the built-in synthetic one) and,
    when `model.dir` is set, MotionLLM; starts a streaming engine on them that describes windows with MotionLLM
    or, without it, with the kinematic primitives.

    `pose.model` empty: the cached default (models_cache). Raises PoseModelError / SmplModelError / ModelError
    (ValueErrors naming the file) when a model file is missing or unreadable. Free everything with `close_engine`.
    """
    from motionllm_ros.behavior.describer import PrimitivesDescriber, primitive_params
    from motionllm_ros.perception.pipeline import PerceptionPipeline, perception_params
    from motionllm_ros.perception.smpl import load_smpl_model
    from motionllm_ros.quiet import quiet_libraries

    quiet_libraries()  # the node too: torchao's and torch's warnings would reach its console
    params = engine_params(config)  # invalid window/stride raise here, before any model is loaded
    if config.model.dir:
        check_device(config.device)
    smpl = load_smpl_model(config.smpl.model) if config.smpl.model else None
    primitives = PrimitivesDescriber(primitive_params(config), config.camera.ego_motion)
    if config.model.dir:
        # torch and transformers are imported only when a model is configured.
        from motionllm_ros.model.window_describer import describer_from_config

        describer = describer_from_config(config)
        frame_encoder = describer.frame_encoder
    else:
        describer, frame_encoder = primitives, None
    # intrinsics: from camera_info when the input has it; None: camera.hfov_deg.
    # camera_orientation (ego_motion tf): stamp -> camera optical frame's rotation in camera.fixed_frame, or None.
    pipeline = PerceptionPipeline(config.pose.model, smpl, perception_params(config), intrinsics=intrinsics,
                                  camera_orientation=camera_orientation)
    try:
        # With a model, the people beyond model.people (or over the time budget) get the primitives.
        return StreamingEngine(pipeline, describer, params, on_result=on_result, frame_encoder=frame_encoder,
                               on_person=on_person, others_describer=primitives)
    except BaseException:
        pipeline.close()
        raise


def check_device(device: str) -> None:
    """ConfigError when `device` is 'cuda' and torch sees no CUDA device (checked before a model is loaded)."""
    if device != "cuda":
        return
    import torch

    if not torch.cuda.is_available():
        raise ConfigError("parameter 'device' is 'cuda' but torch finds no CUDA device (a CPU-only torch build, or "
                          "no GPU visible); use device=auto or device=cpu")


def close_engine(engine: StreamingEngine, *, flush: bool) -> None:
    """Stops the engine's workers (with `flush`, a last window covers the frames after the last cut), then frees
    the models of its perception stage. The engine cannot be used afterwards."""
    try:
        engine.close(flush=flush)
    finally:
        close = getattr(engine.perception, "close", None)  # the Perception protocol does not require close()
        if close is not None:
            close()


# -- offline front ends: `motionllm run` and `motionllm eval` replay recordings the same way ----------------------
def intrinsics_of(source) -> Any:
    """The camera calibration a recording carries (CameraInfo), or None: the pipeline then uses camera.hfov_deg."""
    if source.camera_info is None:
        return None
    from motionllm_ros.perception.camera import Intrinsics

    info = source.camera_info
    LOG.info("camera intrinsics from %s: fx %.1f fy %.1f (%dx%d)", info.topic, info.k[0], info.k[4], info.width,
             info.height)
    return Intrinsics.from_camera_info_k(info.k, info.width, info.height)


def replay(engine: StreamingEngine, frames: Iterable[Any], recorder: Any = None,
           intrinsics: Any = None) -> tuple[float | None, float | None]:
    """Submits `frames` to `engine`, each first written to `recorder` (a BagRecorder) when given, so a recording
    holds every frame offered, dropped ones included. Returns the (first, last) stamps, None for no frame."""
    first = last = None
    for frame in frames:
        if recorder is not None:
            recorder.write_frame(frame, intrinsics)
        engine.submit(frame)
        first = frame.stamp if first is None else first
        last = frame.stamp
    return first, last


def description_record(d: Description, input_name: str) -> dict[str, Any]:
    """One JSONL line of `motionllm run`: a BehaviorDescription plus where it came from."""
    return {"input": input_name, "window_start": d.window_start, "window_end": d.window_end, "frame_id": d.frame_id,
            "track_id": d.track_id, "num_frames": d.num_frames, "num_valid": d.num_valid, "description": d.text,
            "labels": list(d.labels), "scores": list(d.scores), "confidence": d.confidence, "model_id": d.model_id,
            "latency_s": d.latency_s, "details": d.details}
