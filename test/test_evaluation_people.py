"""Evaluation per person: `identify` and the people overlay file, matching tracks to people by image box, and the
scores of each person on his own track (records constructed here, as `motionllm run` writes them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from motionllm_ros.evaluation.annotations import AnnotationError, Identification, load_annotations
from motionllm_ros.evaluation.people import PersonMatch, match_people, tracks_of, unmatched_tracks
from motionllm_ros.perception.pose import box_iou
from motionllm_ros.evaluation.run import EvalItem, EvalOptions, score, write_outputs

LABELS = """
labels: [walking, still, running]
recordings:
  - path: video/clip.mp4
    relative: true
    intervals:
      - {start_s: 0.0, end_s: 2.0, label: walking}
    others:
      - {person: woman, start_s: 0.0, end_s: 2.0, label: still}
      - {person: kid, start_s: 0.0, end_s: 2.0, label: walking}
      - {person: far man, start_s: 0.0, end_s: 2.0, label: still}
  - path: video/other.mp4
"""

# main, woman and kid identified at 0.5 s; the far man is annotated, not identified.
PEOPLE = """
recordings:
  - path: video/clip.mp4
    identify:
      - {person: main, at_s: 0.5, box: [0.0, 0.2, 0.3, 0.8]}
      - {person: woman, at_s: 0.5, box: [0.6, 0.2, 0.8, 0.8]}
      - {person: kid, at_s: 0.5, box: [0.4, 0.7, 0.5, 0.9]}
"""

FIRST_STAMP = 100.0  # seconds: data time of the clip's first frame; `relative` times and `at_s` count from it


def files(tmp_path: Path, labels: str = LABELS, people: str = PEOPLE) -> tuple[Path, Path]:
    (tmp_path / "eval").mkdir(exist_ok=True)
    labels_path, people_path = tmp_path / "labels.yaml", tmp_path / "eval" / "people.yaml"
    labels_path.write_text(labels)
    people_path.write_text(people)
    return labels_path, people_path


def record(track: int | None, labels: list[str], boxes: list[list[float]], start: float = FIRST_STAMP,
           end: float = FIRST_STAMP + 2.0) -> dict:
    """One description record as `motionllm run --out` writes it (the fields evaluation reads)."""
    return {"input": "clip.mp4", "window_start": start, "window_end": end, "track_id": track, "labels": labels,
            "description": " ".join(labels) or "nothing", "latency_s": 0.1, "details": {"image_boxes": boxes}}


# -- the annotation format ---------------------------------------------------------------------------------------
def test_the_overlay_adds_identify_to_the_recording_it_names_as_the_labels_file_does(tmp_path):
    labels, people = files(tmp_path)
    parsed = load_annotations(labels, people)
    clip, other = parsed.recordings
    assert [(i.person, i.at_s, i.box) for i in clip.identify] == [
        ("main", 0.5, (0.0, 0.2, 0.3, 0.8)), ("woman", 0.5, (0.6, 0.2, 0.8, 0.8)), ("kid", 0.5, (0.4, 0.7, 0.5, 0.9))]
    assert other.identify == () and load_annotations(labels).recordings[0].identify == ()
    assert clip.person_names() == ("main", "woman", "kid", "far man")
    assert [(i.start_s, i.label) for i in clip.person_intervals("kid")] == [(0.0, "walking")]


def test_identify_in_the_labels_file_itself(tmp_path):
    labels, _ = files(tmp_path, LABELS.replace("  - path: video/other.mp4\n", "  - path: video/other.mp4\n"
                                               "    identify: [{person: main, at_s: 1, box: [0, 0, 1, 1]}]\n"))
    assert load_annotations(labels).recordings[1].identify[0].box == (0.0, 0.0, 1.0, 1.0)


@pytest.mark.parametrize("people, message", [
    (PEOPLE.replace("person: kid", "person: dog"),
     "people.yaml: recording 0 (video/clip.mp4): identify 2: person 'dog' is neither 'main' nor a person of "
     "`others` (['woman', 'kid', 'far man'])"),
    (PEOPLE.replace("[0.4, 0.7, 0.5, 0.9]", "[0.4, 0.7, 0.5, 1.2]"),
     "identify 2: box must be [x_min, y_min, x_max, y_max], numbers in [0, 1]"),
    (PEOPLE.replace("[0.4, 0.7, 0.5, 0.9]", "[0.5, 0.7, 0.4, 0.9]"), "identify 2: box [0.5, 0.7, 0.4, 0.9] is empty"),
    (PEOPLE.replace("[0.4, 0.7, 0.5, 0.9]", "[0.4, 0.7, 0.5]"), "identify 2: box must be"),
    (PEOPLE.replace("at_s: 0.5, box: [0.4", "at_s: .inf, box: [0.4"), "identify 2: at_s must be a finite number"),
    (PEOPLE.replace("person: kid", "person: woman"),
     "identify names a person twice at the same at_s: [('main', 0.5), ('woman', 0.5), ('woman', 0.5)]"),
    (PEOPLE.replace("person: main", "person: kid", 1).replace("person: kid, at_s: 0.5, box: [0.4",
                                                              "person: far man, at_s: 0.5, box: [0.4"),
     "identify must include person 'main'"),
    (PEOPLE.replace("video/clip.mp4", "video/nowhere.mp4"),
     "recording 0 (video/nowhere.mp4): no recording of {labels} at this path"),
    (PEOPLE + PEOPLE.split("recordings:")[1], "recording 1 (video/clip.mp4): names the same recording as recording 0"),
    (PEOPLE.replace("    identify:", "    intervals: []\n    identify:"),
     "expected the keys path, identify and optionally topic; got ['identify', 'intervals', 'path']"),
    ("recordings: []\nlabels: [walking]\n", "people.yaml: expected a mapping with just a 'recordings' list"),
])
def test_bad_identify_and_overlay_entries_are_named(tmp_path, people, message):
    labels, people_path = files(tmp_path, people=people)
    with pytest.raises(AnnotationError) as info:
        load_annotations(labels, people_path)
    assert message.format(labels=labels) in str(info.value)


def test_the_overlay_may_not_replace_identify_of_the_labels_file(tmp_path):
    labels, people = files(tmp_path, LABELS.replace("      - {start_s: 0.0, end_s: 2.0, label: walking}\n",
                                                    "      - {start_s: 0.0, end_s: 2.0, label: walking}\n"
                                                    "    identify: [{person: main, at_s: 1, box: [0, 0, 1, 1]}]\n"))
    with pytest.raises(AnnotationError, match="identifies its people already"):
        load_annotations(labels, people)


def test_an_other_person_may_not_be_called_main(tmp_path):
    labels, _ = files(tmp_path, LABELS.replace("person: woman", "person: main"))
    with pytest.raises(AnnotationError, match="others 0: person 'main' is the person of `intervals`"):
        load_annotations(labels)


def test_the_shared_clips_overlay_identifies_the_people_of_labels_yaml(test_data):
    overlay = Path(__file__).parent.parent / "config" / "eval" / "shared_people.yaml"
    parsed = load_annotations(test_data / "labels.yaml", overlay)
    identified = {r.path.name: [i.person for i in r.identify] for r in parsed.recordings}
    assert identified == {
        "dribble_single_person.mp4": ["main"],
        "handshake_two_people.mp4": ["main", "woman in blue top on the right"],
        "hug_two_people.mp4": ["main", "man in grey T-shirt on the left"],
        "basketball_gym.mp4": ["main", "player in white shirt (left)"] * 3,  # at 0.3, 3.5 and 7.2 s
        "street_walking_5frames.mp4": ["main", "man in dark jacket, centre-left",
                                       "woman in black top with handbag, centre",
                                       "woman with long dark hair and light-blue bag, centre"]}
    # People identified at the same instant are boxed apart.
    for recording in parsed.recordings:
        found = recording.identify
        assert all(box_iou(a.box, b.box) < 0.1 for k, a in enumerate(found) for b in found[k + 1:] if a.at_s == b.at_s)


# -- matching ----------------------------------------------------------------------------------------------------
def test_box_iou_by_hand():
    assert box_iou((0.0, 0.0, 0.5, 0.5), (0.25, 0.25, 0.75, 0.75)) == pytest.approx(0.0625 / 0.4375)
    assert box_iou((0.0, 0.0, 0.1, 0.1), (0.2, 0.2, 0.3, 0.3)) == 0.0


def scene() -> list[dict]:
    """The woman's track 7 first, the main person's track 3, a track 9 nobody annotated (right edge), a
    description with no track; no track where the kid was boxed."""
    at = FIRST_STAMP + 0.5
    return [record(7, ["still"], [[at - 0.1, 0.6, 0.2, 0.8, 0.8], [at + 0.2, 0.6, 0.25, 0.8, 0.8]]),
            record(3, ["walking", "still"], [[at - 0.05, 0.0, 0.25, 0.3, 0.8], [at + 0.3, 0.2, 0.2, 0.5, 0.8]]),
            record(9, ["running"], [[at, 0.9, 0.2, 1.0, 0.6]]),
            record(None, [], [])]


def test_each_identified_person_gets_the_track_boxed_where_he_was(tmp_path):
    labels, people = files(tmp_path)
    identify = load_annotations(labels, people).recordings[0].identify
    matches = match_people(identify, scene(), offset_s=FIRST_STAMP)
    # main: track 3's box at 100.45 s (nearest to 100.5) is [0, 0.25, 0.3, 0.8] -> IoU 0.165 / 0.18; woman: track
    # 7's box at 100.4 s is hers exactly; the kid's box meets no track.
    assert [(m.person, m.track_id) for m in matches] == [("main", 3), ("woman", 7), ("kid", None)]
    assert matches[0].box_iou == pytest.approx(0.165 / 0.18) and matches[0].gap_s == pytest.approx(0.05)
    assert matches[1].box_iou == pytest.approx(1.0) and matches[1].gap_s == pytest.approx(0.1)
    assert matches[2].box_iou == 0.0  # the best any track offered
    assert match_people(identify, list(reversed(scene())), offset_s=FIRST_STAMP) == matches  # order-free
    assert unmatched_tracks(scene(), matches) == [{"track_id": 9, "descriptions": 1, "labels": {"running": 1}},
                                                  {"track_id": None, "descriptions": 1, "labels": {}}]


def test_one_track_per_person_highest_iou_first_and_only_boxes_near_in_time(tmp_path):
    # Two people boxed side by side, overlapping: x 0..0.4 and 0.2..0.6, full height (so IoU is that of x).
    main, woman = Identification("main", 0.5, (0.0, 0.0, 0.4, 1.0)), Identification("woman", 0.5, (0.2, 0.0, 0.6, 1.0))
    at = FIRST_STAMP + 0.5
    # Track 1 (x 0.15..0.55) is the main person's best (IoU 0.25 / 0.55 = 0.45) but the woman's better (0.35 / 0.45
    # = 0.78): she takes it, and he gets track 2 (x 0..0.15, IoU 0.375).
    tracks = [record(1, [], [[at, 0.15, 0.0, 0.55, 1.0]]), record(2, [], [[at, 0.0, 0.0, 0.15, 1.0]])]
    matches = match_people([main, woman], tracks, offset_s=FIRST_STAMP)
    assert [(m.person, m.track_id) for m in matches] == [("main", 2), ("woman", 1)]
    assert (matches[0].box_iou, matches[1].box_iou) == (pytest.approx(0.375), pytest.approx(0.35 / 0.45))
    # Track 2 under the threshold: the main person matches nobody, though his best track fits him well enough.
    matches = match_people([main, woman], tracks, offset_s=FIRST_STAMP, iou_threshold=0.4)
    assert [m.track_id for m in matches] == [None, 1] and matches[0].box_iou == pytest.approx(0.25 / 0.55)
    # A perfect box 0.6 s away is not compared (0.5 s at most); the offset puts at_s on data time.
    late = [record(5, [], [[at + 0.6, 0.0, 0.0, 0.4, 1.0]])]
    assert match_people([main], late, offset_s=FIRST_STAMP) == [PersonMatch("main", 0.5, None, None, None)]
    assert match_people([main], late, offset_s=FIRST_STAMP + 0.2)[0].track_id == 5


def test_a_person_identified_again_gets_his_new_track_and_no_track_serves_two_people():
    # The main person's track 3 is lost after 1 s; at 3 s he walks on as track 8, right where the woman stood.
    main_early, main_late = (Identification("main", 0.5, (0.0, 0.0, 0.4, 1.0)),
                             Identification("main", 3.0, (0.5, 0.0, 0.9, 1.0)))
    main_again = Identification("main", 0.7, (0.0, 0.0, 0.4, 1.0))  # a second look at the same track: no conflict
    woman = Identification("woman", 3.0, (0.6, 0.0, 1.0, 1.0))  # IoU 0.3 / 0.5 = 0.6 with track 8's box
    tracks = [record(3, [], [[FIRST_STAMP + 0.5, 0.0, 0.0, 0.4, 1.0]], end=FIRST_STAMP + 1.0),
              record(8, [], [[FIRST_STAMP + 3.0, 0.5, 0.0, 0.9, 1.0]], start=FIRST_STAMP + 2.0)]
    matches = match_people([main_early, woman, main_late, main_again], tracks, offset_s=FIRST_STAMP)
    assert [(m.person, m.at_s, m.track_id) for m in matches] == [
        ("main", 0.5, 3), ("woman", 3.0, None), ("main", 3.0, 8), ("main", 0.7, 3)]
    assert matches[1].box_iou == pytest.approx(0.6)  # fits, but track 8 went to the better fit
    assert tracks_of(matches) == {"main": [3, 8], "woman": []}


# -- scoring -----------------------------------------------------------------------------------------------------
def run_score(tmp_path: Path, people: Path | None) -> tuple[dict, str]:
    """score() and write_outputs() of the constructed scene, as `motionllm eval` would after running the clip."""
    labels = tmp_path / "labels.yaml"
    annotations = load_annotations(labels, people)
    items = [EvalItem(str(r.path), r) for r in annotations.recordings[:1]]
    results = [{"input": items[0].input, "records": scene(), "stats": {"submitted": 24, "dropped_frames": 0},
                "first_stamp": FIRST_STAMP, "qa_answers": [], "skipped_by_source": {}}]
    metrics = score(annotations, items, results, EvalOptions())
    metrics.update(mode="lossless", ran_on="this process")
    out = tmp_path / ("people" if people else "plain")
    write_outputs(out, annotations, items, results, metrics, 0.3)
    return metrics, (out / "report.md").read_text()


def counts(scores: dict) -> dict:
    return {label: (s["tp"], s["fp"], s["fn"]) for label, s in scores["labels"].items()}


def test_each_person_is_scored_on_his_own_track_and_intervals(tmp_path):
    _, people = files(tmp_path)
    metrics, report = run_score(tmp_path, people)
    entry = metrics["recordings"][0]
    # One window 100..102 s a track, labels over all of it. Main (track 3) says walking (annotated: TP) and still
    # (not annotated for him: FP); track 9's running is nobody's. Woman (track 7): still, TP. Kid (no track): his
    # walking is missed. The far man is not identified: not scored.
    assert counts(entry) == {"running": (0, 0, 0), "still": (0, 1, 0), "walking": (1, 0, 0)}
    main, woman, kid = entry["people"]
    assert (main["person"], main["track_ids"], main["descriptions"]) == ("main", [3], 1)
    assert counts(main) == counts(entry)
    assert woman["track_ids"] == [7]
    assert counts(woman) == {"running": (0, 0, 0), "still": (1, 0, 0), "walking": (0, 0, 0)}
    assert (kid["track_ids"], counts(kid)) == ([], {"running": (0, 0, 0), "still": (0, 0, 0), "walking": (0, 0, 1)})
    assert entry["not_identified"] == ["far man"]
    assert [t["track_id"] for t in entry["unmatched_tracks"]] == [9, None]
    per_person = metrics["merged"]["per_person"]
    assert (per_person["people"], per_person["identified"], per_person["matched"]) == (3, 3, 2)
    assert (per_person["micro"]["tp"], per_person["micro"]["fp"], per_person["micro"]["fn"]) == (2, 1, 1)
    assert per_person["micro"]["precision"] == pytest.approx(2 / 3) and per_person["micro"]["recall"] == 2 / 3
    assert counts(per_person) == {"running": (0, 0, 0), "still": (1, 1, 0), "walking": (1, 0, 1)}
    assert metrics["merged"]["micro"]["fp"] == 1  # the main person's figures: his track only
    assert "**main**: at 0.50 s: track 3 (box IoU 0.92, 0.05 s away). 1 description(s)." in report
    assert "**kid**: at 0.50 s: no track (best box IoU 0.00: under the threshold, or that track is another " \
           "person's). Every interval missed." in report
    assert "Tracks matched to nobody (not scored): track 9, 1 description(s) (running x1); track none, 1 " \
           "description(s)." in report
    assert "Annotated but not identified, not scored: far man." in report
    assert "3 people scored: 3 identified by a box, 2 of them matched to a track" in report


def test_without_identification_all_descriptions_are_the_main_persons(tmp_path):
    files(tmp_path)
    metrics, report = run_score(tmp_path, None)
    entry = metrics["recordings"][0]
    # As before per-person evaluation: every track's labels pooled per window, scored against `intervals`.
    assert counts(entry) == {"running": (0, 1, 0), "still": (0, 1, 0), "walking": (1, 0, 0)}
    assert [(p["person"], p["identified"], p["descriptions"]) for p in entry["people"]] == [("main", False, 4)]
    assert counts(entry["people"][0]) == counts(entry) == counts(metrics["merged"]["per_person"])
    assert entry["unmatched_tracks"] == [] and entry["not_identified"] == ["woman", "kid", "far man"]
    assert "People not identified: all descriptions scored as the main person's; not scored: woman, kid, far " \
           "man." in report


def test_eval_command_rejects_a_bad_people_file_before_any_work(tmp_path, pose_model_path, capsys):
    from motionllm_ros.cli import main

    labels, people = files(tmp_path, people=PEOPLE.replace("video/clip.mp4", "video/nowhere.mp4"))
    assert main(["eval", "--labels", str(labels), "--people", str(people), "--out", str(tmp_path / "out"),
                 "--pose-model", str(pose_model_path)]) == 2
    assert "people.yaml: recording 0 (video/nowhere.mp4): no recording of" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
