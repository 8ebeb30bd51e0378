"""Which track is which annotated person: the tracks' image boxes against the boxes of `identify`.

Each description record of a track carries `details["image_boxes"]`: [stamp_s, x_min, y_min, x_max, y_max] of that
track's valid frames in the window (data time; box normalised to [0, 1] of the image width and height). For each
identification (a person's box at one instant), each track offers its box nearest in time to `at_s` (no farther
than `max_gap_s`); the (identification, track) pairs are taken greedily by image IoU, highest first, pairs under
`iou_threshold` never: each identification gets one track, and a track belongs to one person (a person identified
at several instants, across a lost track, may get several). A person none of whose identifications matched has no
descriptions (his intervals are all missed); the tracks left over are nobody annotated: reported, not scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Sequence

from motionllm_ros.evaluation.annotations import Identification
from motionllm_ros.perception.pose import box_iou

DEFAULT_BOX_IOU = 0.3  # image IoU a track's box needs with the annotated box to be that person
DEFAULT_MAX_GAP_S = 0.5  # seconds: a track's box farther than this from `at_s` is not compared

Box = tuple[float, float, float, float]  # x_min, y_min, x_max, y_max, normalised to [0, 1]


@dataclass(frozen=True)
class PersonMatch:
    """The track found for one identification."""

    person: str  # as in Identification.person
    at_s: float  # as in Identification.at_s
    track_id: int | None  # the track that is this person; None: no track matched
    box_iou: float | None  # image IoU of the matched box; unmatched: the best IoU any track offered (None: none)
    gap_s: float | None  # seconds between the compared box's stamp and `at_s`; None without a compared box


def track_boxes(records: Iterable[dict[str, Any]]) -> dict[int, list[tuple[float, Box]]]:
    """{track_id: [(stamp_s, box), ...]} from the records' `details["image_boxes"]`, in time order; records
    without a track (nobody fitted) or without boxes give none."""
    boxes: dict[int, dict[float, Box]] = {}
    for record in records:
        if record.get("track_id") is None:
            continue
        frames = boxes.setdefault(record["track_id"], {})
        for stamp, *box in record.get("details", {}).get("image_boxes") or ():
            frames[float(stamp)] = tuple(float(v) for v in box)  # overlapping windows repeat a frame: kept once
    return {track: sorted(frames.items()) for track, frames in boxes.items()}


def nearest_box(boxes: Sequence[tuple[float, Box]], at_s: float, max_gap_s: float) -> tuple[float, Box] | None:
    """The (stamp_s, box) nearest in time to `at_s`, if within `max_gap_s`; the earlier one on a tie."""
    best = min(boxes, key=lambda item: abs(item[0] - at_s), default=None)
    return best if best is not None and abs(best[0] - at_s) <= max_gap_s else None


def match_people(identify: Sequence[Identification], records: Iterable[dict[str, Any]], offset_s: float = 0.0,
                 iou_threshold: float = DEFAULT_BOX_IOU, max_gap_s: float = DEFAULT_MAX_GAP_S) -> list[PersonMatch]:
    """One PersonMatch per identification, in `identify` order; `offset_s` (seconds) puts `at_s` on the records'
    data-time axis, as for the intervals."""
    tracks = track_boxes(records)
    offered: list[tuple[float, int, int, float]] = []  # (IoU, identification index, track id, gap_s)
    for index, identification in enumerate(identify):
        at = identification.at_s + offset_s
        for track, boxes in tracks.items():
            near = nearest_box(boxes, at, max_gap_s)
            if near is not None:
                offered.append((box_iou(near[1], identification.box), index, track, abs(near[0] - at)))
    # Highest IoU first; equal IoUs in identify order, then by track id, so the result does not depend on the
    # order the records came in.
    offered.sort(key=lambda pair: (-pair[0], pair[1], pair[2]))
    chosen: dict[int, tuple[float, int, float]] = {}  # identification index -> (IoU, track id, gap_s)
    owner: dict[int, str] = {}  # track id -> the person it was given to
    for iou, index, track, gap in offered:
        person = identify[index].person
        if iou >= iou_threshold and index not in chosen and owner.get(track, person) == person:
            chosen[index] = (iou, track, gap)
            owner[track] = person
    matches = []
    for index, identification in enumerate(identify):
        if index in chosen:
            iou, track, gap = chosen[index]
            matches.append(PersonMatch(identification.person, identification.at_s, track, iou, gap))
        else:
            best = [(iou, gap) for iou, k, _, gap in offered if k == index]
            iou, gap = best[0] if best else (None, None)  # `offered` is sorted: the first is the best
            matches.append(PersonMatch(identification.person, identification.at_s, None, iou, gap))
    return matches


def tracks_of(matches: Sequence[PersonMatch]) -> dict[str, list[int]]:
    """{person: his matched track ids, sorted} for every identified person (an empty list: none matched), in the
    order the people were first identified."""
    tracks: dict[str, set[int]] = {}
    for match in matches:
        tracks.setdefault(match.person, set()).update(() if match.track_id is None else (match.track_id,))
    return {person: sorted(found) for person, found in tracks.items()}


def unmatched_tracks(records: Sequence[dict[str, Any]], matches: Sequence[PersonMatch]) -> list[dict[str, Any]]:
    """The tracks (None: descriptions without a track) that are nobody identified, each with its description count
    and how often it said each label."""
    matched = {match.track_id for match in matches if match.track_id is not None}
    left: dict[int | None, dict[str, Any]] = {}
    for record in records:
        if record.get("track_id") in matched:
            continue
        entry = left.setdefault(record.get("track_id"), {"track_id": record.get("track_id"), "descriptions": 0,
                                                         "labels": {}})
        entry["descriptions"] += 1
        for label in record["labels"]:
            entry["labels"][label] = entry["labels"].get(label, 0) + 1
    return sorted(left.values(), key=lambda entry: (entry["track_id"] is None, entry["track_id"] or 0))
