"""The video tower: a CLIP ViT (transformers `CLIPVisionModel`) applied to each frame on its own.

MotionLLM uses LanguageBind's video tower (CLIP ViT-L/14, 224x224): 8 frames sampled with linspace over the clip,
pixels / 255, CLIP mean/std, short side scaled to 224 (bilinear), centre crop 224; features are
`hidden_states[-2]` with each frame's CLS token dropped, so 8 x 256 tokens of width 1024. Encoding frame by frame
lets a sliding window reuse the features of frames it shares with the previous window.

The official preprocessing also flips the clip horizontally with p=0.5 at inference; ours is deterministic and
`flip=True` reproduces the flipped half of the official outcomes.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from .errors import ModelError, ModelFileNotFoundError
from .towers import CLIP

FRAMES_PER_CLIP = 8
IMAGE_SIZE = 224
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class EmptyClipError(ModelError):
    """A clip without frames cannot be described."""


def sample_frame_indices(n_frames: int, count: int = FRAMES_PER_CLIP) -> np.ndarray:
    """`linspace(0, n-1, count)` truncated to int, as the official sampler; short clips repeat frames."""
    if n_frames <= 0:
        raise EmptyClipError("the clip has no frames")
    return np.linspace(0, n_frames - 1, count).astype(np.int64)


def preprocess_frames(frames: list[np.ndarray] | np.ndarray, flip: bool = False) -> torch.Tensor:
    """RGB uint8 frames (each (H, W, 3)) -> (N, 3, 224, 224) float32, normalised for CLIP.

    Normalising before or after the bilinear resize is the same (both are affine per channel), so we scale first,
    then normalise, then crop, like pytorchvideo's ShortSideScale + CenterCropVideo.
    """
    if len(frames) == 0:
        raise EmptyClipError("the clip has no frames")
    pixels = []
    for index, frame in enumerate(frames):
        if frame.ndim != 3 or frame.shape[2] != 3 or frame.dtype != np.uint8:
            raise ModelError(f"frame {index}: expected an (H, W, 3) uint8 RGB image, got {frame.shape} {frame.dtype}")
        pixels.append(_scale_and_crop(torch.from_numpy(np.ascontiguousarray(frame)).permute(2, 0, 1).float() / 255.0))
    video = torch.stack(pixels)
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    video = (video - mean) / std
    return torch.flip(video, dims=[-1]) if flip else video


def _scale_and_crop(image: torch.Tensor) -> torch.Tensor:  # (3, H, W) -> (3, 224, 224)
    _, height, width = image.shape
    if width < height:
        size = (math.floor(height / width * IMAGE_SIZE), IMAGE_SIZE)
    else:
        size = (IMAGE_SIZE, math.floor(width / height * IMAGE_SIZE))
    scaled = torch.nn.functional.interpolate(image[None], size=size, mode="bilinear", align_corners=False)[0]
    top = round((size[0] - IMAGE_SIZE) / 2.0)
    left = round((size[1] - IMAGE_SIZE) / 2.0)
    return scaled[:, top:top + IMAGE_SIZE, left:left + IMAGE_SIZE]


class VideoTower:
    """A local CLIP vision checkpoint; `encode_frames` gives (N, patches, hidden) per-frame features."""

    kind = CLIP  # frames are independent: each can be encoded once and cached

    def __init__(self, directory: Path, device: str = "cpu", dtype: torch.dtype = torch.float32) -> None:
        from transformers import CLIPVisionModel
        from transformers.utils import logging

        directory = Path(directory)
        if not (directory / "config.json").is_file():
            raise ModelFileNotFoundError(f"video tower not found: {directory / 'config.json'} (a CLIP vision model)")
        logging.disable_progress_bar()
        self.model = CLIPVisionModel.from_pretrained(str(directory), local_files_only=True, dtype=dtype)
        self.model = self.model.to(device).eval()
        config = self.model.config
        if config.image_size != IMAGE_SIZE:
            raise ModelError(f"{directory}: image_size {config.image_size}, MotionLLM's tower takes {IMAGE_SIZE}")
        self.hidden_size = int(config.hidden_size)
        self.patches_per_frame = (config.image_size // config.patch_size) ** 2

    @torch.inference_mode()
    def encode_frames(self, pixels: torch.Tensor) -> torch.Tensor:
        """(N, 3, 224, 224) -> (N, patches, hidden): the second-to-last layer, CLS token dropped."""
        if pixels.ndim != 4 or tuple(pixels.shape[1:]) != (3, IMAGE_SIZE, IMAGE_SIZE):
            expected = f"(N, 3, {IMAGE_SIZE}, {IMAGE_SIZE})"
            raise ModelError(f"video tower input: expected {expected}, got {tuple(pixels.shape)}")
        parameter = next(self.model.parameters())
        out = self.model(pixel_values=pixels.to(parameter.device, parameter.dtype), output_hidden_states=True)
        return out.hidden_states[-2][:, 1:]


def write_tiny_video_tower(directory: Path, seed: int = 0, hidden_size: int = 32) -> Path:
    """A random CLIP vision model with MotionLLM's geometry (224 px, patch 14) and a tiny width, for tests."""
    from transformers import CLIPVisionConfig, CLIPVisionModel

    torch.manual_seed(seed)
    config = CLIPVisionConfig(hidden_size=hidden_size, intermediate_size=2 * hidden_size, num_hidden_layers=3,
                              num_attention_heads=2, image_size=IMAGE_SIZE, patch_size=14)
    CLIPVisionModel(config).save_pretrained(str(directory))
    return Path(directory)
