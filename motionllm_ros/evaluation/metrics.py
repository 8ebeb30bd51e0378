"""Scores of one recording's predictions against its annotation, and their merge over many recordings.

Labels: the windows carrying a label (any person in the window) are merged into segments when they are consecutive
windows; a predicted segment matches an annotated interval of the same label when their temporal IoU reaches the
threshold, pairs taken greedily by IoU, each used once. Counts (TP, FP, FN) add up over recordings, so the merged
precision / recall / F1 are micro averages.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Iterable, Sequence

DEFAULT_IOU = 0.3


@dataclass(frozen=True)
class WindowPrediction:
    start_s: float  # window start, seconds, data time
    end_s: float  # window end
    labels: frozenset[str]  # union over the people described in this window


@dataclass
class LabelCounts:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, other: LabelCounts) -> None:
        self.tp, self.fp, self.fn = self.tp + other.tp, self.fp + other.fp, self.fn + other.fn

    def scores(self) -> dict[str, Any]:
        """Counts plus precision / recall / F1; None where the denominator is zero (nothing to judge)."""
        precision = self.tp / (self.tp + self.fp) if self.tp + self.fp else None
        recall = self.tp / (self.tp + self.fn) if self.tp + self.fn else None
        # F1 is 0 whenever something was predicted or annotated but nothing matched (a label predicted in a
        # recording without annotations of it must lower the macro F1); None only when the label never occurs.
        f1 = 2 * self.tp / (2 * self.tp + self.fp + self.fn) if self.tp + self.fp + self.fn else None
        return {"tp": self.tp, "fp": self.fp, "fn": self.fn, "precision": precision, "recall": recall, "f1": f1}


def windows_from_records(records: Iterable[dict[str, Any]]) -> list[WindowPrediction]:
    """One WindowPrediction per distinct (window_start, window_end) of `motionllm run` JSONL records, in time
    order; the labels of every track described in that window are pooled."""
    pooled: dict[tuple[float, float], set[str]] = {}
    for record in records:
        pooled.setdefault((record["window_start"], record["window_end"]), set()).update(record["labels"])
    return [WindowPrediction(start, end, frozenset(labels)) for (start, end), labels in sorted(pooled.items())]


def label_segments(windows: Sequence[WindowPrediction], label: str) -> list[tuple[float, float]]:
    """Runs of consecutive windows carrying `label`, each as (first window's start, last window's end)."""
    segments: list[tuple[float, float]] = []
    previous_had_label = False
    for window in windows:
        if label in window.labels:
            if previous_had_label:
                segments[-1] = (segments[-1][0], window.end_s)
            else:
                segments.append((window.start_s, window.end_s))
        previous_had_label = label in window.labels
    return segments


def temporal_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    overlap = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return overlap / union if union > 0 else 0.0


def match_counts(predicted: Sequence[tuple[float, float]], annotated: Sequence[tuple[float, float]],
                 iou_threshold: float = DEFAULT_IOU) -> LabelCounts:
    """One-to-one greedy matching by IoU (highest first) of segments with IoU >= threshold."""
    pairs = sorted(((temporal_iou(p, a), i, j) for i, p in enumerate(predicted) for j, a in enumerate(annotated)),
                   reverse=True)
    used_predicted: set[int] = set()
    used_annotated: set[int] = set()
    for iou, i, j in pairs:
        if iou < iou_threshold:
            break
        if i not in used_predicted and j not in used_annotated:
            used_predicted.add(i)
            used_annotated.add(j)
    tp = len(used_predicted)
    return LabelCounts(tp, len(predicted) - tp, len(annotated) - tp)


def label_counts(windows: Sequence[WindowPrediction], intervals: Iterable[tuple[float, float, str]],
                 labels: Sequence[str], iou_threshold: float = DEFAULT_IOU) -> dict[str, LabelCounts]:
    """TP/FP/FN per scored label; `intervals` are (start_s, end_s, label) on the predictions' time axis."""
    annotated: dict[str, list[tuple[float, float]]] = {label: [] for label in labels}
    for start, end, label in intervals:
        annotated[label].append((start, end))
    return {label: match_counts(label_segments(windows, label), annotated[label], iou_threshold) for label in labels}


def percentile_summary(values: Sequence[float]) -> dict[str, Any]:
    """count, median and 95th percentile (linear interpolation); None for an empty list."""
    import numpy as np

    if not values:
        return {"count": 0, "median": None, "p95": None}
    return {"count": len(values), "median": float(np.median(values)), "p95": float(np.percentile(values, 95))}


def normalise_answer(text: str) -> str:
    """Lower case, punctuation and articles dropped, whitespace collapsed: "Yes." == "yes"."""
    words = re.findall(r"[a-z0-9]+", text.lower())
    return " ".join(word for word in words if word not in ("a", "an", "the"))


def qa_correct(predicted: str, answer: str, choices: Sequence[str] = ()) -> bool:
    """Open question: normalised exact match. Multiple choice: the prediction names the right option and no other
    (as the option text, or as its letter A, B, ... alone)."""
    if not choices:
        return normalise_answer(predicted) == normalise_answer(answer)
    said = normalise_answer(predicted)
    letters = [chr(ord("a") + k) for k in range(len(choices))]
    named = {k for k, choice in enumerate(choices)
             if said == letters[k] or re.search(rf"\b{re.escape(normalise_answer(choice))}\b", said)}
    return named == {choices.index(answer)}


def summarise(label_totals: dict[str, LabelCounts], latencies: Sequence[float], dropped_frames: int,
              offered_frames: int, qa_results: Sequence[bool]) -> dict[str, Any]:
    """The metrics dict of one recording or of a merged set: per-label scores, micro and macro F1, latency, drops."""
    per_label = {label: counts.scores() for label, counts in sorted(label_totals.items())}
    micro = LabelCounts()
    for counts in label_totals.values():
        micro.add(counts)
    judged = [s["f1"] for s in per_label.values() if s["f1"] is not None]
    return {"labels": per_label, "micro": micro.scores(),
            "macro_f1": sum(judged) / len(judged) if judged else None,
            "latency_s": percentile_summary(list(latencies)),
            "frames": {"offered": offered_frames, "dropped": dropped_frames,
                       "drop_rate": dropped_frames / offered_frames if offered_frames else None},
            "qa": {"count": len(qa_results), "correct": sum(qa_results),
                   "accuracy": sum(qa_results) / len(qa_results) if qa_results else None}}
