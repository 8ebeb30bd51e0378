"""The motion tokenizer's encoder: T2M-GPT's VQ-VAE encoder over normalised HumanML3D features.

HumanML3D 263-dim features at 20 fps, normalised with the checkpoint's mean/std, go through
Conv1d(263, width, 3) -> ReLU -> down_t x [Conv1d(width, width, 4, stride 2, pad 1) -> Resnet1D] ->
Conv1d(width, 512, 3); Resnet1D is `depth` residual blocks (ReLU -> dilated Conv1d(k3) -> ReLU -> Conv1d(k1), plus
the input) with dilations growth^(depth-1) ... 1. MotionLLM (down_t 2) projects the pre-quantisation latents
(T/4, 512) with Linear(512, 4096). Keys follow T2M-GPT's `net_last.pth`: `{"net": {"vqvae.encoder.model...."}}`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .errors import CheckpointKeyError, ModelError, ModelFileNotFoundError
from .llm import check_shapes

ENCODER_PREFIX = "vqvae.encoder."
IGNORED_PREFIXES = ("vqvae.decoder.", "vqvae.quantizer.")  # the tokenizer's other halves, not needed to encode


@dataclass(frozen=True)
class VqVaeConfig:
    input_dim: int = 263  # HumanML3D features
    width: int = 512
    output_dim: int = 512  # latent width
    down_t: int = 2  # temporal downsampling 2^down_t
    depth: int = 3
    dilation_growth: int = 3

    @property
    def downsampling(self) -> int:
        return 2 ** self.down_t


class _ResBlock(nn.Module):
    def __init__(self, channels: int, dilation: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv1d(channels, channels, 3, 1, dilation, dilation)
        self.conv2 = nn.Conv1d(channels, channels, 1, 1, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(torch.relu(self.conv1(torch.relu(x))))


class _Resnet1D(nn.Module):
    def __init__(self, channels: int, depth: int, growth: int) -> None:
        super().__init__()
        self.model = nn.Sequential(*[_ResBlock(channels, growth ** d) for d in reversed(range(depth))])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class MotionEncoder(nn.Module):
    """State-dict keys `model.*` equal T2M-GPT's `vqvae.encoder.model.*`."""

    def __init__(self, config: VqVaeConfig) -> None:
        super().__init__()
        c = config
        blocks: list[nn.Module] = [nn.Conv1d(c.input_dim, c.width, 3, 1, 1), nn.ReLU()]
        for _ in range(c.down_t):
            downsample = nn.Conv1d(c.width, c.width, 4, 2, 1)
            blocks.append(nn.Sequential(downsample, _Resnet1D(c.width, c.depth, c.dilation_growth)))
        blocks.append(nn.Conv1d(c.width, c.output_dim, 3, 1, 1))
        self.model = nn.Sequential(*blocks)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, input_dim, T) -> (B, output_dim, T / 2^down_t)
        return self.model(x)


class MotionTokenizer:
    """Normalise HumanML3D features and encode them to latents; `encode` takes (T, 263), returns (T // 4, 512)."""

    def __init__(self, encoder: MotionEncoder, config: VqVaeConfig, mean: np.ndarray, std: np.ndarray) -> None:
        for name, array in (("mean", mean), ("std", std)):
            if array.shape != (config.input_dim,):
                raise ModelError(f"motion {name}: expected shape ({config.input_dim},), got {array.shape}")
        if np.any(std <= 0):
            raise ModelError("motion std: every entry must be positive")
        self.encoder = encoder.float().eval()
        self.config = config
        self.mean = torch.from_numpy(np.asarray(mean, dtype=np.float32))
        self.std = torch.from_numpy(np.asarray(std, dtype=np.float32))

    @torch.inference_mode()
    def encode(self, features: np.ndarray) -> torch.Tensor:
        if features.ndim != 2 or features.shape[1] != self.config.input_dim:
            raise ModelError(f"motion features: expected (T, {self.config.input_dim}), got {features.shape}")
        if features.shape[0] < self.config.downsampling:
            raise ModelError(f"motion features: {features.shape[0]} frames, at least {self.config.downsampling} needed")
        x = (torch.from_numpy(np.asarray(features, dtype=np.float32)) - self.mean) / self.std
        latents = self.encoder(x.T.unsqueeze(0))  # (1, 512, T')
        return latents[0].T.contiguous()


def encoder_weight_shapes(config: VqVaeConfig) -> dict[str, tuple[int, ...]]:
    """`model.*` keys of the encoder with their shapes."""
    return {key: tuple(value.shape) for key, value in MotionEncoder(config).state_dict().items()}


T2M_GPT_VQVAE = VqVaeConfig()  # MotionLLM's tokenizer: width 512, depth 3, down_t 2, dilation growth 3


def load_motion_tokenizer(
    checkpoint: Path, mean: Path, std: Path, config: VqVaeConfig = T2M_GPT_VQVAE
) -> MotionTokenizer:
    """T2M-GPT `net_last.pth` (+ the mean.npy / std.npy it was trained with) -> a MotionTokenizer."""
    for path, what in ((checkpoint, "VQ-VAE checkpoint (T2M-GPT net_last.pth)"), (mean, "motion mean.npy"),
                       (std, "motion std.npy")):
        if not Path(path).is_file():
            raise ModelFileNotFoundError(f"{what} not found: {path}")
    state = torch.load(str(checkpoint), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and isinstance(state.get("net"), dict):
        state = state["net"]
    encoder_state = {}
    for key, value in state.items():
        if key.startswith(ENCODER_PREFIX):
            encoder_state[key[len(ENCODER_PREFIX):]] = value
        elif not key.startswith(IGNORED_PREFIXES):
            raise CheckpointKeyError(str(checkpoint), key, "a vqvae.encoder/decoder/quantizer key", "unexpected key")
    expected = encoder_weight_shapes(config)
    check_shapes(str(checkpoint), {k: tuple(v.shape) for k, v in encoder_state.items()}, expected)
    encoder = MotionEncoder(config)
    encoder.load_state_dict({k: v.float() for k, v in encoder_state.items()}, strict=True)
    return MotionTokenizer(encoder, config, np.load(mean).astype(np.float32), np.load(std).astype(np.float32))


def write_tiny_motion_vqvae(directory: Path, seed: int = 0, width: int = 32) -> tuple[Path, Path, Path, VqVaeConfig]:
    """A random encoder in T2M-GPT's checkpoint layout with a tiny width, plus unit mean/std files."""
    config = VqVaeConfig(width=width, output_dim=width)
    torch.manual_seed(seed)
    directory.mkdir(parents=True, exist_ok=True)
    state = {ENCODER_PREFIX + key: value for key, value in MotionEncoder(config).state_dict().items()}
    state["vqvae.quantizer.codebook"] = torch.randn(512, width)
    torch.save({"net": state}, directory / "net_last.pth")
    np.save(directory / "mean.npy", np.zeros(config.input_dim, dtype=np.float32))
    np.save(directory / "std.npy", np.ones(config.input_dim, dtype=np.float32))
    return directory / "net_last.pth", directory / "mean.npy", directory / "std.npy", config
