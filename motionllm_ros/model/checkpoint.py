"""The model directory: what `motionllm convert` and `make_tiny_checkpoint` write and `load_model_dir` reads.

    DIR/motionllm.json                  manifest: format, LLM sizes, projector types, `random_weights`, provenance
    DIR/llm/config.json                 transformers LlamaConfig
    DIR/llm/model.safetensors           Llama weights in Hugging Face layout, LoRA merged (see lora.py)
    DIR/llm/tokenizer.model             the SentencePiece tokenizer (Vicuna's for the real model)
    DIR/video_projector.safetensors     mlp2x_gelu or linear, float32
    DIR/motion_projector.safetensors    optional (never released officially)

The manifest may also name a video tower directory (`video_tower`, with `video_tower_kind`: `clip` or
`languagebind`, see towers.py) and a motion VQ-VAE (`motion_vqvae`: T2M-GPT checkpoint, mean, std, sizes),
relative to DIR or absolute; they are loaded only by the code that needs them (`describe.py`), which checks the
recorded tower kind against the tower's files.

Loading validates the manifest, every key and every shape from file headers before any weight is read, so a bad
directory fails with the file, key, expected and actual shape, and nothing is half-loaded.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from .errors import ModelError, ModelFileNotFoundError
from .llm import WEIGHTS_FILE, LlmConfig, check_shapes, load_llm, safetensors_shapes
from .lora import LoraSpec
from .projectors import ProjectorSpec, make_projector
from .towers import CLIP, LANGUAGEBIND, TOWER_KINDS

FORMAT_VERSION = 1
MANIFEST = "motionllm.json"
LLM_DIR = "llm"
TOKENIZER_FILE = "tokenizer.model"
VIDEO_PROJECTOR_FILE = "video_projector.safetensors"
MOTION_PROJECTOR_FILE = "motion_projector.safetensors"
RANDOM_NOTE = "RANDOM WEIGHTS: a tiny untrained model for tests and smoke runs; its answers are meaningless"
DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class MotionLlm:
    """A loaded model directory: the LLM, its tokenizer and the projectors into its embedding space."""

    directory: Path
    config: LlmConfig
    llm: object  # transformers LlamaForCausalLM, eval mode
    tokenizer: object  # transformers LlamaTokenizer (SentencePiece semantics, legacy mode)
    video_projector: torch.nn.Module | None  # (N, in_dim) -> (N, n_embd), float32
    motion_projector: torch.nn.Module | None
    random_weights: bool
    video_tower_dir: Path | None  # video tower directory named by the manifest
    video_tower_kind: str | None  # as the manifest records it (towers.TOWER_KINDS); None in older manifests
    motion_vqvae: dict | None  # {"checkpoint", "mean", "std": Path, "config": dict of VqVaeConfig}

    @property
    def device(self) -> torch.device:
        return next(self.llm.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.llm.parameters()).dtype


def write_model_dir(
    out_dir: Path,
    config: LlmConfig,
    llm_state: dict[str, torch.Tensor],
    tokenizer: Path,
    video_projector: tuple[ProjectorSpec, dict[str, torch.Tensor]] | None,
    motion_projector: tuple[ProjectorSpec, dict[str, torch.Tensor]] | None = None,
    random_weights: bool = False,
    source: dict | None = None,
    video_tower: str | None = None,
    video_tower_kind: str | None = None,
    motion_vqvae: dict | None = None,
) -> Path:
    """Write a complete model directory; written into a temporary sibling and renamed, so never half-written."""
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()):
        raise ModelError(f"output directory {out_dir} exists and is not empty")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".motionllm-", dir=out_dir.parent))
    try:
        (staging / LLM_DIR).mkdir()
        config.to_llama_config(next(iter(llm_state.values())).dtype).save_pretrained(staging / LLM_DIR)
        save_file({k: v.contiguous() for k, v in llm_state.items()}, str(staging / LLM_DIR / WEIGHTS_FILE))
        shutil.copyfile(tokenizer, staging / LLM_DIR / TOKENIZER_FILE)
        manifest: dict = {
            "format": FORMAT_VERSION,
            "random_weights": random_weights,
            "llm": config.to_dict(),
            "video_projector": None,
            "motion_projector": None,
            "video_tower": video_tower,
            "video_tower_kind": video_tower_kind,
            "motion_vqvae": motion_vqvae,
            "source": source or {},
        }
        if random_weights:
            manifest["note"] = RANDOM_NOTE
        for name, file, projector in (
            ("video_projector", VIDEO_PROJECTOR_FILE, video_projector),
            ("motion_projector", MOTION_PROJECTOR_FILE, motion_projector),
        ):
            if projector is not None:
                spec, state = projector
                save_file({k: v.float().contiguous() for k, v in state.items()}, str(staging / file))
                manifest[name] = spec.to_dict()
        (staging / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
        staging.chmod(0o755)  # mkdtemp makes it private; a model directory is ordinary data
        if out_dir.exists():
            out_dir.rmdir()
        staging.rename(out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return out_dir


def read_manifest(directory: Path) -> dict:
    path = Path(directory) / MANIFEST
    if not path.is_file():
        raise ModelFileNotFoundError(
            f"not a model directory: {path} is missing (write one with `motionllm convert` "
            "or `motionllm make-tiny-checkpoint`)"
        )
    try:
        manifest = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ModelError(f"{path}: not a readable JSON manifest ({_one_line(error)})") from None
    if not isinstance(manifest, dict):
        raise ModelError(f"{path}: expected a JSON object, got {type(manifest).__name__}")
    if manifest.get("format") != FORMAT_VERSION:
        raise ModelError(f"{path}: format {manifest.get('format')!r}, this version reads {FORMAT_VERSION}")
    return manifest


def _projector(directory: Path, manifest: dict, name: str, file: str) -> torch.nn.Module | None:
    if manifest.get(name) is None:
        return None
    from safetensors.torch import load_file

    spec = _from_manifest(ProjectorSpec, manifest, name, directory)
    path = directory / file
    if not path.is_file():
        raise ModelFileNotFoundError(f"{name} weights not found: {path}")
    check_shapes(str(path), _readable_shapes(path), spec.weight_shapes())
    return make_projector(spec, load_file(str(path)))


def load_tokenizer(llm_dir: Path):
    from transformers import LlamaTokenizer

    path = llm_dir / TOKENIZER_FILE
    if not path.is_file():
        raise ModelFileNotFoundError(f"tokenizer not found: {path} (Vicuna-7B v1.5's tokenizer.model)")
    # legacy=True: every piece is encoded like SentencePieceProcessor.encode, as the official lit-llama Tokenizer.
    try:
        return LlamaTokenizer.from_pretrained(str(llm_dir), local_files_only=True, legacy=True)
    except Exception as error:  # sentencepiece and transformers raise unrelated types for a damaged file
        raise ModelError(f"{path}: not a SentencePiece tokenizer model ({_one_line(error)})") from None


def _from_manifest(cls: type, manifest: dict, key: str, directory: Path):
    """`cls(**manifest[key])` with every value of its field's type, numbers positive and finite (these are shapes
    and constants), or a ModelError naming the manifest and the key."""
    import math
    import typing

    values = manifest.get(key)
    where = f"{directory / MANIFEST}: '{key}'"
    if not isinstance(values, dict):
        raise ModelError(f"{where} must be an object, got {type(values).__name__}")
    hints = typing.get_type_hints(cls)
    for name, value in values.items():
        kind = hints.get(name)
        if kind is None:
            raise ModelError(f"{where}: unknown field {name!r}")
        accepted = (int, float) if kind is float else (kind,)
        if isinstance(value, bool) or not isinstance(value, accepted) or (
                kind in (int, float) and not (math.isfinite(value) and value > 0)):
            raise ModelError(f"{where}: {name} = {value!r} is not a valid {kind.__name__}")
    try:
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise ModelError(f"{where}: {_one_line(error)}") from None


def _readable_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    """The tensor shapes of a safetensors file, or a ModelError naming it when it is truncated or damaged."""
    try:
        return safetensors_shapes(path)
    except Exception as error:  # safetensors' SafetensorError derives from Exception only
        raise ModelError(f"{path}: not a readable safetensors file, truncated or damaged ({_one_line(error)})") from None


def _one_line(error: Exception) -> str:
    return " ".join(str(error).split())[:300] or type(error).__name__


def check_release_files(checkpoints: dict[str, Path], tokenizer: Path) -> None:
    """Before a conversion reads gigabytes: each checkpoint (what -> path) is a PyTorch zip archive with a
    data.pkl (the format the converter memory-maps), the tokenizer a SentencePiece model. ModelError names the
    file otherwise; a missing file is ModelFileNotFoundError."""
    import zipfile

    if not Path(tokenizer).is_file():  # first, as convert_release itself checks
        raise ModelFileNotFoundError(f"tokenizer not found: {tokenizer} (Vicuna-7B v1.5's tokenizer.model)")
    for what, path in checkpoints.items():
        if not Path(path).is_file():
            raise ModelFileNotFoundError(f"{what} not found: {path}")
        try:
            with zipfile.ZipFile(path) as archive:
                pickled = any(name.endswith("/data.pkl") or name == "data.pkl" for name in archive.namelist())
        except (zipfile.BadZipFile, OSError, ValueError) as error:
            raise ModelError(f"{what} {path}: not a PyTorch checkpoint (torch.save's zip format): "
                             f"{_one_line(error)}") from None
        if not pickled:
            raise ModelError(f"{what} {path}: a zip archive without data.pkl, not a PyTorch checkpoint")
    import sentencepiece

    try:
        sentencepiece.SentencePieceProcessor(model_file=str(tokenizer))
    except Exception as error:  # sentencepiece raises RuntimeError / OSError for anything it cannot parse
        raise ModelError(f"tokenizer {tokenizer}: not a SentencePiece model ({_one_line(error)})") from None


def load_model_dir(directory: Path, dtype: str = "float32", device: str = "cpu") -> MotionLlm:
    """Load everything in `directory`; all files are checked before the LLM weights are read."""
    directory = Path(directory)
    if dtype not in DTYPES:
        raise ModelError(f"model dtype {dtype!r}: expected one of {sorted(DTYPES)}")
    manifest = read_manifest(directory)
    config = _from_manifest(LlmConfig, manifest, "llm", directory)
    tokenizer = load_tokenizer(directory / LLM_DIR)
    if len(tokenizer) != config.vocab_size:
        tokenizer_path = directory / LLM_DIR / TOKENIZER_FILE
        raise ModelError(f"{tokenizer_path}: {len(tokenizer)} tokens, the LLM has {config.vocab_size}")
    video = _projector(directory, manifest, "video_projector", VIDEO_PROJECTOR_FILE)
    motion = _projector(directory, manifest, "motion_projector", MOTION_PROJECTOR_FILE)
    if (directory / LLM_DIR / WEIGHTS_FILE).is_file():
        _readable_shapes(directory / LLM_DIR / WEIGHTS_FILE)
    try:
        llm = load_llm(directory / LLM_DIR, config, DTYPES[dtype], device)
    except ModelError:
        raise
    except (OSError, ValueError) as error:  # transformers: e.g. a config.json that is not JSON
        raise ModelError(f"{directory / LLM_DIR}: cannot load the LLM: {_one_line(error)}") from None
    motion_vqvae = manifest.get("motion_vqvae")
    if motion_vqvae is not None:
        motion_vqvae = {**{k: directory / motion_vqvae[k] for k in ("checkpoint", "mean", "std")},
                        "config": motion_vqvae["config"]}
    return MotionLlm(
        directory=directory,
        config=config,
        llm=llm,
        tokenizer=tokenizer,
        video_projector=None if video is None else video.to(device),
        motion_projector=None if motion is None else motion.to(device),
        random_weights=bool(manifest["random_weights"]),
        video_tower_dir=None if manifest.get("video_tower") is None else directory / manifest["video_tower"],
        video_tower_kind=manifest.get("video_tower_kind"),
        motion_vqvae=motion_vqvae,
    )


# ----------------------------------------------------------------------------------------------------------------
# Tiny random models, in the official release's own format so that they go through the real converter

TINY_LLM = LlmConfig(vocab_size=0, n_embd=64, n_layer=2, n_head=4, n_query_groups=4, intermediate_size=172)
# About 114M parameters: large enough that `bench llm` measures memory-bound decoding, small enough for a laptop.
BENCH_LLM = LlmConfig(vocab_size=0, n_embd=768, n_layer=16, n_head=12, n_query_groups=12, intermediate_size=2048)
TINY_LORA = LoraSpec(r=4, alpha=16.0)
TINY_VIDEO_FEATURES = 32  # a tiny video tower's width (either kind)
TINY_MOTION_FEATURES = 32  # a tiny VQ-VAE's latent width
_TOKENIZER_CORPUS = (
    "A chat between a curious user and an artificial intelligence assistant, paired with an input that provides "
    "further context. The assistant gives helpful, detailed, and polite answers to the user's questions. "
    "USER: What is the person doing? Describe the motion. INPUT_VIDEO: INPUT_MOTION_TOKENS: . ASSISTANT: "
    "A man walks forward, raises his right arm, waves, turns around and sits down. Two people shake hands and hug. "
    "The player dribbles a basketball, jumps and shoots. She dances, kicks, runs, and stops."
)


def write_tiny_tokenizer(path: Path, vocab_size: int = 512) -> Path:
    """A SentencePiece BPE model with Llama's settings (byte fallback, ids 0/1/2 = unk/bos/eos, no normalisation)."""
    import io

    import sentencepiece

    buffer = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter([_TOKENIZER_CORPUS] * 8),
        model_writer=buffer,
        vocab_size=vocab_size,
        model_type="bpe",
        byte_fallback=True,
        split_digits=True,
        normalization_rule_name="identity",
        remove_extra_whitespaces=False,
        add_dummy_prefix=True,
        unk_id=0,
        bos_id=1,
        eos_id=2,
        pad_id=-1,
        hard_vocab_limit=False,
        num_threads=1,
        minloglevel=2,
    )
    path.write_bytes(buffer.getvalue())
    return path


def tokenizer_vocab_size(path: Path) -> int:
    import sentencepiece

    return sentencepiece.SentencePieceProcessor(model_file=str(path)).vocab_size()


def write_tiny_release(directory: Path, seed: int = 0, config: LlmConfig = TINY_LLM, lora: LoraSpec = TINY_LORA):
    """Random files laid out like the official release: lit_model.pth, lora.pth, video_projector.pth, tokenizer.

    The LoRA is non-zero (unlike a fresh lit-gpt init) so that where its update lands is visible in the output.
    Returns (config with the tokenizer's vocabulary size, lora spec, dict of the four paths).
    """
    from dataclasses import replace

    from .convert import lit_weight_shapes, lora_weight_shapes

    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = write_tiny_tokenizer(directory / TOKENIZER_FILE)
    config = replace(config, vocab_size=tokenizer_vocab_size(tokenizer))
    generator = torch.Generator().manual_seed(seed)

    def random(shapes: dict[str, tuple[int, ...]], std: float) -> dict[str, torch.Tensor]:
        out = {}
        for key, shape in shapes.items():
            if key.endswith(("norm_1.weight", "norm_2.weight", "ln_f.weight")):
                out[key] = 1.0 + 0.1 * torch.randn(shape, generator=generator)
            else:
                out[key] = std * torch.randn(shape, generator=generator)
        return out

    paths = {
        "lit_model": directory / "lit_model.pth",
        "lora": directory / "lora.pth",
        "video_projector": directory / "video_projector.pth",
        "tokenizer": tokenizer,
    }
    std = min(0.1, config.n_embd ** -0.5)  # keeps activations of the larger bench model in a sane range
    torch.save(random(lit_weight_shapes(config), std), paths["lit_model"])
    torch.save(random(lora_weight_shapes(config, lora), 0.1), paths["lora"])
    torch.save(random(ProjectorSpec("mlp2x_gelu", TINY_VIDEO_FEATURES, config.n_embd).weight_shapes(), 0.1),
               paths["video_projector"])
    return config, lora, paths


def make_tiny_checkpoint(out_dir: Path, seed: int = 0, llm: LlmConfig = TINY_LLM,
                         video_tower_kind: str = CLIP) -> Path:
    """`motionllm make-tiny-checkpoint DIR`: a random tiny model directory, labelled random in its manifest.

    `llm=BENCH_LLM` gives the ~114M-parameter random model for `bench llm`; `video_tower_kind="languagebind"` a
    tiny LanguageBind tower (temporal attention across the 8 frames) instead of a plain CLIP one.
    """
    from safetensors.torch import save_file

    from .convert import convert_release
    from .languagebind import write_tiny_languagebind_tower
    from .motion_vqvae import write_tiny_motion_vqvae
    from .video_tower import write_tiny_video_tower

    if video_tower_kind not in TOWER_KINDS:
        raise ModelError(f"video tower kind {video_tower_kind!r}: expected one of {TOWER_KINDS}")

    with tempfile.TemporaryDirectory() as scratch:
        config, lora, paths = write_tiny_release(Path(scratch), seed, config=llm)
        out = convert_release(
            paths["lit_model"], paths["lora"], paths["video_projector"], paths["tokenizer"], out_dir,
            n_head=config.n_head, n_query_groups=config.n_query_groups, lora_r=lora.r, lora_alpha=lora.alpha,
            dtype=torch.float32,
        )
    generator = torch.Generator().manual_seed(seed + 1)
    motion = ProjectorSpec("linear", TINY_MOTION_FEATURES, config.n_embd)
    save_file({k: 0.1 * torch.randn(s, generator=generator) for k, s in motion.weight_shapes().items()},
              str(out / MOTION_PROJECTOR_FILE))
    if video_tower_kind == LANGUAGEBIND:
        write_tiny_languagebind_tower(out / "video_tower", hidden=TINY_VIDEO_FEATURES, seed=seed)
    else:
        write_tiny_video_tower(out / "video_tower", seed, hidden_size=TINY_VIDEO_FEATURES)
    checkpoint, mean, std, vqvae = write_tiny_motion_vqvae(out / "motion_vqvae", seed, width=TINY_MOTION_FEATURES)
    manifest = json.loads((out / MANIFEST).read_text())
    manifest.update(
        random_weights=True,
        note=RANDOM_NOTE,
        motion_projector=motion.to_dict(),
        video_tower="video_tower",
        video_tower_kind=video_tower_kind,
        motion_vqvae={"checkpoint": str(checkpoint.relative_to(out)), "mean": str(mean.relative_to(out)),
                      "std": str(std.relative_to(out)), "config": asdict(vqvae)},
        source={"seed": seed},
    )
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return out
