"""Window describers for the streaming engine: the kinematic primitives (no weights)."""

from __future__ import annotations

import dataclasses
from typing import Any

from motionllm_ros.behavior.interactions import InteractionParams, describe_interactions, interaction_phrase
from motionllm_ros.behavior.primitives import PrimitiveParams, describe_motion
from motionllm_ros.config import Config
from motionllm_ros.engine import Window
from motionllm_ros.perception.egomotion import chain_rotations

MODEL_ID_PRIMITIVES = "primitives"  # BehaviorDescription.MODEL_ID_PRIMITIVES
TRACK_NONE = -1  # BehaviorDescription.TRACK_NONE: label_partners of a label about the person alone


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
    """Labels and a plain sentence from the window's joints: what the node says when no MotionLLM is configured.
    The window's person alone (`describe_motion`), then with each other person fitted in the window
    (`describe_interactions`): an interaction label names the other person in details["label_partners"]."""

    model_id = MODEL_ID_PRIMITIVES

    def __init__(self, params: PrimitiveParams | None = None, ego_motion: str = "image",
                 interaction_params: InteractionParams | None = None):
        """ego_motion: where the frames' camera rotations come from ("image" or "tf"), for the descriptions."""
        self.params = params or PrimitiveParams()
        self.interaction_params = interaction_params or InteractionParams()
        self.ego_motion = ego_motion

    def __call__(self, window: Window) -> tuple[str, tuple[str, ...], tuple[float, ...], float, dict[str, Any]]:
        stamps, joints = window.track_motion(unseen_as_nan=True)
        if len(stamps) == 0:
            return "nobody tracked in this window", (), (), 0.0, {"frames": 0}
        # The camera's rotation, chained over every frame of the window (the track's frames and the others).
        chained = chain_rotations([sample.camera_rotation for sample in window.samples])
        rotations = None if chained is None else chained[[k for k, sample in enumerate(window.samples)
                                                           if sample.valid(window.track_id)]]
        result = describe_motion(stamps, joints, self.params, camera_rotations=rotations,
                                 ego_motion="none" if chained is None else self.ego_motion)
        # (label, score, (start, end) s of data time, partner track) per label, the person's own and then the
        # interactions, highest score first: label_spans and label_partners are read by the engine's consumers
        # (BehaviorDescription.label_starts / label_ends / label_partners, motionllm eval).
        labelled = [(label, score, tuple(span), TRACK_NONE)
                    for label, score, span in zip(result.labels, result.scores, result.spans)]
        text = result.description
        others = window.others_at(stamps)
        if others and len(stamps) >= 2:
            interactions = describe_interactions(stamps, joints, others, self.interaction_params)
            labelled += [(i.label, i.score, (i.start_s, i.end_s), i.other_track) for i in interactions]
            text += "".join(f"; {interaction_phrase(window.track_id, i)} {i.start_s - stamps[0]:.1f}-"
                            f"{i.end_s - stamps[0]:.1f} s into the window" for i in interactions)
        labelled.sort(key=lambda item: -item[1])
        details = {**result.details, "label_spans": [list(item[2]) for item in labelled],
                   "label_partners": [item[3] for item in labelled]}
        return (text, tuple(item[0] for item in labelled), tuple(item[1] for item in labelled),
                max((item[1] for item in labelled), default=0.0), details)
