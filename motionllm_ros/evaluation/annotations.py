"""Annotation files for offline evaluation: labelled time intervals, reference captions and QA pairs per recording.

Format (YAML; JSON is valid YAML too)::

    labels: [walking, standing]        # optional: the scored labels (default: every label used below); intervals
                                       # of other labels are annotated but ignored, and so are predictions of them
    recordings:
      - path: video/dribble.mp4        # relative to this file, or absolute
        topic: /camera/image_raw       # optional, rosbag2 only
        relative: true                 # optional: times count from the first frame (default: data time, i.e.
                                       # presentation time for videos, header stamps for bags)
        people: "one man in a purple shirt"          # optional: who is in view; `intervals` are the main person's
        intervals:
          - {start_s: 0.0, end_s: 2.5, label: walking}
        others:                                      # optional: the other people, each named by `person`; kept,
          - {person: "woman on the right", start_s: 0.0, end_s: 2.5, label: standing}   # not scored yet
        captions:                                    # optional reference captions: of the whole recording,
          - "a man dribbles a ball"                  # or of an interval (same time axis as `intervals`)
          - {start_s: 0.0, end_s: 2.5, text: "a man walks while bouncing a ball"}
        qa:                                          # optional
          - {question: "Is he walking?", answer: "yes", choices: ["yes", "no"]}

Labels are lower_snake_case names. A scored label that the kinematic primitives never produce (not in
`LABEL_VOCABULARY`, e.g. `handshake`) is scored all the same: its intervals count as misses, so recall says what is
missing; the metrics also give the micro average over the produced labels alone (`micro_produced`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

LABEL_PATTERN = re.compile(r"[a-z][a-z0-9_]*")  # lower_snake_case, as BehaviorDescription.labels


class AnnotationError(ValueError):
    """An annotation file that cannot be used; the message names the file, recording, interval and the problem."""


@dataclass(frozen=True)
class Interval:
    start_s: float  # seconds: data time, or from the first frame when the recording is `relative`
    end_s: float  # seconds, > start_s
    label: str  # lower_snake_case


@dataclass(frozen=True)
class OtherInterval:
    """A labelled interval of another person in view (not the main one); read and kept, not scored yet."""

    person: str  # free text naming the person, e.g. "woman in blue top on the right"
    start_s: float  # seconds, same time axis as `intervals`
    end_s: float
    label: str


@dataclass(frozen=True)
class Caption:
    text: str
    start_s: float | None = None  # None: describes the whole recording
    end_s: float | None = None


@dataclass(frozen=True)
class QaPair:
    question: str
    answer: str
    choices: tuple[str, ...] = ()  # empty: open question, scored by normalised exact match


@dataclass(frozen=True)
class RecordingAnnotation:
    path: Path  # resolved against the annotation file's folder
    topic: str | None  # image topic of a bag; None: the source picks
    relative: bool  # interval times count from the first frame's stamp
    intervals: tuple[Interval, ...]
    captions: tuple[Caption, ...]
    qa: tuple[QaPair, ...]
    people: str = ""  # who is in view and which one `intervals` describe
    others: tuple[OtherInterval, ...] = ()


@dataclass(frozen=True)
class AnnotationSet:
    source: Path  # the annotation file
    labels: tuple[str, ...]  # scored labels, sorted
    recordings: tuple[RecordingAnnotation, ...]


def load_annotations(path: str | Path) -> AnnotationSet:
    """Reads and validates an annotation file. Raises AnnotationError naming what is wrong and where."""
    from motionllm_ros.config import ConfigError, load_yaml_file

    path = Path(path)
    try:  # bounded: size, encoding, and aliases that would expand too far
        document = load_yaml_file(path, "annotation file")
    except ConfigError as error:
        raise AnnotationError(str(error)) from None
    return parse_annotations(document, path)


def parse_annotations(document: Any, source: Path) -> AnnotationSet:
    """Validates an already parsed annotation document; `source` names it in errors and anchors relative paths."""
    if not isinstance(document, dict) or not isinstance(document.get("recordings"), list):
        raise AnnotationError(f"{source}: expected a mapping with a 'recordings' list")
    unknown_keys = set(document) - {"labels", "recordings"}
    if unknown_keys:
        raise AnnotationError(f"{source}: unknown top-level key(s) {sorted(unknown_keys)}")
    if not document["recordings"]:
        raise AnnotationError(f"{source}: 'recordings' is empty")
    recordings = tuple(_recording(entry, source, index) for index, entry in enumerate(document["recordings"]))
    first_listed: dict[tuple[Path, str | None], int] = {}
    for index, recording in enumerate(recordings):
        key = (recording.path.resolve(), recording.topic)
        if key in first_listed:  # its metrics would count twice
            raise AnnotationError(f"{source}: recording {index} ({recording.path}) is recording {first_listed[key]} "
                                  f"again: annotate each recording once")
        first_listed[key] = index
    used = {interval.label for recording in recordings for interval in recording.intervals}
    if "labels" in document:
        labels = document["labels"]
        if not isinstance(labels, list) or not all(isinstance(label, str) for label in labels):
            raise AnnotationError(f"{source}: 'labels' must be a list of label names")
        for label in labels:
            _check_label(label, f"{source}: labels")
        used = set(labels)  # the intervals of other labels are annotated, not scored
    return AnnotationSet(source, tuple(sorted(used)), recordings)


def _recording(entry: Any, source: Path, index: int) -> RecordingAnnotation:
    where = f"{source}: recording {index}"
    if not isinstance(entry, dict):
        raise AnnotationError(f"{where}: expected a mapping, got {type(entry).__name__}")
    if not isinstance(entry.get("path"), str) or not entry["path"]:
        raise AnnotationError(f"{where}: 'path' (a string) is required")
    where = f"{source}: recording {index} ({entry['path']})"
    unknown_keys = set(entry) - {"path", "topic", "relative", "people", "intervals", "captions", "qa", "others"}
    if unknown_keys:
        raise AnnotationError(f"{where}: unknown key(s) {sorted(unknown_keys)}")
    topic = entry.get("topic")
    if topic is not None and not isinstance(topic, str):
        raise AnnotationError(f"{where}: 'topic' must be a string")
    relative = entry.get("relative", False)
    if not isinstance(relative, bool):
        raise AnnotationError(f"{where}: 'relative' must be true or false")
    intervals = tuple(_interval(item, f"{where}: interval {k}") for k, item in _items(entry, "intervals", where))
    captions = tuple(_caption(item, f"{where}: caption {k}") for k, item in _items(entry, "captions", where))
    qa = tuple(_qa(item, f"{where}: qa {k}") for k, item in _items(entry, "qa", where))
    people = entry.get("people", "")
    if not isinstance(people, str):
        raise AnnotationError(f"{where}: 'people' must be a string")
    others = tuple(_other(item, f"{where}: others {k}") for k, item in _items(entry, "others", where))
    resolved = Path(entry["path"]).expanduser()
    if not resolved.is_absolute():
        resolved = source.parent / resolved
    return RecordingAnnotation(resolved, topic, relative, intervals, captions, qa, people, others)


def _items(entry: dict, key: str, where: str) -> enumerate:
    """enumerate(entry[key]) of an optional list."""
    items = entry.get(key, [])
    if not isinstance(items, list):
        raise AnnotationError(f"{where}: '{key}' must be a list")
    return enumerate(items)


def _interval(item: Any, where: str) -> Interval:
    if not isinstance(item, dict) or set(item) != {"start_s", "end_s", "label"}:
        raise AnnotationError(f"{where}: expected exactly the keys start_s, end_s, label; got {item!r}")
    start, end = _span(item, where)
    _check_label(item["label"], where)
    return Interval(start, end, item["label"])


def _other(item: Any, where: str) -> OtherInterval:
    if not isinstance(item, dict) or set(item) != {"person", "start_s", "end_s", "label"}:
        raise AnnotationError(f"{where}: expected exactly the keys person, start_s, end_s, label; got {item!r}")
    if not isinstance(item["person"], str) or not item["person"].strip():
        raise AnnotationError(f"{where}: person must be a non-empty string")
    interval = _interval({key: item[key] for key in ("start_s", "end_s", "label")}, where)
    return OtherInterval(item["person"], interval.start_s, interval.end_s, interval.label)


def _caption(item: Any, where: str) -> Caption:
    if isinstance(item, str) and item.strip():
        return Caption(item)
    if not isinstance(item, dict) or set(item) != {"start_s", "end_s", "text"}:
        raise AnnotationError(f"{where}: expected a non-empty string or exactly the keys start_s, end_s, text; "
                              f"got {item!r}")
    if not isinstance(item["text"], str) or not item["text"].strip():
        raise AnnotationError(f"{where}: text must be a non-empty string")
    return Caption(item["text"], *_span(item, where))


def _span(item: dict, where: str) -> tuple[float, float]:
    start, end = item["start_s"], item["end_s"]
    for name, value in (("start_s", start), ("end_s", end)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise AnnotationError(f"{where}: {name} must be a finite number of seconds, got {value!r}")
    if end <= start:
        raise AnnotationError(f"{where}: end_s ({end}) must be greater than start_s ({start})")
    return float(start), float(end)


def _check_label(label: Any, where: str) -> None:
    if not isinstance(label, str) or not LABEL_PATTERN.fullmatch(label):
        raise AnnotationError(f"{where}: label {label!r} is not a lower_snake_case name")


def _qa(item: Any, where: str) -> QaPair:
    if not isinstance(item, dict) or not {"question", "answer"} <= set(item) <= {"question", "answer", "choices"}:
        raise AnnotationError(f"{where}: expected keys question, answer and optionally choices; got {item!r}")
    if not all(isinstance(item[key], str) and item[key].strip() for key in ("question", "answer")):
        raise AnnotationError(f"{where}: question and answer must be non-empty strings (quote yes/no/on/off)")
    choices = item.get("choices", [])
    if not isinstance(choices, list) or not all(isinstance(choice, str) for choice in choices):
        # YAML 1.1 reads unquoted yes/no/on/off as booleans: the likeliest cause, so say it.
        raise AnnotationError(f"{where}: choices must be a list of strings (quote yes/no/on/off), got {choices!r}")
    if choices and item["answer"] not in choices:
        raise AnnotationError(f"{where}: answer {item['answer']!r} is not one of the choices {choices}")
    return QaPair(item["question"], item["answer"], tuple(choices))
