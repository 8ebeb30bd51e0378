"""Answers to ~/query and ~/describe from the engine's history of descriptions. ROS-free.

Without a language model, an empty question gets the newest description, and a question gets the behaviour
labels of the look-back period that share a word with it (stems compared, so "waving" finds "waving_right_hand"
and "did he fall" finds "falling"). The answer never claims what the primitives cannot see: when no label
matches, it says that none does, and repeats the newest description.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from motionllm_ros.engine import Description, StreamingEngine

TRACK_MOST_SALIENT = -1  # QueryBehavior / DescribeBehavior track_id: the person seen in the most frames
MODEL_ID_PRIMITIVES = "primitives"  # Describer.model_id when no language model describes the windows
NO_LANGUAGE_MODEL = "no language model is loaded: answered from the behaviour primitives"
# With a model describing every window, questions are still answered from the primitives' labels: say so.
LABELS_ONLY = "questions are answered from the behaviour primitives' labels, not by the language model"

# Label words that say where or with what, not what: matching on them alone would answer "is his left arm
# raised?" with "pointing_left_arm".
_QUALIFIERS = frozenset({"left", "right", "both", "arm", "arms", "hand", "hands", "camera"})


@dataclass(frozen=True)
class Answer:
    """The content of a QueryBehavior response / DescribeBehavior result."""

    success: bool
    message: str  # why success is false, or a note (no language model, clipped look-back); may be empty
    text: str  # the answer in English; empty when success is false
    evidence: tuple[Description, ...]  # the descriptions the answer is based on, oldest first
    stamp: float  # s, data time: window_end of the newest evidence; 0.0 when success is false


def failure(message: str) -> Answer:
    return Answer(False, message, "", (), 0.0)


def answer(engine: StreamingEngine, question: str, track_id: int, lookback_s: float) -> Answer:
    """Answers `question` about `track_id` (or TRACK_MOST_SALIENT) from the descriptions of the last `lookback_s`
    seconds of data time before the newest one (0: one window). Reads the engine's history only: never waits."""
    window_s = engine.params.window_s
    if not math.isfinite(lookback_s) or lookback_s < 0:
        return failure(f"lookback_sec must be >= 0 (0: one window), got {lookback_s}")
    if track_id < TRACK_MOST_SALIENT:
        return failure(f"track_id must be >= 0, or {TRACK_MOST_SALIENT} for the most salient person; "
                       f"got {track_id}")
    lookback = lookback_s or window_s
    period = engine.recent(lookback)
    if not period:
        return failure(f"no description yet: the first one comes after {window_s:g} s of images")
    notes = []
    newest_end = period[-1].window_end
    # Clipped when the history is full and the description it dropped last (about one stride before the oldest
    # kept) would still have been in the look-back period.
    if (len(engine.history) == engine.history.maxlen
            and period[0].window_end - engine.params.stride_s >= newest_end - lookback):
        notes.append(f"look-back clipped to the {newest_end - period[0].window_end:.1f} s of descriptions kept "
                     f"(engine.history)")

    if track_id == TRACK_MOST_SALIENT:
        frames_seen: Counter[int] = Counter()
        for description in period:
            if description.track_id is not None:
                frames_seen[description.track_id] += description.num_valid
        # Nobody tracked in the whole period: the scene's descriptions say so.
        chosen = frames_seen.most_common(1)[0][0] if frames_seen else None
    else:
        seen = sorted({d.track_id for d in period if d.track_id is not None})
        if track_id not in seen:
            return failure(f"no description of track {track_id} in the last {lookback:g} s; tracks seen: "
                           f"{', '.join(map(str, seen)) or 'none'}")
        chosen = track_id
    evidence = tuple(d for d in period if d.track_id == chosen)
    newest = evidence[-1]

    if question.strip():
        text = _answer_from_labels(question, evidence)
        notes.insert(0, NO_LANGUAGE_MODEL if engine.describer.model_id == MODEL_ID_PRIMITIVES else LABELS_ONLY)
    else:
        text = newest.text
    return Answer(True, "; ".join(notes), text, evidence, newest.window_end)


def _answer_from_labels(question: str, evidence: tuple[Description, ...]) -> str:
    asked = {_stem(word) for word in re.findall(r"[a-z]+", question.lower())}
    best: dict[str, float] = {}  # label -> highest score in the evidence
    windows: Counter[str] = Counter()  # label -> windows it appeared in
    for description in evidence:
        for label, score in zip(description.labels, description.scores):
            words = {_stem(word) for word in label.split("_")} - {_stem(word) for word in _QUALIFIERS}
            if words & asked:
                best[label] = max(best.get(label, 0.0), score)
                windows[label] += 1
    newest = evidence[-1]
    latest = f"Latest description (window ending at {newest.window_end:.3f} s): {newest.text}."
    if not best:
        return f"No behaviour primitive in the last {len(evidence)} window(s) matches the question. {latest}"
    found = ", ".join(f"{label} (score {best[label]:.2f}, in {windows[label]} of {len(evidence)} window(s))"
                      for label in sorted(best, key=lambda label: (-best[label], label)))
    return f"Seen: {found}. {latest}"


def _stem(word: str) -> str:
    """A crude English stem, enough to match question words to label words: waving/wave/waves -> wav,
    running/runs -> run, sitting -> sit, falling/falls -> fall."""
    for suffix in ("ing", "es", "ed", "s", "e"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            break
    if len(word) >= 4 and word[-1] == word[-2] and word[-1] not in "aeiousl":
        word = word[:-1]  # runn -> run, sitt -> sit; keeps fall, pass
    return word


def word_by_word(text: str) -> list[str]:
    """The growing prefixes of `text` at word boundaries: the partial texts a streamed answer goes through."""
    ends = [match.end() for match in re.finditer(r"\S+", text)]
    return [text[:end] for end in ends]
