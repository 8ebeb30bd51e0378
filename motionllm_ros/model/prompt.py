"""The official MotionLLM prompt, token for token, and our video+motion and motion-only variants.

Official (CLI.py of IDEA-Research/MotionLLM) for a video and a question Q:

    text = SYSTEM + "USER: " + Q + " INPUT_VIDEO: <video>. \\nASSISTANT: "  (the training template)
    ids  = [BOS] + encode(SYSTEM + "USER: " + Q + " " + "\\n")   # text before "INPUT_VIDEO: ", plus a newline
         + encode("INPUT_VIDEO: ")                                # no BOS
         + <2048 projected video embeddings>
         + encode(". ASSISTANT: ")                                # no BOS

where encode is SentencePiece's, which puts a word-boundary marker in front of each piece. The answer is the text
after the last "ASSISTANT:". The motion marker "INPUT_MOTION_TOKENS: " appears only in a comment of the official
code; the motion and joint prompts below use it in the same three-piece scheme (our choice, since the motion
branch was never released).

Everything before the first embedding depends only on the question, so `Prompt.prefix_ids` is what the generator
caches once and reuses for every window.
"""

from __future__ import annotations

from dataclasses import dataclass

SYSTEM = (
    "A chat between a curious user and an artificial intelligence assistant, paired with an input that provides "
    "further context. The assistant gives helpful, detailed, and polite answers to the user's questions. "
)
VIDEO_MARKER = "INPUT_VIDEO: "
MOTION_MARKER = "INPUT_MOTION_TOKENS: "
ANSWER_MARKER = ". ASSISTANT: "
ANSWER_SPLIT = "ASSISTANT:"
MODALITIES = ("video", "motion")


@dataclass(frozen=True)
class Prompt:
    """Token ids around modality embeddings: prefix_ids, then for each part its embeddings and following ids."""

    prefix_ids: tuple[int, ...]  # BOS + instruction + first marker: the same for every window with this question
    parts: tuple[tuple[str, tuple[int, ...]], ...]  # (modality in MODALITIES, token ids after its embeddings)

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(modality for modality, _ in self.parts)

    def text_token_count(self) -> int:
        return len(self.prefix_ids) + sum(len(ids) for _, ids in self.parts)


def _encode(tokenizer, text: str) -> tuple[int, ...]:
    return tuple(tokenizer.encode(text, add_special_tokens=False))


def _head_ids(tokenizer, question: str) -> tuple[int, ...]:
    return (tokenizer.bos_token_id,) + _encode(tokenizer, f"{SYSTEM}USER: {question} \n")


def video_prompt(tokenizer, question: str) -> Prompt:
    """The official prompt for one video clip."""
    return Prompt(
        prefix_ids=_head_ids(tokenizer, question) + _encode(tokenizer, VIDEO_MARKER),
        parts=(("video", _encode(tokenizer, ANSWER_MARKER)),),
    )


def motion_prompt(tokenizer, question: str) -> Prompt:
    """Motion tokens only, in the official scheme with the motion marker."""
    return Prompt(
        prefix_ids=_head_ids(tokenizer, question) + _encode(tokenizer, MOTION_MARKER),
        parts=(("motion", _encode(tokenizer, ANSWER_MARKER)),),
    )


def video_motion_prompt(tokenizer, question: str) -> Prompt:
    """Video then motion of the same window: `INPUT_VIDEO: <video>. INPUT_MOTION_TOKENS: <motion>. ASSISTANT: `."""
    return Prompt(
        prefix_ids=_head_ids(tokenizer, question) + _encode(tokenizer, VIDEO_MARKER),
        parts=(
            ("video", _encode(tokenizer, ". " + MOTION_MARKER)),
            ("motion", _encode(tokenizer, ANSWER_MARKER)),
        ),
    )


def answer_from_text(generated: str) -> str:
    """The official answer extraction: the text after the last "ASSISTANT:", stripped."""
    return generated.split(ANSWER_SPLIT)[-1].strip()
