"""Generation with a KV cache, the instruction prefix cached once per question and reused by every window.

The official loop (`generate.py` of IDEA-Research/MotionLLM) re-runs the whole ~2.2k-token sequence for every new
token; `generate_without_cache` reproduces it (used by `bench llm` and by the test that the cached decoder gives
the same tokens). Defaults are greedy and seeded, because a robot wants the same answer for the same input;
`OFFICIAL_SAMPLING` gives the release's temperature 0.8 / top-k 200 / 200 tokens.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import torch

from .checkpoint import MotionLlm
from .errors import ContextLengthError, ModelError
from .prompt import Prompt, answer_from_text


@dataclass(frozen=True)
class SamplingConfig:
    max_new_tokens: int = 200
    greedy: bool = True  # argmax; when False: temperature + top-k sampling from a generator seeded with `seed`
    temperature: float = 0.8
    top_k: int | None = 200
    seed: int = 0
    stop_at_eos: bool = True  # False only for benchmarks, which need a fixed number of tokens


GREEDY = SamplingConfig()  # our default: repeatable answers
OFFICIAL_SAMPLING = SamplingConfig(max_new_tokens=200, greedy=False, temperature=0.8, top_k=200)


@dataclass
class GenerationResult:
    token_ids: list[int]  # generated ids, EOS included when it ended the answer
    answer: str  # text after the last "ASSISTANT:", stripped, as the official code reports it
    stop_reason: str  # "eos", "max_new_tokens" or "cancelled"
    prompt_tokens: int  # text tokens + embeddings


OnText = Callable[[str], None]  # receives the answer so far after each token


class TokenChooser:
    """Greedy or the official temperature / top-k sampling, with its own seeded generator."""

    def __init__(self, sampling: SamplingConfig) -> None:
        self.sampling = sampling
        self.generator = torch.Generator().manual_seed(sampling.seed)

    def __call__(self, logits: torch.Tensor) -> int:  # logits: (vocab,)
        if self.sampling.greedy:
            return int(torch.argmax(logits))
        logits = logits.float().cpu() / self.sampling.temperature
        if self.sampling.top_k is not None:
            threshold = torch.topk(logits, min(self.sampling.top_k, logits.numel())).values[-1]
            logits = logits.masked_fill(logits < threshold, float("-inf"))
        return int(torch.multinomial(torch.softmax(logits, dim=-1), 1, generator=self.generator))


def embed_prompt_parts(model: MotionLlm, prompt: Prompt, features: dict[str, torch.Tensor]) -> torch.Tensor:
    """Everything after the prefix as one (1, T, n_embd) embedding sequence, in the LLM's dtype.

    features[modality]: (N, n_embd) projected embeddings; the official code casts them to the LLM's dtype when it
    writes them over the placeholder positions, and so do we.
    """
    embed = model.llm.get_input_embeddings()
    pieces = []
    for modality, ids in prompt.parts:
        if modality not in features:
            raise ModelError(f"the prompt needs {modality} embeddings and none were given")
        part = features[modality]
        if part.ndim != 2 or part.shape[1] != model.config.n_embd or part.shape[0] == 0:
            expected = f"(N>0, {model.config.n_embd})"
            raise ModelError(f"{modality} embeddings: expected shape {expected}, got {tuple(part.shape)}")
        pieces.append(part.to(device=model.device, dtype=model.dtype))
        if ids:
            pieces.append(embed(torch.tensor(ids, device=model.device)))
    return torch.cat(pieces, dim=0).unsqueeze(0)


def check_context(model: MotionLlm, prompt_tokens: int, max_new_tokens: int) -> None:
    limit = model.config.block_size
    if prompt_tokens + max_new_tokens > limit:
        raise ContextLengthError(
            f"prompt of {prompt_tokens} tokens (question, markers and embeddings) plus {max_new_tokens} new tokens "
            f"exceeds the LLM context of {limit}: shorten the question or lower max_new_tokens"
        )


class Generator:
    """KV-cached generation for one loaded model; keeps the caches of the last few instruction prefixes.

    One generation at a time per Generator (the lock serialises callers). Each call copies the cached prefix into
    a fresh preallocated cache (transformers' StaticCache) sized to the prompt plus the answer: a window never sees
    another window's tokens, and decoding writes in place instead of re-concatenating the whole cache per token
    as the growing DynamicCache does (about twice the decode speed at a 2.2k context on CPU).
    """

    def __init__(self, model: MotionLlm, max_cached_prefixes: int = 4) -> None:
        self.model = model
        self.max_cached_prefixes = max_cached_prefixes
        self._prefix_caches: OrderedDict[tuple[int, ...], object] = OrderedDict()
        self._lock = threading.Lock()

    def _cache_with_prefix(self, prefix_ids: tuple[int, ...], capacity: int):
        """A StaticCache of `capacity` tokens already holding the prefix's keys and values."""
        from transformers import DynamicCache, StaticCache

        prefix = self._prefix_caches.get(prefix_ids)
        if prefix is None:
            prefix = DynamicCache(config=self.model.llm.config)
            ids = torch.tensor([prefix_ids], device=self.model.device)
            self.model.llm(input_ids=ids, cache=prefix, use_cache=True, logits_to_keep=1)
            self._prefix_caches[prefix_ids] = prefix
            while len(self._prefix_caches) > self.max_cached_prefixes:
                self._prefix_caches.popitem(last=False)
        self._prefix_caches.move_to_end(prefix_ids)
        cache = StaticCache(config=self.model.llm.config, max_cache_len=capacity)
        for index, layer in enumerate(prefix.layers):
            cache.update(layer.keys, layer.values, index)
        return cache

    @torch.inference_mode()
    def generate(
        self,
        prompt: Prompt,
        features: dict[str, torch.Tensor],
        sampling: SamplingConfig = GREEDY,
        on_text: OnText | None = None,
        cancel: threading.Event | None = None,
    ) -> GenerationResult:
        with self._lock:
            model = self.model
            suffix = embed_prompt_parts(model, prompt, features)
            prompt_tokens = len(prompt.prefix_ids) + suffix.shape[1]
            check_context(model, prompt_tokens, sampling.max_new_tokens)
            cache = self._cache_with_prefix(prompt.prefix_ids, prompt_tokens + sampling.max_new_tokens)
            logits = model.llm(inputs_embeds=suffix, cache=cache, use_cache=True, logits_to_keep=1).logits

            def next_logits(token: int) -> torch.Tensor:
                ids = torch.tensor([[token]], device=model.device)
                return model.llm(input_ids=ids, cache=cache, use_cache=True).logits[0, -1]

            return _decode_loop(model, sampling, prompt_tokens, on_text, cancel, logits[0, -1], next_logits)


@torch.inference_mode()
def generate_without_cache(
    model: MotionLlm,
    prompt: Prompt,
    features: dict[str, torch.Tensor],
    sampling: SamplingConfig = GREEDY,
    on_text: OnText | None = None,
    cancel: threading.Event | None = None,
) -> GenerationResult:
    """The official loop: every new token re-runs the LLM over the whole sequence, no KV cache."""
    embed = model.llm.get_input_embeddings()
    sequence = torch.cat([embed(torch.tensor(prompt.prefix_ids, device=model.device)).unsqueeze(0),
                          embed_prompt_parts(model, prompt, features)], dim=1)
    prompt_tokens = sequence.shape[1]
    check_context(model, prompt_tokens, sampling.max_new_tokens)

    def full_forward(token: int | None) -> torch.Tensor:
        nonlocal sequence
        if token is not None:
            sequence = torch.cat([sequence, embed(torch.tensor([[token]], device=model.device))], dim=1)
        return model.llm(inputs_embeds=sequence, use_cache=False, logits_to_keep=1).logits[0, -1]

    return _decode_loop(model, sampling, prompt_tokens, on_text, cancel, full_forward(None), full_forward)


def _decode_loop(
    model: MotionLlm,
    sampling: SamplingConfig,
    prompt_tokens: int,
    on_text: OnText | None,
    cancel: threading.Event | None,
    first_logits: torch.Tensor,
    next_logits: Callable[[int], torch.Tensor],
) -> GenerationResult:
    choose = TokenChooser(sampling)
    eos = model.tokenizer.eos_token_id
    tokens: list[int] = []
    logits = first_logits
    stop_reason = "max_new_tokens"
    while len(tokens) < sampling.max_new_tokens:
        if cancel is not None and cancel.is_set():
            stop_reason = "cancelled"
            break
        token = choose(logits)
        tokens.append(token)
        if token == eos and sampling.stop_at_eos:
            stop_reason = "eos"
            break
        if on_text is not None:
            on_text(answer_from_text(model.tokenizer.decode(tokens, skip_special_tokens=True)))
        if len(tokens) < sampling.max_new_tokens:
            logits = next_logits(token)
    answer = answer_from_text(model.tokenizer.decode(tokens, skip_special_tokens=True))
    return GenerationResult(token_ids=tokens, answer=answer, stop_reason=stop_reason, prompt_tokens=prompt_tokens)
