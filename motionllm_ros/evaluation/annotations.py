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
        others:                                      # optional: the other people, each named by `person`
          - {person: "woman on the right", start_s: 0.0, end_s: 2.5, label: standing}
        identify:                                    # optional: which tracked person is who (see below)
          - {person: main, at_s: 1.0, box: [0.05, 0.30, 0.30, 0.75]}
          - {person: "woman on the right", at_s: 1.0, box: [0.65, 0.22, 0.87, 0.67]}
        captions:                                    # optional reference captions: of the whole recording,
          - "a man dribbles a ball"                  # or of an interval (same time axis as `intervals`)
          - {start_s: 0.0, end_s: 2.5, text: "a man walks while bouncing a ball"}
        qa:                                          # optional
          - {question: "Is he walking?", answer: "yes", choices: ["yes", "no"]}

`identify` names each annotated person by an image box at one instant: `person` is `main` (the person of
`intervals`) or a name used in `others`, and `main` must be among them; `at_s` is on the time axis of `intervals`;
`box` is [x_min, y_min, x_max, y_max] normalised to [0, 1] of the image width and height, around the whole visible
body, at an instant where that person stands clear of the others. A person may be identified again at other
instants (each at its own `at_s`), where the tracker lost him and took him up under a new track. With `identify`,
every identified person is scored against his own intervals, on the descriptions of the tracks matched to him (one
per identification, see `people.py`); without it, all descriptions are scored against `intervals`, as for one
person.

Since a shared labels file may not be edited, the boxes can come from an overlay file instead
(`motionllm eval --labels LABELS --people OVERLAY`, `load_annotations(labels, people=overlay)`)::

    recordings:
      - path: video/handshake_two_people.mp4       # as written in the labels file (relative paths resolve against
        topic: /camera/image_raw                   # the labels file's folder); topic: optional, as there
        identify:
          - {person: main, at_s: 1.0, box: [0.0, 0.29, 0.28, 0.74]}

Each overlay recording must name a recording of the labels file that has no `identify` of its own.

Labels are lower_snake_case names. A scored label that the kinematic primitives never produce (not in
`LABEL_VOCABULARY`, e.g. `handshake`) is scored all the same: its intervals count as misses, so recall says what is
missing; the metrics also give the micro average over the produced labels alone (`micro_produced`).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, replace
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
    """A labelled interval of another person in view (not the main one); scored when `identify` names him."""

    person: str  # free text naming the person, e.g. "woman in blue top on the right"
    start_s: float  # seconds, same time axis as `intervals`
    end_s: float
    label: str


@dataclass(frozen=True)
class Identification:
    """Where an annotated person is in the image at one instant, to find the track that is him."""

    person: str  # MAIN_PERSON or a name used in `others`
    at_s: float  # seconds, same time axis as `intervals`
    box: tuple[float, float, float, float]  # x_min, y_min, x_max, y_max normalised to [0, 1] of width / height


MAIN_PERSON = "main"  # the `person` of an identification of the person `intervals` describe


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
    identify: tuple[Identification, ...] = ()  # empty: nobody identified, all descriptions are the main person's

    def person_names(self) -> tuple[str, ...]:
        """MAIN_PERSON, then the people of `others` in order of first mention."""
        return (MAIN_PERSON, *dict.fromkeys(other.person for other in self.others))

    def person_intervals(self, person: str) -> tuple[Interval, ...]:
        """The annotated intervals of one person (MAIN_PERSON: `intervals`)."""
        if person == MAIN_PERSON:
            return self.intervals
        return tuple(Interval(o.start_s, o.end_s, o.label) for o in self.others if o.person == person)


@dataclass(frozen=True)
class AnnotationSet:
    source: Path  # the annotation file
    labels: tuple[str, ...]  # scored labels, sorted
    recordings: tuple[RecordingAnnotation, ...]


def load_annotations(path: str | Path, people: str | Path | None = None) -> AnnotationSet:
    """Reads and validates an annotation file, and the `identify` overlay file `people` when given. Raises
    AnnotationError naming what is wrong and where."""
    path = Path(path)
    annotations = parse_annotations(_load_yaml(path, "annotation file"), path)
    if people is None:
        return annotations
    return apply_people(annotations, _load_yaml(Path(people), "people file"), Path(people))


def _load_yaml(path: Path, what: str) -> Any:
    from motionllm_ros.config import ConfigError, load_yaml_file

    try:  # bounded: size, encoding, and aliases that would expand too far
        return load_yaml_file(path, what)
    except ConfigError as error:
        raise AnnotationError(str(error)) from None


def apply_people(annotations: AnnotationSet, document: Any, source: Path) -> AnnotationSet:
    """`annotations` with the `identify` lists of an already parsed overlay document (see the module docstring)
    added to the recordings they name; `source` names the overlay in errors."""
    listed = document.get("recordings") if isinstance(document, dict) else None
    if not isinstance(listed, list) or set(document) != {"recordings"}:
        raise AnnotationError(f"{source}: expected a mapping with just a 'recordings' list")
    recordings = list(annotations.recordings)
    given: dict[int, int] = {}  # index in the labels file -> index in the overlay
    for index, entry in enumerate(listed):
        where = f"{source}: recording {index}"
        if not isinstance(entry, dict) or not isinstance(entry.get("path"), str) or not entry["path"]:
            raise AnnotationError(f"{where}: expected a mapping with 'path' (a string)")
        where = f"{where} ({entry['path']})"
        unknown_keys = set(entry) - {"path", "topic", "identify"}
        if unknown_keys or "identify" not in entry:
            raise AnnotationError(f"{where}: expected the keys path, identify and optionally topic; "
                                  f"got {sorted(entry)}")
        target = _overlay_target(annotations, entry, where)
        if target in given:
            raise AnnotationError(f"{where}: names the same recording as recording {given[target]}")
        if recordings[target].identify:
            raise AnnotationError(f"{where}: the labels file {annotations.source} identifies its people already")
        given[target] = index
        recording = recordings[target]
        recordings[target] = replace(recording, identify=_identify_list(entry, recording, where))
    return replace(annotations, recordings=tuple(recordings))


def _overlay_target(annotations: AnnotationSet, entry: dict, where: str) -> int:
    """The index of the labels file's recording that an overlay entry names by path (and topic, when given)."""
    path = Path(entry["path"]).expanduser()
    path = (path if path.is_absolute() else annotations.source.parent / path).resolve()
    topic = entry.get("topic")
    found = [k for k, r in enumerate(annotations.recordings)
             if r.path.resolve() == path and ("topic" not in entry or r.topic == topic)]
    if len(found) != 1:
        problem = "no recording" if not found else f"{len(found)} recordings (give its topic)"
        raise AnnotationError(f"{where}: {problem} of {annotations.source} at this path")
    return found[0]


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
    unknown_keys = set(entry) - {"path", "topic", "relative", "people", "intervals", "captions", "qa", "others",
                                 "identify"}
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
    recording = RecordingAnnotation(resolved, topic, relative, intervals, captions, qa, people, others)
    return replace(recording, identify=_identify_list(entry, recording, where)) if "identify" in entry else recording


def _identify_list(entry: dict, recording: RecordingAnnotation, where: str) -> tuple[Identification, ...]:
    """The validated `identify` list of a recording (labels or overlay entry): known people, each once an instant,
    main among them."""
    known = recording.person_names()
    found = tuple(_identification(item, f"{where}: identify {k}", known) for k, item in _items(entry, "identify",
                                                                                                where))
    names = [identification.person for identification in found]
    instants = [(identification.person, identification.at_s) for identification in found]
    if len(set(instants)) != len(instants):
        raise AnnotationError(f"{where}: identify names a person twice at the same at_s: {instants}")
    if MAIN_PERSON not in names:
        # Without the main person's track his figures could only pool everybody's descriptions, as before.
        raise AnnotationError(f"{where}: identify must include person '{MAIN_PERSON}' (the one `intervals` "
                              f"describe)")
    return found


def _identification(item: Any, where: str, known: tuple[str, ...]) -> Identification:
    if not isinstance(item, dict) or set(item) != {"person", "at_s", "box"}:
        raise AnnotationError(f"{where}: expected exactly the keys person, at_s, box; got {item!r}")
    if item["person"] not in known:
        raise AnnotationError(f"{where}: person {item['person']!r} is neither '{MAIN_PERSON}' nor a person of "
                              f"`others` ({list(known[1:])})")
    at = _seconds(item, "at_s", where)
    box = item["box"]
    if (not isinstance(box, list) or len(box) != 4
            or not all(not isinstance(v, bool) and isinstance(v, (int, float)) and 0.0 <= v <= 1.0 for v in box)):
        raise AnnotationError(f"{where}: box must be [x_min, y_min, x_max, y_max], numbers in [0, 1] (fractions "
                              f"of the image width and height), got {box!r}")
    if box[2] <= box[0] or box[3] <= box[1]:
        raise AnnotationError(f"{where}: box {box} is empty: x_max must exceed x_min and y_max y_min")
    return Identification(item["person"], at, (float(box[0]), float(box[1]), float(box[2]), float(box[3])))


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
    if item["person"] == MAIN_PERSON:  # `identify` names the main person so
        raise AnnotationError(f"{where}: person '{MAIN_PERSON}' is the person of `intervals`; name the others "
                              f"otherwise")
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
    start, end = _seconds(item, "start_s", where), _seconds(item, "end_s", where)
    if end <= start:
        raise AnnotationError(f"{where}: end_s ({item['end_s']}) must be greater than start_s ({item['start_s']})")
    return start, end


def _seconds(item: dict, key: str, where: str) -> float:
    value = item[key]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise AnnotationError(f"{where}: {key} must be a finite number of seconds, got {value!r}")
    return float(value)


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
