"""Prompt token ids against the official three-piece tokenisation, and KV-cached generation against the official
no-cache loop, on a tiny random model."""

from __future__ import annotations

import threading

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")
sentencepiece = pytest.importorskip("sentencepiece")

from motionllm_ros.model.checkpoint import load_model_dir, make_tiny_checkpoint
from motionllm_ros.model.errors import ContextLengthError, ModelError
from motionllm_ros.model.generate import (
    OFFICIAL_SAMPLING,
    Generator,
    SamplingConfig,
    embed_prompt_parts,
    generate_without_cache,
)
from motionllm_ros.model.prompt import (
    answer_from_text,
    motion_prompt,
    video_motion_prompt,
    video_prompt,
)

# The official template (generate_prompt_mlp in IDEA-Research/MotionLLM), written out from the facts.
OFFICIAL_TEMPLATE = (
    "A chat between a curious user and an artificial intelligence assistant, paired with an input that provides "
    "further context. The assistant gives helpful, detailed, and polite answers to the user's questions. "
    "USER: {question} INPUT_VIDEO: {input}. \nASSISTANT: "
)
QUESTIONS = ["What is the person doing?", "Describe the motion in detail.", "Was macht er? 2 Hände, 30 fps ✋"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    return load_model_dir(make_tiny_checkpoint(tmp_path_factory.mktemp("tiny") / "model", seed=5))


def official_video_ids(sp, question: str) -> tuple[list[int], list[int]]:
    """What CLI.py builds with lit-llama's Tokenizer (SentencePiece, BOS prepended only when asked)."""
    prefix = OFFICIAL_TEMPLATE.format(question=question, input="clip.mp4")
    before = [sp.bos_id()] + sp.encode(prefix.split("INPUT_VIDEO: ")[0] + "\n") + sp.encode("INPUT_VIDEO: ")
    return before, sp.encode(". ASSISTANT: ")


@pytest.mark.parametrize("question", QUESTIONS)
def test_video_prompt_equals_official_three_piece_ids(model, question):
    sp = sentencepiece.SentencePieceProcessor(model_file=str(model.directory / "llm" / "tokenizer.model"))
    before, after = official_video_ids(sp, question)
    prompt = video_prompt(model.tokenizer, question)
    assert list(prompt.prefix_ids) == before
    assert prompt.parts == (("video", tuple(after)),)
    assert before[0] == 1 and 13 in before  # BOS, and the newline as SentencePiece's byte token <0x0A>


def test_motion_and_joint_prompts_share_the_head(model):
    video = video_prompt(model.tokenizer, "Q?")
    motion = motion_prompt(model.tokenizer, "Q?")
    joint = video_motion_prompt(model.tokenizer, "Q?")
    assert joint.prefix_ids == video.prefix_ids and joint.modalities == ("video", "motion")
    assert motion.modalities == ("motion",)
    assert model.tokenizer.decode(list(motion.prefix_ids)).endswith("USER: Q? \n INPUT_MOTION_TOKENS: ")
    assert model.tokenizer.decode(list(joint.parts[0][1])) == ". INPUT_MOTION_TOKENS: "
    assert joint.parts[1][1] == video.parts[0][1]


def test_splice_puts_embeddings_between_the_pieces(model):
    prompt = video_motion_prompt(model.tokenizer, "Q?")
    video, motion = torch.randn(6, 64), torch.randn(3, 64)
    suffix = embed_prompt_parts(model, prompt, {"video": video, "motion": motion})
    n_mid = len(prompt.parts[0][1])
    assert suffix.shape == (1, 6 + n_mid + 3 + len(prompt.parts[1][1]), 64)
    assert torch.equal(suffix[0, :6], video) and torch.equal(suffix[0, 6 + n_mid:9 + n_mid], motion)
    table = model.llm.get_input_embeddings().weight
    assert torch.equal(suffix[0, 6:6 + n_mid], table[list(prompt.parts[0][1])])
    with pytest.raises(ModelError, match="motion embeddings"):
        embed_prompt_parts(model, prompt, {"video": video})
    with pytest.raises(ModelError, match=r"\(0, 64\)"):
        embed_prompt_parts(model, prompt, {"video": torch.zeros(0, 64), "motion": motion})


def test_answer_is_text_after_last_assistant():
    assert answer_from_text("USER: x ASSISTANT: first ASSISTANT:  second answer ") == "second answer"


def _video_features(model, seed: int) -> dict[str, torch.Tensor]:
    clip = torch.randn(48, 32, generator=torch.Generator().manual_seed(seed))  # tower features, tiny width 32
    with torch.inference_mode():
        return {"video": model.video_projector(clip)}


def test_cached_greedy_equals_full_recomputation(model):
    prompt = video_prompt(model.tokenizer, "What is the person doing?")
    sampling = SamplingConfig(max_new_tokens=16)
    generator = Generator(model)
    for seed in (0, 1):  # the second window reuses the cached instruction prefix
        features = _video_features(model, seed)
        cached = generator.generate(prompt, features, sampling)
        full = generate_without_cache(model, prompt, features, sampling)
        assert cached.token_ids == full.token_ids
        assert cached.answer == full.answer and cached.prompt_tokens == full.prompt_tokens
    assert len(generator._prefix_caches) == 1


def test_official_sampling_is_seeded_and_matches_the_no_cache_loop(model):
    prompt = video_prompt(model.tokenizer, "Describe the motion in detail.")
    features = _video_features(model, 2)
    sampling = SamplingConfig(max_new_tokens=12, greedy=False, temperature=OFFICIAL_SAMPLING.temperature,
                              top_k=OFFICIAL_SAMPLING.top_k, seed=11)
    first = Generator(model).generate(prompt, features, sampling)
    again = Generator(model).generate(prompt, features, sampling)
    reference = generate_without_cache(model, prompt, features, sampling)
    assert first.token_ids == again.token_ids == reference.token_ids
    greedy = Generator(model).generate(prompt, features, SamplingConfig(max_new_tokens=12))
    assert greedy.token_ids != first.token_ids  # sampling at temperature 0.8 over 512 tokens is not argmax


def test_streaming_and_cancellation(model):
    prompt = video_prompt(model.tokenizer, "What is the person doing?")
    features = _video_features(model, 3)
    full = Generator(model).generate(prompt, features, SamplingConfig(max_new_tokens=10))
    streamed: list[str] = []
    cancel = threading.Event()

    def on_text(text: str) -> None:
        streamed.append(text)
        if len(streamed) == 3:
            cancel.set()

    partial = Generator(model).generate(prompt, features, SamplingConfig(max_new_tokens=10), on_text, cancel)
    if full.stop_reason == "eos" and len(full.token_ids) <= 3:
        pytest.skip("the random model ended its answer before the cancel point")
    assert partial.stop_reason == "cancelled" and partial.token_ids == full.token_ids[:3]
    assert streamed[-1] == partial.answer


def test_context_guard(model):
    long_question = " ".join(["walk"] * 5000)
    prompt = video_prompt(model.tokenizer, long_question)
    with pytest.raises(ContextLengthError, match="exceeds the LLM context of 4096"):
        Generator(model).generate(prompt, _video_features(model, 0), SamplingConfig(max_new_tokens=8))
    short = video_prompt(model.tokenizer, "Q?")
    with pytest.raises(ContextLengthError, match="4000 new tokens"):
        Generator(model).generate(short, _video_features(model, 0), SamplingConfig(max_new_tokens=4000))
