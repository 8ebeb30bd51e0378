"""Answers to ~/query and ~/describe from the engine's history of descriptions, or fresh from the model. ROS-free.

Without a language model, an empty question gets the newest description, and a question gets the behaviour
labels of the look-back period that share a word with it (stems compared, so "waving" finds "waving_right_hand"
and "did he fall" finds "falling"). The answer never claims what the primitives cannot see: when no label
matches, it says that none does, and repeats the newest description.

A question about everyone (track_id TRACK_EVERYONE, or a question that starts with "who") is answered from the
labels of every track of the look-back period, naming the tracks: "Track 2: waving_right_hand (...)".
"""

from __future__ import annotations

import math
import re
import threading
from collections import Counter
from dataclasses import dataclass, replace
from typing import Any

from motionllm_ros.engine import Description, StreamingEngine

TRACK_MOST_SALIENT = 0  # QueryBehavior / DescribeBehavior track_id (the default): the person seen in the most frames
TRACK_EVERYONE = -1  # QueryBehavior / DescribeBehavior track_id: every person of the look-back period
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
    if track_id < TRACK_EVERYONE:
        return failure(f"track_id must be a tracked person's id (>= 1), {TRACK_MOST_SALIENT} for the most "
                       f"salient person or {TRACK_EVERYONE} for everyone; got {track_id}")
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

    if track_id == TRACK_EVERYONE or asks_who(question):
        return _answer_everyone(engine, question, period, notes)
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
        notes.insert(0, _labels_note(engine))
    else:
        text = newest.text
    return Answer(True, "; ".join(notes), text, evidence, newest.window_end)


def _labels_note(engine: StreamingEngine) -> str:
    """What an answer from the primitives' labels says about where it came from."""
    return NO_LANGUAGE_MODEL if engine.describer.model_id == MODEL_ID_PRIMITIVES else LABELS_ONLY


def asks_who(question: str) -> bool:
    """'Who is waving?', 'who waves': a question about everyone in view."""
    return re.match(r"\s*who\b", question.lower()) is not None


def _answer_everyone(engine: StreamingEngine, question: str, period: list[Description], notes: list[str]) -> Answer:
    """Every track of `period`: the labels that match the question (or, for an empty one, its newest text)."""
    tracks = sorted({d.track_id for d in period if d.track_id is not None})
    if not tracks:
        return Answer(True, "; ".join(notes), f"Nobody was tracked. {period[-1].text}.", tuple(period),
                      period[-1].window_end)
    parts, matched = [], []
    for track in tracks:
        evidence = tuple(d for d in period if d.track_id == track)
        if not question.strip():
            parts.append(f"Track {track}: {evidence[-1].text}.")
            continue
        found = _matching_labels(question, evidence)
        if found:
            matched.append(track)
            parts.append(f"Track {track}: {found}.")
    if question.strip():
        notes.insert(0, _labels_note(engine))
        if not matched:
            parts = [f"No behaviour primitive of tracks {', '.join(map(str, tracks))} in the look-back period "
                     f"matches the question."]
    return Answer(True, "; ".join(notes), " ".join(parts), tuple(period), period[-1].window_end)


def _matching_labels(question: str, evidence: tuple[Description, ...]) -> str:
    """'label (score s, in n of m window(s)), ...' for the labels of `evidence` that share a word with the question;
    '' when none does."""
    asked = {_stem(word) for word in re.findall(r"[a-z]+", question.lower())}
    best: dict[str, float] = {}  # label -> highest score in the evidence
    windows: Counter[str] = Counter()  # label -> windows it appeared in
    for description in evidence:
        for label, score in zip(description.labels, description.scores):
            words = {_stem(word) for word in label.split("_")} - {_stem(word) for word in _QUALIFIERS}
            if words & asked:
                best[label] = max(best.get(label, 0.0), score)
        # a label held in two stretches of one window is in it twice: the window counts once
        windows.update(label for label in set(description.labels) if label in best)
    return ", ".join(f"{label} (score {best[label]:.2f}, in {windows[label]} of {len(evidence)} window(s))"
                     for label in sorted(best, key=lambda label: (-best[label], label)))


def _answer_from_labels(question: str, evidence: tuple[Description, ...]) -> str:
    newest = evidence[-1]
    latest = f"Latest description (window ending at {newest.window_end:.3f} s): {newest.text}."
    found = _matching_labels(question, evidence)
    if not found:
        return f"No behaviour primitive in the last {len(evidence)} window(s) matches the question. {latest}"
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


def can_answer_fresh(engine: StreamingEngine) -> bool:
    """True when the engine's describer is a language model that can answer a question about a window (MotionLLM's
    ModelDescriber.answer); with the primitives every answer comes from the history."""
    return callable(getattr(engine.describer, "answer", None))


def window_to_answer(engine: StreamingEngine, track_id: int) -> tuple[Any, str]:
    """The engine's latest window of `track_id` (or of the most salient person), for a fresh model answer:
    (window, "") or (None, why there is none to answer from)."""
    if track_id == TRACK_EVERYONE:
        return None, "a fresh answer is about one person, not everyone"
    latest = engine.latest_window()
    if latest is None:
        return None, "no window yet to answer from"
    window = latest if track_id == TRACK_MOST_SALIENT else engine.latest_window(track_id)
    if window is None:
        return None, f"track {track_id} is not described in the latest window (its most salient person is track " \
                     f"{latest.track_id})"
    return window, ""


class FreshAnswerer:
    """One bounded model call at a time on the engine's latest window, on its own worker thread.

    The caller waits at most `timeout_s`; on timeout the generation is cancelled (it stops at the next token and
    frees the model for the engine's own windows) and the caller gets a failure at once. A call that arrives while
    a cancelled generation is still winding down is refused rather than queued, so waiting stays bounded.
    """

    def __init__(self) -> None:
        self._worker: threading.Thread | None = None
        self._lock = threading.Lock()

    def __call__(self, engine: StreamingEngine, question: str, track_id: int, lookback_s: float,
                 timeout_s: float) -> Answer:
        from_history = answer(engine, "", track_id, lookback_s)  # validates the request, gives the evidence
        if not from_history.success:
            return from_history
        window, why = window_to_answer(engine, track_id)
        if window is None:
            return failure(f"{why}: set allow_cached to answer from the history")
        with self._lock:
            if self._worker is not None and self._worker.is_alive():
                return failure("the previous fresh answer is still being cancelled: try again shortly")
            done, cancel = threading.Event(), threading.Event()
            outcome: dict[str, Any] = {}

            def work() -> None:
                try:
                    outcome["result"] = engine.describer.answer(window, question, cancel=cancel)
                except Exception as error:  # reported to the caller, who is still waiting or has given up
                    outcome["error"] = error
                finally:
                    done.set()

            self._worker = threading.Thread(target=work, name="motionllm-fresh-answer", daemon=True)
            self._worker.start()
        if not done.wait(timeout_s):
            cancel.set()
            return failure(f"no fresh answer within query.timeout_s = {timeout_s:g} s (generation cancelled)")
        if "error" in outcome:
            error = outcome["error"]
            return failure(f"the model failed: {type(error).__name__}: {error}")
        evidence = tuple(d for d in from_history.evidence if d.window_end == window.end) or from_history.evidence
        return replace(from_history, message=f"fresh answer by {engine.describer.model_id} on the window "
                                             f"{window.start:.3f}..{window.end:.3f} s",
                       text=outcome["result"].answer, evidence=evidence, stamp=window.end)
