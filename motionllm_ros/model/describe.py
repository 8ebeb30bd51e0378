"""One clip in, one answer out: the path `motionllm describe` and the node share.

frames -> 8 sampled frames -> video tower (CLIP: per frame; LanguageBind: the 8 together) -> projector -> official
prompt -> KV-cached generation.
Motion (HumanML3D features) goes through the VQ-VAE encoder and the motion projector when the model has them.
"""

from __future__ import annotations

import threading

import numpy as np
import torch

from .checkpoint import MANIFEST, MotionLlm
from .errors import ModelError
from .generate import GREEDY, GenerationResult, Generator, OnText, SamplingConfig
from .memory import pool_video_tokens
from .motion_vqvae import MotionTokenizer, VqVaeConfig, load_motion_tokenizer
from .prompt import motion_prompt, video_motion_prompt, video_prompt
from .towers import checked_tower_kind, encode_sampled_frames, open_torch_tower
from .video_tower import preprocess_frames, sample_frame_indices

DEFAULT_QUESTION = "What is the person doing in the video? Describe the motion."


def video_tower_kind(model: MotionLlm) -> str:
    """The kind of the model's video tower, as its files show it and the manifest records it (else an error)."""
    if model.video_tower_dir is None:
        raise ModelError(f"{model.directory}: the manifest names no video_tower (a CLIP vision model or "
                         "LanguageBind_Video_merge directory)")
    return checked_tower_kind(model.video_tower_dir, model.video_tower_kind, model.directory / MANIFEST)


def load_video_tower(model: MotionLlm, device: str = "cpu"):
    """The model's video tower run by torch: `VideoTower` (clip) or `LanguageBindVideoTower` (languagebind)."""
    tower = open_torch_tower(model.video_tower_dir, video_tower_kind(model), device=device)
    if model.video_projector is not None:
        projector_width = next(m for m in model.video_projector.modules() if isinstance(m, torch.nn.Linear)).in_features
        if tower.hidden_size != projector_width:
            raise ModelError(f"video tower {model.video_tower_dir}: width {tower.hidden_size}, "
                             f"the video projector takes {projector_width}")
    return tower


def load_motion_tokenizer_for(model: MotionLlm) -> MotionTokenizer:
    if model.motion_vqvae is None:
        raise ModelError(f"{model.directory}: the manifest names no motion_vqvae")
    spec = model.motion_vqvae
    return load_motion_tokenizer(spec["checkpoint"], spec["mean"], spec["std"], VqVaeConfig(**spec["config"]))


@torch.inference_mode()
def video_embeddings(model: MotionLlm, tower, frames: list[np.ndarray], flip: bool = False,
                     tokens_per_frame: int = 256) -> torch.Tensor:
    """All frames of a clip -> (8 x tokens_per_frame, n_embd): the official 8-frame sampling, tower, pooling
    (model.video_tokens_per_frame; 256 = none), projector (fp32)."""
    if model.video_projector is None:
        raise ModelError(f"{model.directory}: no video projector")
    clip = [frames[i] for i in sample_frame_indices(len(frames))]
    features = encode_sampled_frames(tower, preprocess_frames(clip, flip=flip)).float()  # (8, patches, hidden)
    features = pool_video_tokens(features, tokens_per_frame)
    projector_device = next(model.video_projector.parameters()).device
    return model.video_projector(features.reshape(-1, features.shape[-1]).to(projector_device))


@torch.inference_mode()
def motion_embeddings(model: MotionLlm, tokenizer: MotionTokenizer, features: np.ndarray) -> torch.Tensor:
    """(T, 263) HumanML3D features at 20 fps -> (T // 4, n_embd)."""
    if model.motion_projector is None:
        raise ModelError(f"{model.directory}: no motion projector (MotionLLM never released one)")
    latents = tokenizer.encode(features)
    return model.motion_projector(latents.to(next(model.motion_projector.parameters()).device))


def describe(
    generator: Generator,
    question: str = DEFAULT_QUESTION,
    video: torch.Tensor | None = None,  # (N, n_embd) from video_embeddings
    motion: torch.Tensor | None = None,  # (M, n_embd) from motion_embeddings
    sampling: SamplingConfig = GREEDY,
    on_text: OnText | None = None,
    cancel: threading.Event | None = None,
) -> GenerationResult:
    """The answer for a window with video, motion or both, with the matching prompt."""
    tokenizer = generator.model.tokenizer
    if video is not None and motion is not None:
        prompt, features = video_motion_prompt(tokenizer, question), {"video": video, "motion": motion}
    elif video is not None:
        prompt, features = video_prompt(tokenizer, question), {"video": video}
    elif motion is not None:
        prompt, features = motion_prompt(tokenizer, question), {"motion": motion}
    else:
        raise ModelError("nothing to describe: neither video nor motion embeddings were given")
    return generator.generate(prompt, features, sampling, on_text, cancel)
