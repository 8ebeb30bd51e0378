"""Scores of one recording's predictions against its annotation, and their merge over many recordings.

Labels: each label of a window holds over its own span (the interval in which it held, inside the window; the
whole window for a description without spans); the spans of a label that overlap across windows are merged into
segments. A predicted segment matches an annotated interval of the same label when their temporal IoU reaches the
threshold, pairs taken greedily by IoU, each used once. Counts (TP, FP, FN) add up over recordings, so the merged
precision / recall / F1 are micro averages. A false positive is also charged to the annotated label it overlapped
most (the confusion summary: which label was said instead).
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
    spans: tuple[tuple[str, float, float], ...] = ()  # (label, start_s, end_s) data time: where each label held;
    # a label without a span here holds over the whole window


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
    order; the labels (and label spans) of every track described in that window are pooled."""
    pooled: dict[tuple[float, float], tuple[set[str], set[tuple[str, float, float]]]] = {}
    for record in records:
        labels, spans = pooled.setdefault((record["window_start"], record["window_end"]), (set(), set()))
        labels.update(record["labels"])
        spans.update((label, float(start), float(end)) for label, (start, end)
                     in zip(record["labels"], record.get("details", {}).get("label_spans") or ()))
    return [WindowPrediction(start, end, frozenset(labels), tuple(sorted(spans)))
            for (start, end), (labels, spans) in sorted(pooled.items())]


def label_segments(windows: Sequence[WindowPrediction], label: str) -> list[tuple[float, float]]:
    """Where `label` held: its spans in every window (the window itself where it has none), merged where they
    overlap; windows that only touch stay apart."""
    spans = []
    for window in windows:
        own = [(start, end) for name, start, end in window.spans if name == label]
        spans += own or ([(window.start_s, window.end_s)] if label in window.labels else [])
    segments: list[tuple[float, float]] = []
    for start, end in sorted(spans):
        if segments and start < segments[-1][1]:
            segments[-1] = (segments[-1][0], max(segments[-1][1], end))
        else:
            segments.append((start, end))
    return segments


def temporal_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    overlap = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    union = max(a[1], b[1]) - min(a[0], b[0])
    return overlap / union if union > 0 else 0.0


def match_counts(predicted: Sequence[tuple[float, float]], annotated: Sequence[tuple[float, float]],
                 iou_threshold: float = DEFAULT_IOU) -> LabelCounts:
    """One-to-one greedy matching by IoU (highest first) of segments with IoU >= threshold."""
    used_predicted = matched(predicted, annotated, iou_threshold)
    tp = len(used_predicted)
    return LabelCounts(tp, len(predicted) - tp, len(annotated) - tp)


def matched(predicted: Sequence[tuple[float, float]], annotated: Sequence[tuple[float, float]],
            iou_threshold: float) -> set[int]:
    """Indices of the predicted segments that match an annotated one (see `match_counts`)."""
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
    return used_predicted


def label_counts(windows: Sequence[WindowPrediction], intervals: Iterable[tuple[float, float, str]],
                 labels: Sequence[str], iou_threshold: float = DEFAULT_IOU) -> dict[str, LabelCounts]:
    """TP/FP/FN per scored label; `intervals` are (start_s, end_s, label) on the predictions' time axis, those of
    labels not scored are ignored."""
    annotated = _annotated(intervals, labels)
    return {label: match_counts(label_segments(windows, label), annotated[label], iou_threshold) for label in labels}


def confusions(windows: Sequence[WindowPrediction], intervals: Iterable[tuple[float, float, str]],
               labels: Sequence[str], iou_threshold: float = DEFAULT_IOU) -> dict[str, dict[str, int]]:
    """{said: {annotated instead: count}} over the false positive segments of the scored labels: each is charged to
    the other scored label whose annotated interval it overlaps with the highest IoU (>= threshold), else to
    "(nothing)"."""
    annotated = _annotated(intervals, labels)
    table: dict[str, dict[str, int]] = {}
    for label in labels:
        predicted = label_segments(windows, label)
        hits = matched(predicted, annotated[label], iou_threshold)
        for i, segment in enumerate(predicted):
            if i in hits:
                continue
            best = max(((temporal_iou(segment, a), other) for other in labels if other != label
                        for a in annotated[other]), default=(0.0, ""))
            instead = best[1] if best[0] >= iou_threshold else "(nothing)"
            table.setdefault(label, {}).setdefault(instead, 0)
            table[label][instead] += 1
    return table


def _annotated(intervals: Iterable[tuple[float, float, str]], labels: Sequence[str]
               ) -> dict[str, list[tuple[float, float]]]:
    annotated: dict[str, list[tuple[float, float]]] = {label: [] for label in labels}
    for start, end, label in intervals:
        if label in annotated:
            annotated[label].append((start, end))
    return annotated


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


def label_scores(label_totals: dict[str, LabelCounts], produced: Iterable[str] = ()) -> dict[str, Any]:
    """Per-label scores, their micro average (over all labels, and over the `produced` ones) and macro F1."""
    per_label = {label: counts.scores() for label, counts in sorted(label_totals.items())}
    micro, micro_produced = LabelCounts(), LabelCounts()
    produced = set(produced)
    for label, counts in label_totals.items():
        micro.add(counts)
        if label in produced:
            micro_produced.add(counts)
    judged = [s["f1"] for s in per_label.values() if s["f1"] is not None]
    return {"labels": per_label, "micro": micro.scores(),
            "micro_produced": {"labels": sorted(produced & set(label_totals)), **micro_produced.scores()},
            "macro_f1": sum(judged) / len(judged) if judged else None}


def summarise(label_totals: dict[str, LabelCounts], latencies: Sequence[float], dropped_frames: int,
              offered_frames: int, qa_results: Sequence[bool], produced: Iterable[str] = ()) -> dict[str, Any]:
    """The metrics dict of one recording or of a merged set: per-label scores, micro and macro F1, latency, drops.
    `produced`: the labels the describer can say; "micro_produced" averages over the scored ones among them (a
    scored label it never says only lowers recall, e.g. interaction labels before multi-person tracking)."""
    return {**label_scores(label_totals, produced), "latency_s": percentile_summary(list(latencies)),
            "frames": {"offered": offered_frames, "dropped": dropped_frames,
                       "drop_rate": dropped_frames / offered_frames if offered_frames else None},
            "qa": {"count": len(qa_results), "correct": sum(qa_results),
                   "accuracy": sum(qa_results) / len(qa_results) if qa_results else None}}
