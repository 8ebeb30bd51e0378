"""Window describers for the streaming engine: the kinematic primitives (no weights)."""

from __future__ import annotations

import dataclasses
from typing import Any

from motionllm_ros.behavior.primitives import PrimitiveParams, describe_motion
from motionllm_ros.config import Config
from motionllm_ros.engine import Window
from motionllm_ros.perception.egomotion import chain_rotations

MODEL_ID_PRIMITIVES = "primitives"  # BehaviorDescription.MODEL_ID_PRIMITIVES


def primitive_params(config: Config) -> PrimitiveParams:
    """PrimitiveParams with the `behavior.*` parameters: a ramp (lo, hi) moves so that its midpoint is the
    configured threshold, keeping its width; scalars are taken as they are."""
    defaults = PrimitiveParams()
    values = {}
    for name, value in dataclasses.asdict(config.behavior).items():
        default = getattr(defaults, name)
        if isinstance(default, tuple):
            shift = value - (default[0] + default[1]) / 2
            value = (default[0] + shift, default[1] + shift)
        values[name] = value
    return dataclasses.replace(defaults, **values)


class PrimitivesDescriber:
    """Labels and a plain sentence from the window's joints: what the node says when no MotionLLM is configured."""

    model_id = MODEL_ID_PRIMITIVES

    def __init__(self, params: PrimitiveParams | None = None, ego_motion: str = "image"):
        """ego_motion: where the frames' camera rotations come from ("image" or "tf"), for the descriptions."""
        self.params = params or PrimitiveParams()
        self.ego_motion = ego_motion

    def __call__(self, window: Window) -> tuple[str, tuple[str, ...], tuple[float, ...], float, dict[str, Any]]:
        stamps, joints = window.track_motion(unseen_as_nan=True)
        if len(stamps) == 0:
            return "nobody tracked in this window", (), (), 0.0, {"frames": 0}
        # The camera's rotation, chained over every frame of the window (the track's frames and the others).
        chained = chain_rotations([sample.camera_rotation for sample in window.samples])
        rotations = None if chained is None else chained[[k for k, sample in enumerate(window.samples)
                                                           if sample.valid and sample.track_id == window.track_id]]
        result = describe_motion(stamps, joints, self.params, camera_rotations=rotations,
                                 ego_motion="none" if chained is None else self.ego_motion)
        # label_spans: (start, end) s of data time per label, in label order; read by the engine's consumers
        # (BehaviorDescription.label_starts / label_ends, motionllm eval).
        details = {**result.details, "label_spans": [list(span) for span in result.spans]}
        return result.description, tuple(result.labels), tuple(result.scores), result.confidence, details
