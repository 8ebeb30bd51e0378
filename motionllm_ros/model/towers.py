"""Which video tower a directory holds, read off its own files, and the torch tower of that kind.

Two kinds, never guessed:
- `clip`: a plain CLIP vision model; frames are independent, so each can be encoded once and cached.
- `languagebind`: LanguageBind's video tower (MotionLLM's real one), with temporal attention across the clip's
  frames in every layer (`add_time_attn: true`, `temporal_attn` / `temporal_embedding` weights); the 8 frames
  of a clip must go through it together.

The config and the weight names must agree: a config without `add_time_attn` over temporal weights would load as
a plain CLIP model that silently drops them. Model directories record the kind (`video_tower_kind` in the
manifest) and every load checks the record against the files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from .errors import ModelError, ModelFileNotFoundError

if TYPE_CHECKING:
    import torch

CLIP = "clip"
LANGUAGEBIND = "languagebind"
TOWER_KINDS = (CLIP, LANGUAGEBIND)
TEMPORAL_MARKERS = ("temporal_attn", "temporal_embedding")  # in the name of every LanguageBind temporal weight
WEIGHT_FILES = ("model.safetensors", "pytorch_model.bin")
WEIGHT_INDEXES = ("model.safetensors.index.json", "pytorch_model.bin.index.json")  # sharded checkpoints


class TowerKindError(ModelError):
    """A tower directory's files contradict each other, or the manifest names another kind than the files hold."""


def detect_tower_kind(directory: str | Path) -> str:
    """`languagebind` or `clip`, from the directory's config.json and weight names (headers only where possible)."""
    directory = Path(directory)
    config_path = directory / "config.json"
    if not config_path.is_file():
        raise ModelFileNotFoundError(f"video tower not found: {config_path} (a CLIP vision model or "
                                     "LanguageBind_Video_merge directory)")
    try:
        config = json.loads(config_path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise ModelError(f"{config_path}: not readable JSON ({error})") from error
    vision = config.get("vision_config", config) if isinstance(config, dict) else None
    if not isinstance(vision, dict):
        raise ModelError(f"{config_path}: expected a JSON object (with 'vision_config' for a full CLIP model)")
    time_attn = vision.get("add_time_attn") is True
    weights, names = _weight_names(directory)
    temporal = [name for name in names if any(marker in name for marker in TEMPORAL_MARKERS)]
    if time_attn and not temporal:
        raise TowerKindError(f"{config_path} says add_time_attn: true, but {weights} holds no temporal_attn / "
                             "temporal_embedding weights")
    if temporal and not time_attn:
        raise TowerKindError(f"{weights} holds temporal weights ({temporal[0]!r}, ...), but {config_path} lacks "
                             "add_time_attn: true; a plain CLIP load would drop them")
    return LANGUAGEBIND if time_attn else CLIP


def _weight_names(directory: Path) -> tuple[Path, list[str]]:
    """(the file the names come from, every tensor name in the checkpoint)."""
    for name in WEIGHT_INDEXES:
        path = directory / name
        if path.is_file():
            try:
                return path, list(json.loads(path.read_text())["weight_map"])
            except (OSError, json.JSONDecodeError, KeyError, TypeError) as error:
                raise ModelError(f"{path}: not a checkpoint index with a 'weight_map' ({error!r})") from error
    for name in WEIGHT_FILES:
        path = directory / name
        if not path.is_file():
            continue
        try:
            if name.endswith(".safetensors"):
                from safetensors import safe_open

                with safe_open(str(path), framework="pt") as handle:
                    return path, list(handle.keys())
            import torch

            # mmap: only the names are needed, not the ~1 GB of weights in memory.
            return path, list(torch.load(str(path), map_location="cpu", weights_only=True, mmap=True))
        except Exception as error:  # safetensors and torch raise their own types for a corrupt file
            raise ModelError(f"{path}: cannot read its tensor names ({error})") from error
    raise ModelFileNotFoundError(f"{directory}: no {' or '.join(WEIGHT_FILES)} (the video tower's weights)")


def checked_tower_kind(tower_dir: Path, recorded: str | None, manifest: Path) -> str:
    """The kind `tower_dir` holds; TowerKindError when the manifest recorded another. `recorded` None: an older
    manifest without `video_tower_kind`, so the files alone decide."""
    if recorded is not None and recorded not in TOWER_KINDS:
        raise TowerKindError(f"{manifest}: video_tower_kind {recorded!r}, expected one of {TOWER_KINDS}")
    found = detect_tower_kind(tower_dir)
    if recorded is not None and recorded != found:
        raise TowerKindError(f"{manifest} records video_tower_kind {recorded!r}, but {tower_dir} holds a {found!r} "
                             "tower; convert again with this tower or point the manifest at the right one")
    return found


def open_torch_tower(tower_dir: Path, kind: str, device: str = "cpu", dtype: torch.dtype | None = None):
    """`VideoTower` (clip) or `LanguageBindVideoTower` (languagebind) run by torch; dtype None: float32."""
    import torch

    dtype = torch.float32 if dtype is None else dtype
    if kind == LANGUAGEBIND:
        from .languagebind import LanguageBindVideoTower
        from .video_tower import FRAMES_PER_CLIP

        tower = LanguageBindVideoTower(tower_dir, device=device, dtype=dtype)
        if tower.joint_frames != FRAMES_PER_CLIP:
            raise ModelError(f"{tower_dir}: the tower attends across {tower.joint_frames} frames, MotionLLM samples "
                             f"{FRAMES_PER_CLIP} per clip")
        return tower
    from .video_tower import VideoTower

    return VideoTower(tower_dir, device=device, dtype=dtype)


def encode_sampled_frames(tower, pixels: torch.Tensor) -> torch.Tensor:
    """A clip's 8 sampled frames (8, 3, 224, 224) -> (8, patches, hidden), whichever kind of tower (any backend).

    A CLIP tower takes them as a batch of independent frames (the numbers a frame-by-frame cache gives); a
    LanguageBind tower attends across them.
    """
    return tower.encode_clip(pixels) if tower.kind == LANGUAGEBIND else tower.encode_frames(pixels)
