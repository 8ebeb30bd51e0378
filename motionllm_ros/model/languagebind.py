"""LanguageBind's video tower (MotionLLM's real one): CLIP ViT layers with divided space-time attention.

With `add_time_attn: true` every encoder layer first mixes the `num_frames` frames of one clip at each token
position (CLS included): add a learned per-frame embedding, then a pre-norm temporal self-attention with its own
layer norm and a residual; only then the usual CLIP spatial attention and MLP. Because of that mixing a frame's
features depend on the other seven frames, so features cannot be cached per frame: the 8 frames of a window are
encoded together (`joint_frames`).

We build transformers' `CLIPVisionModel` and swap each encoder layer for a subclass carrying the temporal weights,
so parameter names match the release (`vision_model.encoder.layers.N.temporal_embedding`, `...temporal_attn.*`,
`...temporal_layer_norm1.*`) once the `vision_model.` prefix is stripped (transformers 5 dropped that submodule);
the text tower and projections of the full LanguageBind checkpoint are ignored.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from .errors import CheckpointKeyError, ModelError, ModelFileNotFoundError
from .towers import LANGUAGEBIND
from .video_tower import IMAGE_SIZE

VISION_PREFIX = "vision_model."
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
# Buffers some transformers versions saved and others recompute; their absence or presence changes nothing.
IGNORED_BUFFERS = ("embeddings.position_ids",)
# The CLIPVisionConfig fields that fix the tower's shapes and numerics.
GEOMETRY_FIELDS = ("hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads", "image_size",
                   "patch_size", "num_channels", "hidden_act", "layer_norm_eps")


def _temporal_layer_class() -> type:
    """A `CLIPEncoderLayer` subclass (so transformers still records its hidden states) with the temporal step."""
    from torch import nn
    from transformers.models.clip.modeling_clip import CLIPAttention, CLIPEncoderLayer

    class TemporalCLIPEncoderLayer(CLIPEncoderLayer):
        def __init__(self, config, num_frames: int) -> None:
            super().__init__(config)
            self.num_frames = num_frames
            self.temporal_embedding = nn.Parameter(torch.zeros(1, num_frames, config.hidden_size))
            self.temporal_attn = CLIPAttention(config)
            self.temporal_layer_norm1 = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

        def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None, *args, **kwargs):
            return super().forward(self.temporal_step(hidden_states), attention_mask, *args, **kwargs)

        def temporal_step(self, hidden_states: torch.Tensor) -> torch.Tensor:  # (B*T, N, D) -> (B*T, N, D)
            frames_total, tokens, width = hidden_states.shape
            t = self.num_frames
            if frames_total % t:
                raise ModelError(f"LanguageBind video tower: {frames_total} frames is not a multiple of {t}")
            # Frames of one clip are consecutive in the batch; attend across them at each token position.
            per_token = hidden_states.view(-1, t, tokens, width).transpose(1, 2)  # (B, N, T, D)
            per_token = per_token + self.temporal_embedding.view(1, 1, t, width)
            normed = self.temporal_layer_norm1(per_token.reshape(-1, t, width))
            attended, _ = self.temporal_attn(hidden_states=normed)
            per_token = per_token + attended.view(per_token.shape)
            return per_token.transpose(1, 2).reshape(frames_total, tokens, width)

    return TemporalCLIPEncoderLayer


def _read_vision_config(directory: Path) -> dict:
    path = directory / "config.json"
    if not path.is_file():
        raise ModelFileNotFoundError(f"LanguageBind video tower not found: {path} (LanguageBind_Video_merge)")
    try:
        config = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ModelError(f"{path}: not readable JSON ({error})") from error
    # The release stores a LanguageBindVideo config (text_config + vision_config); accept a bare vision config too.
    vision = config.get("vision_config", config)
    if not isinstance(vision, dict):
        raise ModelError(f"{path}: 'vision_config' must be an object")
    if not vision.get("add_time_attn", False):
        raise ModelError(f"{path}: add_time_attn is not true; a plain CLIP tower is video_tower.VideoTower")
    num_frames = vision.get("num_frames")
    if not isinstance(num_frames, int) or num_frames < 2:
        raise ModelError(f"{path}: num_frames must be an integer >= 2, got {num_frames!r}")
    if vision.get("image_size", IMAGE_SIZE) != IMAGE_SIZE:
        raise ModelError(f"{path}: image_size {vision.get('image_size')}, MotionLLM's tower takes {IMAGE_SIZE}")
    return vision


def _load_state_dict(directory: Path) -> tuple[str, dict[str, torch.Tensor]]:
    for name in WEIGHT_FILES:
        path = directory / name
        if not path.is_file():
            continue
        if name.endswith(".safetensors"):
            from safetensors.torch import load_file

            return str(path), load_file(str(path))
        return str(path), torch.load(str(path), map_location="cpu", weights_only=True)
    raise ModelFileNotFoundError(f"{directory}: no {' or '.join(WEIGHT_FILES)} (LanguageBind_Video_merge weights)")


def _check_keys(source: str, expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor]) -> None:
    """Keys without the `vision_model.` prefix; errors name them as the checkpoint spells them."""
    for key, tensor in expected.items():
        if key in IGNORED_BUFFERS:
            continue
        if key not in found:
            raise CheckpointKeyError(source, VISION_PREFIX + key, tuple(tensor.shape), "missing")
        if tuple(found[key].shape) != tuple(tensor.shape):
            raise CheckpointKeyError(source, VISION_PREFIX + key, tuple(tensor.shape), tuple(found[key].shape))
    for key, tensor in found.items():
        if key not in expected and key not in IGNORED_BUFFERS:
            # e.g. an unmerged LoRA checkpoint (`encoder.base_model.model.layers...`): loading it would drop weights.
            raise CheckpointKeyError(source, VISION_PREFIX + key, "no such key in the vision tower",
                                     tuple(tensor.shape))


def _vision_transformer(model):
    """The module holding embeddings/encoder: the model itself in transformers 5, `.vision_model` before."""
    return getattr(model, "vision_model", model)


def _build_model(vision: dict, num_frames: int):
    from transformers import CLIPVisionConfig, CLIPVisionModel

    config = CLIPVisionConfig(**{name: vision[name] for name in GEOMETRY_FIELDS if name in vision})
    model = CLIPVisionModel(config)
    layer_class = _temporal_layer_class()
    layers = _vision_transformer(model).encoder.layers
    for index in range(len(layers)):
        layers[index] = layer_class(config, num_frames)
    return model


class LanguageBindVideoTower:
    """A local LanguageBind video checkpoint; `encode_clip` gives (frames, patches, hidden) for one whole clip."""

    kind = LANGUAGEBIND

    def __init__(self, directory: Path, device: str = "cpu", dtype: torch.dtype = torch.float32) -> None:
        directory = Path(directory)
        vision = _read_vision_config(directory)
        self.joint_frames = int(vision["num_frames"])  # frames encoded together; no per-frame caching
        self.model = _build_model(vision, self.joint_frames)
        source, state = _load_state_dict(directory)
        vision_state = {key[len(VISION_PREFIX):]: value for key, value in state.items()
                        if key.startswith(VISION_PREFIX)}
        transformer = _vision_transformer(self.model)
        _check_keys(source, transformer.state_dict(), vision_state)
        transformer.load_state_dict({k: v for k, v in vision_state.items() if k not in IGNORED_BUFFERS}, strict=False)
        self.model = self.model.to(device=device, dtype=dtype).eval()
        config = self.model.config
        self.hidden_size = int(config.hidden_size)
        self.patches_per_frame = (config.image_size // config.patch_size) ** 2

    @torch.inference_mode()
    def encode_clip(self, pixels: torch.Tensor) -> torch.Tensor:
        """(joint_frames, 3, 224, 224) -> (joint_frames, patches, hidden): second-to-last layer, CLS dropped."""
        expected = (self.joint_frames, 3, IMAGE_SIZE, IMAGE_SIZE)
        if tuple(pixels.shape) != expected:
            raise ModelError(f"LanguageBind video tower input: expected {expected}, got {tuple(pixels.shape)}")
        parameter = next(self.model.parameters())
        out = self.model(pixel_values=pixels.to(parameter.device, parameter.dtype), output_hidden_states=True)
        return out.hidden_states[-2][:, 1:]


def write_tiny_languagebind_tower(directory: Path, hidden: int = 32, num_frames: int = 8, seed: int = 0) -> Path:
    """A random LanguageBind-layout video tower (224 px, patch 14, tiny width, 3 layers), for tests."""
    from safetensors.torch import save_file

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vision = {"hidden_size": hidden, "intermediate_size": 2 * hidden, "num_hidden_layers": 3,
              "num_attention_heads": 2, "image_size": IMAGE_SIZE, "patch_size": 14, "hidden_act": "quick_gelu",
              "layer_norm_eps": 1e-5, "add_time_attn": True, "num_frames": num_frames}
    torch.manual_seed(seed)
    model = _build_model(vision, num_frames)
    transformer = _vision_transformer(model)
    for layer in transformer.encoder.layers:
        torch.nn.init.normal_(layer.temporal_embedding, std=hidden ** -0.5)  # as the release initialises it
    for module in transformer.modules():
        if isinstance(module, torch.nn.LayerNorm):  # distinct norms, so using the wrong one shows in tests
            torch.nn.init.normal_(module.weight, mean=1.0, std=0.1)
            torch.nn.init.normal_(module.bias, std=0.1)
    config = {"model_type": "LanguageBindVideo", "architectures": ["LanguageBindVideo"], "vision_config": vision}
    (directory / "config.json").write_text(json.dumps(config, indent=2))
    state = {VISION_PREFIX + key: tensor.contiguous() for key, tensor in transformer.state_dict().items()
             if key not in IGNORED_BUFFERS}
    save_file(state, str(directory / "model.safetensors"))
    return directory
