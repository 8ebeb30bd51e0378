"""`motionllm bench llm`: KV-cached generation against the official no-cache loop, on the same model and inputs.

Reported (JSON-ready dict):
  prefill_s                time from a cold prefix to the first token (the whole context is computed once)
  decode_tokens_per_s      cached decoding after the first token
                           (both the median of `repeats` runs, with their _min and _max: on a shared machine runs
                           differ up to 2x, and a best-of-n hides that; every run is listed too)
  official_tokens_per_s    the official loop (whole sequence re-run per token), measured over a few tokens
  speedup                  decode_tokens_per_s / official_tokens_per_s
  bandwidth_gb_s           memory copy bandwidth measured in the same run (read + write bytes / time)
  bytes_per_token          weights read per decoded token (embedding table excluded: one row is gathered) plus
                           the KV cache read at the final context length
  bound_tokens_per_s       bandwidth_gb_s / bytes_per_token: what a purely memory-bound decoder could reach
  fraction_of_bound        decode_tokens_per_s / bound_tokens_per_s
"""

from __future__ import annotations

import statistics
import time

import torch

from .checkpoint import MotionLlm
from .errors import ModelError
from .generate import Generator, SamplingConfig, generate_without_cache
from .memory import kv_bytes_per_token, tensor_bytes
from .prompt import video_prompt


def measure_copy_bandwidth(megabytes: int = 512, repeats: int = 5) -> float:
    """Best-of-n bytes moved per second (GB/s) copying a buffer much larger than any CPU cache."""
    source = torch.ones(megabytes * 2**20 // 4, dtype=torch.float32)
    target = torch.empty_like(source)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        target.copy_(source)
        best = min(best, time.perf_counter() - start)
    return 2 * source.numel() * 4 / best / 1e9


def decode_bytes_per_token(model: MotionLlm, context: int) -> int:
    embedding = model.llm.get_input_embeddings().weight
    # tensor_bytes counts a quantised tensor's real storage (element_size() reports the original dtype).
    weights = sum(tensor_bytes(p) for p in model.llm.parameters() if p is not embedding)
    kv_cache = context * kv_bytes_per_token(model.config, embedding.element_size())
    return int(weights + kv_cache)


def bench_llm(model: MotionLlm, context: int = 2200, new_tokens: int = 64, official_tokens: int = 3,
              repeats: int = 3, seed: int = 0) -> dict:
    """Prefill, cached decode and official-loop speed on a prompt of `context` tokens (video embeddings random)."""
    prompt = video_prompt(model.tokenizer, "What is the person doing in the video?")
    video_tokens = context - prompt.text_token_count()
    if video_tokens <= 0 or context + new_tokens > model.config.block_size:
        raise ModelError(f"bench context {context} + {new_tokens} new tokens does not fit a "
                         f"{model.config.block_size}-token model with a {prompt.text_token_count()}-token prompt")
    generator = torch.Generator().manual_seed(seed)
    video = 0.02 * torch.randn(video_tokens, model.config.n_embd, generator=generator)
    features = {"video": video.to(model.device, model.dtype)}
    sampling = SamplingConfig(max_new_tokens=new_tokens, stop_at_eos=False)

    Generator(model).generate(prompt, {"video": features["video"][:16]}, SamplingConfig(max_new_tokens=2))  # warm-up
    prefill_runs, decode_runs = [], []
    for _ in range(repeats):
        stamps: list[float] = []
        start = time.perf_counter()
        cached = Generator(model).generate(prompt, features, sampling,
                                           lambda _, log=stamps: log.append(time.perf_counter()))
        prefill_runs.append(stamps[0] - start)
        decode_runs.append((len(stamps) - 1) / (stamps[-1] - stamps[0]))
    prefill_s, decode_tokens_per_s = statistics.median(prefill_runs), statistics.median(decode_runs)

    start = time.perf_counter()
    official = generate_without_cache(model, prompt, features, SamplingConfig(max_new_tokens=official_tokens,
                                                                              stop_at_eos=False))
    official_tokens_per_s = official_tokens / (time.perf_counter() - start)
    if official.token_ids != cached.token_ids[:official_tokens]:
        raise ModelError("the official loop and the cached decoder disagree on the same greedy input")

    bandwidth = measure_copy_bandwidth()
    bytes_per_token = decode_bytes_per_token(model, context + new_tokens)
    bound = bandwidth * 1e9 / bytes_per_token
    return {
        "device": str(model.device),
        "dtype": str(model.dtype).removeprefix("torch."),
        "threads": torch.get_num_threads(),
        "parameters": sum(p.numel() for p in model.llm.parameters()),
        "random_weights": model.random_weights,
        "context": context,
        "new_tokens": new_tokens,
        "prefill_s": round(prefill_s, 4),
        "prefill_s_min": round(min(prefill_runs), 4),
        "prefill_s_max": round(max(prefill_runs), 4),
        "decode_tokens_per_s": round(decode_tokens_per_s, 3),
        "decode_tokens_per_s_min": round(min(decode_runs), 3),
        "decode_tokens_per_s_max": round(max(decode_runs), 3),
        "prefill_s_runs": [round(x, 4) for x in prefill_runs],
        "decode_tokens_per_s_runs": [round(x, 3) for x in decode_runs],
        "official_tokens": official_tokens,
        "official_tokens_per_s": round(official_tokens_per_s, 4),
        "speedup": round(decode_tokens_per_s / official_tokens_per_s, 2),
        "bandwidth_gb_s": round(bandwidth, 2),
        "bytes_per_token": bytes_per_token,
        "bound_tokens_per_s": round(bound, 3),
        "fraction_of_bound": round(decode_tokens_per_s / bound, 3),
    }
