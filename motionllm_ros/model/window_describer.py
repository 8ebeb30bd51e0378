"""MotionLLM as the engine's describer: video frames taken on a data-time grid, motion from joints.

The official model reads 8 frames spread over a clip. A window of `window_s` is described every `stride_s`. Only
the first frame at or after each point of a fixed data-time grid with period window_s / 8 is kept (on the
perception worker, as frames arrive), so every window finds about 8 kept frames and picks 8 of them.

What is kept depends on the video tower's kind (towers.py):
- `clip`: the frame's features. Frames are independent, so each is encoded once and serves window_s / stride_s
  windows: the per-frame cache.
- `languagebind`: the preprocessed 224x224 frame. Temporal attention makes a frame's features depend on the other
  seven, so no per-frame cache can reproduce the release: the 8 picked frames are encoded together, per window.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from motionllm_ros.behavior.describer import PrimitivesDescriber, primitive_params
from motionllm_ros.engine import Window
from motionllm_ros.perception import humanml3d

from .checkpoint import MotionLlm, load_model_dir
from .describe import (
    DEFAULT_QUESTION,
    describe,
    load_motion_tokenizer_for,
    load_video_tower,
    video_tower_kind,
)
from .errors import ModelError
from .generate import GREEDY, Generator, SamplingConfig
from .memory import pool_video_tokens, quantize_llm
from .towers import LANGUAGEBIND
from .video_tower import FRAMES_PER_CLIP, preprocess_frames, sample_frame_indices


class DataTimeGrid:
    """`takes(stamp)`: True for the first frame at or after each point of a fixed data-time grid."""

    def __init__(self, period_s: float):
        self.period_s = period_s
        self._next: float | None = None

    def takes(self, stamp: float) -> bool:
        # A stamp far behind the next grid point is a replay restart: follow it. The tolerance keeps a frame that
        # lies on a grid point (0.6 s with a 0.2 s period) from being taken for one just before it.
        tolerance = 1e-6 * max(1.0, abs(stamp))
        if self._next is not None and self._next - self.period_s <= stamp < self._next - tolerance:
            return False
        self._next = (math.floor(stamp / self.period_s + 1e-6) + 1) * self.period_s
        return True


class GridFrameEncoder:
    """`(stamp, rgb) -> (patches, hidden) float32 tensor | None`: encodes the grid's frames with a `clip` tower."""

    def __init__(self, tower, period_s: float):
        self.tower = tower
        self.period_s = period_s
        self.encoded = 0  # frames encoded so far: the video tower's work
        self._grid = DataTimeGrid(period_s)

    def __call__(self, stamp: float, rgb: np.ndarray):
        if not self._grid.takes(stamp):
            return None
        self.encoded += 1
        return self.tower.encode_frames(preprocess_frames([rgb]))[0].float().cpu()


class GridFramePreprocessor:
    """`(stamp, rgb) -> (3, 224, 224) float32 tensor | None`: the grid's frames, ready for a `languagebind` tower,
    which encodes them per window (8 at a time), not per frame."""

    def __init__(self, period_s: float):
        self.period_s = period_s
        self.kept = 0  # frames preprocessed and kept so far
        self._grid = DataTimeGrid(period_s)

    def __call__(self, stamp: float, rgb: np.ndarray):
        if not self._grid.takes(stamp):
            return None
        self.kept += 1
        return preprocess_frames([rgb])[0]


class ModelDescriber:
    """Describes a window with MotionLLM; labels and scores always come from the kinematic primitives."""

    def __init__(self, model_dir: str | Path, window_s: float, question: str = DEFAULT_QUESTION,
                 sampling: SamplingConfig = GREEDY, dtype: str = "float32", device: str = "cpu",
                 tower_factory: Callable[[Path, str], Any] | None = None, max_gap_s: float = 0.5,
                 max_motion_s: float = 9.8, quantization: str = "none", video_tokens_per_frame: int = 256,
                 primitives: Any = None):
        """`tower_factory(tower_dir, device)`: the video tower backend (see encoders.select); default: torch."""
        self.model: MotionLlm = quantize_llm(load_model_dir(Path(model_dir), dtype=dtype, device=device),
                                             quantization)
        self.video_tokens_per_frame = video_tokens_per_frame  # model.video_tokens_per_frame: 256 = as trained
        self.tower_kind = video_tower_kind(self.model)  # checks the manifest's record against the tower's files
        if tower_factory is not None:
            self.tower = tower_factory(self.model.video_tower_dir, device)
        else:
            self.tower = load_video_tower(self.model, device)
        self.motion = load_motion_tokenizer_for(self.model) if self.model.motion_vqvae is not None else None
        self.generator = Generator(self.model)
        self.question = question
        self.sampling = sampling
        # The engine's per-frame hook (perception worker): features (clip) or preprocessed frames (languagebind).
        if self.tower_kind == LANGUAGEBIND:
            self.frame_encoder = GridFramePreprocessor(window_s / FRAMES_PER_CLIP)
        else:
            self.frame_encoder = GridFrameEncoder(self.tower, window_s / FRAMES_PER_CLIP)
        self._joint_encoded = 0  # languagebind: frames through the tower, 8 per window
        self._joint_lock = threading.Lock()  # windows and queries are encoded on different threads
        # The labels and scores, with the behavior.* parameters and the ego-motion source of the configuration.
        self.primitives = primitives if primitives is not None else PrimitivesDescriber()
        self.max_gap_s = max_gap_s  # motion.max_gap_s: a tracking gap longer than this ends a motion
        self.max_motion_s = max_motion_s  # motion.max_seconds: the motion tokenizer's longest input
        self.cancel = threading.Event()  # set to stop a generation in progress (shutdown)
        self.model_id = Path(model_dir).resolve().name + (" (random weights)" if self.model.random_weights else "")

    def __call__(self, window: Window) -> tuple[str, tuple[str, ...], tuple[float, ...], float, dict[str, Any]]:
        _, labels, scores, _, details = self.primitives(window)
        on_grid = sum(s.video is not None for s in window.samples)
        if not on_grid:
            return ("no encoded frame in this window", labels, scores, 0.0, details)
        result, motion_tokens = self._generate(window, self.question, self.cancel)
        # clip: the window's grid frames, each encoded once on arrival; languagebind: the 8 encoded together for it.
        encoded = FRAMES_PER_CLIP if self.tower_kind == LANGUAGEBIND else on_grid
        details = {**details, "video_tower_kind": self.tower_kind, "frames_encoded_in_window": encoded,
                   "motion_tokens": motion_tokens, "stop_reason": result.stop_reason,
                   "prompt_tokens": result.prompt_tokens}
        # confidence 0: not estimated (the generator does not report token probabilities yet).
        return result.answer, labels, scores, 0.0, details

    def answer(self, window: Window, question: str, cancel: threading.Event | None = None,
               on_text: Callable[[str], None] | None = None):
        """A fresh answer to `question` about `window` (a planner's query); `cancel` stops it; `on_text` gets the
        whole answer so far after each generated token. -> GenerationResult"""
        if not any(s.video is not None for s in window.samples):
            raise ModelError("no encoded frame in the latest window")
        return self._generate(window, question, cancel, on_text)[0]

    @property
    def tower_frames_encoded(self) -> int:
        """Frames the video tower has encoded so far (its work): one per grid frame for clip, 8 per window (and per
        query) for languagebind."""
        if self.tower_kind == LANGUAGEBIND:
            with self._joint_lock:
                return self._joint_encoded
        return self.frame_encoder.encoded

    @torch.inference_mode()
    def video_features(self, window: Window) -> torch.Tensor:
        """The window's 8 picked grid frames -> (8, patches, hidden) float32: cached features (clip) or the 8
        encoded together (languagebind)."""
        on_grid = [s for s in window.samples if s.video is not None]
        picked = torch.stack([on_grid[i].video for i in sample_frame_indices(len(on_grid))])
        if self.tower_kind != LANGUAGEBIND:
            return picked  # (8, patches, hidden), encoded as the frames arrived
        features = self.tower.encode_clip(picked).float()  # picked: (8, 3, 224, 224)
        with self._joint_lock:
            self._joint_encoded += len(picked)
        return features

    @torch.inference_mode()
    def _generate(self, window: Window, question: str, cancel: threading.Event | None,
                  on_text: Callable[[str], None] | None = None):
        picked = self.video_features(window)  # (8, patches, hidden)
        picked = pool_video_tokens(picked, self.video_tokens_per_frame)  # before the projector: cheaper
        projector = self.model.video_projector
        video = projector(picked.reshape(-1, picked.shape[-1]).to(next(projector.parameters()).device))
        motion = self._motion(window)
        result = describe(self.generator, question, video=video, motion=motion, sampling=self.sampling,
                          on_text=on_text, cancel=cancel)
        return result, 0 if motion is None else int(motion.shape[0])

    def _motion(self, window: Window):
        """HumanML3D features of the window's track -> motion embeddings; None when there is too little motion."""
        if self.motion is None or self.model.motion_projector is None:
            return None
        stamps, joints = window.track_motion()
        if len(stamps) < 2:
            return None
        # One motion is one continuous stretch of tracking: the latest segment, at most motion.max_seconds long.
        latest = humanml3d.tracked_segments(stamps, np.ones(len(stamps), bool), self.max_gap_s)[-1]
        stamps, joints = stamps[latest], joints[latest]
        keep = stamps >= stamps[-1] - self.max_motion_s
        if keep.sum() < 2:
            return None
        _, at_20fps = humanml3d.resample(stamps[keep], joints[keep])
        if len(at_20fps) < self.motion.config.downsampling + 1:
            return None
        latents = self.motion.encode(humanml3d.compute_features(at_20fps))
        projector = self.model.motion_projector
        return projector(latents.to(next(projector.parameters()).device))


def describer_from_config(config) -> ModelDescriber:
    """The model describer for a `Config` whose `model.dir` is set."""
    import dataclasses

    from .generate import OFFICIAL_SAMPLING

    base = OFFICIAL_SAMPLING if config.model.sampling == "official" else GREEDY
    sampling = dataclasses.replace(base, max_new_tokens=config.model.max_new_tokens)
    device = "cuda" if config.device == "cuda" or (config.device == "auto" and torch.cuda.is_available()) else "cpu"
    from motionllm_ros.encoders.select import select_backend

    def tower_factory(tower_dir: Path, device: str):
        cache_dir = Path(config.video.engine_cache_dir).expanduser()
        return select_backend(config.video.backend, tower_dir, cache_dir, config.video.precision, device).tower

    return ModelDescriber(config.model.dir, config.window.length_s, config.model.question, sampling,
                          config.model.dtype, device, tower_factory, config.motion.max_gap_s,
                          config.motion.max_seconds, config.model.quantization, config.model.video_tokens_per_frame,
                          PrimitivesDescriber(primitive_params(config), config.camera.ego_motion))
