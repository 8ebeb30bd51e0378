"""Caption metrics of the per-window descriptions against reference captions: BLEU-4, ROUGE-L, CIDEr, BERTScore.

Each described window is one candidate; its references are the recording's untimed captions plus the timed ones
whose interval contains the window's midpoint; windows without a reference are not scored.

BLEU-4, ROUGE-L and CIDEr(-D) come from pycocoevalcap, the COCO caption evaluation code that captioning papers
report, so the numbers are comparable with theirs. Its PTB tokenizer needs Java, so text is tokenised here the way
that tokenizer leaves plain English: lower case, punctuation dropped. CIDEr's IDF is taken over every scored
window of the run (a single recording would make every n-gram's IDF zero), and a recording's CIDEr is the mean of
its windows' scores; BLEU-4 is corpus-level, over the recording's windows or all of them.

BERTScore comes from torchmetrics with a model directory given locally (`--bertscore-model`; nothing is
downloaded), from the hidden states of layer `--bertscore-layers` (default: the last). Several references: the best
F1 over them, as the reference bert-score implementation does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence


@dataclass(frozen=True)
class CaptionPair:
    recording: int  # index of the recording in the evaluation
    candidate: str  # the window's description
    references: tuple[str, ...]  # at least one


class CaptionMetricError(ValueError):
    """A caption metric that was asked for cannot be computed (library or model missing)."""


def check_caption_metrics(bertscore_model: str | Path | None) -> None:
    """Raises CaptionMetricError now, before any recording runs, if the caption metrics could not be computed."""
    try:
        import pycocoevalcap  # noqa: F401
    except ImportError as error:
        raise CaptionMetricError("caption metrics need pycocoevalcap: pip install 'motionllm_ros[eval]'") from error
    if bertscore_model is not None:
        _bertscore_model_dir(bertscore_model)
        try:
            import torchmetrics  # noqa: F401
        except ImportError as error:
            raise CaptionMetricError("BERTScore needs torchmetrics: pip install 'motionllm_ros[eval]'") from error


def _bertscore_model_dir(path: str | Path) -> Path:
    model_dir = Path(path).expanduser()
    if not (model_dir / "config.json").is_file():
        raise CaptionMetricError(f"BERTScore model {model_dir}: not a transformers model directory (no config.json)")
    return model_dir


def tokenize(text: str) -> str:
    """Lower case words and numbers separated by single spaces; punctuation dropped ("Walks, left." -> "walks left")."""
    return " ".join(re.findall(r"[a-z0-9]+(?:'[a-z]+)?", text.lower()))


def caption_scores(pairs: Sequence[CaptionPair], recordings: int, bertscore_model: str | Path | None = None,
                   bertscore_layers: int | None = None) -> tuple[list[dict[str, Any] | None], dict[str, Any] | None]:
    """(per recording: metrics or None when it has no scored window, merged metrics or None when no pair).

    Each metrics dict: {"windows", "bleu4", "rouge_l", "cider", "bertscore_f1"}; bertscore_f1 is None without a
    model. Call check_caption_metrics first: a missing library or model raises ImportError or OSError here.
    """
    if not pairs:
        return [None] * recordings, None
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    references = {k: [tokenize(r) for r in pair.references] for k, pair in enumerate(pairs)}
    candidates = {k: [tokenize(pair.candidate) or "<empty>"] for k, pair in enumerate(pairs)}
    _, rouge = Rouge().compute_score(references, candidates)  # per pair
    _, cider = Cider().compute_score(references, candidates)  # per pair, IDF over all pairs
    bert = _bertscore_f1(pairs, bertscore_model, bertscore_layers) if bertscore_model else None

    def summary(keys: list[int]) -> dict[str, Any]:
        bleu, _ = Bleu(4).compute_score({k: references[k] for k in keys}, {k: candidates[k] for k in keys},
                                        verbose=0)
        return {"windows": len(keys), "bleu4": float(bleu[3]), "rouge_l": _mean(rouge[k] for k in keys),
                "cider": _mean(cider[k] for k in keys),
                "bertscore_f1": None if bert is None else _mean(bert[k] for k in keys)}

    per_recording: list[dict[str, Any] | None] = []
    for index in range(recordings):
        keys = [k for k, pair in enumerate(pairs) if pair.recording == index]
        per_recording.append(summary(keys) if keys else None)
    return per_recording, summary(list(range(len(pairs))))


def _mean(values) -> float:
    values = [float(v) for v in values]
    return sum(values) / len(values)


def _bertscore_f1(pairs: Sequence[CaptionPair], model_dir: str | Path, layers: int | None) -> list[float]:
    """Per pair, the best BERTScore F1 over its references (plain scores, no baseline rescaling)."""
    from torchmetrics.functional.text.bert import bert_score

    model_dir = _bertscore_model_dir(model_dir)
    flat = [(k, pair.candidate, reference) for k, pair in enumerate(pairs) for reference in pair.references]
    result = bert_score([c for _, c, _ in flat], [r for _, _, r in flat], model_name_or_path=str(model_dir),
                        num_layers=layers, device="cpu")
    best = [float("-inf")] * len(pairs)
    for (k, _, _), f1 in zip(flat, result["f1"].reshape(-1).tolist()):
        best[k] = max(best[k], f1)
    return best
