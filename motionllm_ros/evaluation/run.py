"""`motionllm eval`: replays annotated recordings through the `motionllm run` engine and scores the descriptions.

Each recording runs in its own call of `evaluate_recording`: in this process, in a local process pool
(`workers` > 1) or as a task on a Ray cluster (`ray_address`), so a missing file or a corrupt bag fails that
recording alone, with its message, and the others complete. Metrics are computed afterwards, in this process, from
the recordings' outputs in annotation order: the same recordings give the same metrics wherever they ran.

Outputs in `out_dir`: metrics.json (per recording and merged), predictions.jsonl (one line per description, as
`motionllm run --out`), recordings/NNN_NAME.mcap (the input images, camera_info and the BehaviorDescription stream,
as `motionllm run --mcap`; written by the worker, so on a multi-node Ray cluster `out_dir` must be a shared
path), and report.md with one timeline PNG per recording (annotated vs predicted labels).

Where a recording identifies its people (`identify`, or the overlay file `people_file`), each identified person is
scored on the descriptions of the track matched to him (people.py), the main person's figures included; elsewhere
all descriptions are scored against the main person's intervals, as for one person.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from motionllm_ros.config import Config
from motionllm_ros.evaluation.annotations import MAIN_PERSON, AnnotationSet, RecordingAnnotation, load_annotations
from motionllm_ros.evaluation.captions import CaptionPair, caption_scores, check_caption_metrics
from motionllm_ros.evaluation.distribute import JobFailed, run_in_pool, run_in_process, run_on_ray
from motionllm_ros.behavior.primitives import LABEL_VOCABULARY
from motionllm_ros.evaluation.metrics import (DEFAULT_IOU, LabelCounts, confusions, label_counts, label_scores,
                                              qa_correct, summarise, windows_from_records)
from motionllm_ros.evaluation.people import PersonMatch, match_people, tracks_of, unmatched_tracks


@dataclass(frozen=True)
class EvalOptions:
    live: bool = False  # replay at the recorded rate with the live drop policy; default lossless
    iou_threshold: float = DEFAULT_IOU  # temporal IoU for a predicted label segment to match an annotated one
    workers: int = 1  # local processes (without Ray)
    ray_address: str | None = None  # a Ray cluster address, "auto" or "local"; None: no Ray
    ray_cpus: float = 1.0  # CPUs a Ray task asks for
    ray_gpus: float | None = None  # GPUs a Ray task asks for; None: one when a model runs on a non-CPU device
    # and the cluster has GPUs, else none
    retries: int = 2  # re-runs of a recording whose worker died
    mcap: bool = True  # write recordings/NNN_NAME.mcap
    bertscore_model: str | None = None  # local transformers model directory for BERTScore; None: not computed
    bertscore_layers: int | None = None  # its hidden layer used (None: the last)


@dataclass(frozen=True)
class EvalItem:
    input: str  # absolute path of the recording (workers may run in another folder)
    annotation: RecordingAnnotation | None  # None when `problem` is set
    problem: str | None = None  # why it cannot run (no annotation for it, ambiguous name)


def evaluate(annotation_file: str | Path, out_dir: str | Path, config: Config, inputs: Sequence[str] = (),
             options: EvalOptions = EvalOptions(), people_file: str | Path | None = None) -> dict[str, Any]:
    """Scores `inputs` (default: every recording of `annotation_file`, with the `identify` lists of the overlay
    `people_file` when given); returns (and writes to out_dir/metrics.json) the metrics.

    Raises AnnotationError for a bad annotation file, ValueError for bad options; a recording that cannot be run
    appears under "recordings" with "error" and is left out of "merged".
    """
    if options.workers < 1 or options.retries < 0:
        raise ValueError(f"workers must be >= 1 and retries >= 0, got {options.workers} and {options.retries}")
    annotations = load_annotations(annotation_file, people_file)
    if options.bertscore_model is not None or any(r.captions for r in annotations.recordings):
        check_caption_metrics(options.bertscore_model)
    items = select_items(annotations, inputs)
    config = config.replace({"engine.lossless": not options.live})
    out_dir = Path(out_dir).absolute()
    runnable = [index for index, item in enumerate(items) if item.problem is None]
    jobs = [(items[index].annotation, items[index].input, config, options.live,
             str(_mcap_path(out_dir, index, items[index].input)) if options.mcap else None) for index in runnable]
    if options.ray_address:
        wants_gpu = bool(config.model.dir) and config.device != "cpu"
        gpus = options.ray_gpus if options.ray_gpus is not None else (None if wants_gpu else 0)
        outcomes = run_on_ray(evaluate_recording, jobs, options.ray_address, num_cpus=options.ray_cpus,
                              num_gpus=gpus, retries=options.retries)
    elif options.workers > 1:
        outcomes = run_in_pool(evaluate_recording, jobs, options.workers, options.retries)
    else:
        outcomes = run_in_process(evaluate_recording, jobs)
    results: list[dict[str, Any]] = [{"input": item.input, "error": item.problem} for item in items]
    for index, outcome in zip(runnable, outcomes):
        if isinstance(outcome, JobFailed):
            outcome = {"input": items[index].input,
                       "error": f"{outcome.message} (worker lost, {outcome.attempts} attempt(s))"}
        results[index] = outcome
    metrics = score(annotations, items, results, options)
    metrics["mode"] = "live" if options.live else "lossless"
    metrics["ran_on"] = (f"ray {options.ray_address}" if options.ray_address else
                         f"{options.workers} local processes" if options.workers > 1 else "this process")
    write_outputs(out_dir, annotations, items, results, metrics, options.iou_threshold)
    return metrics


def select_items(annotations: AnnotationSet, inputs: Sequence[str]) -> list[EvalItem]:
    """The recordings to run: each input matched to its annotation by path, else by unique file name; no inputs:
    every annotated recording. An input without (or with an ambiguous) annotation becomes a failed item."""
    if not inputs:
        return [EvalItem(str(recording.path.absolute()), recording) for recording in annotations.recordings]
    items = []
    for name in inputs:
        path = Path(name.rstrip("/")).expanduser().absolute()
        same_path = [r for r in annotations.recordings if r.path.absolute() == path]
        candidates = same_path or [r for r in annotations.recordings if r.path.name == path.name]
        if len(candidates) == 1:
            items.append(EvalItem(str(path), candidates[0]))
        elif candidates:
            items.append(EvalItem(str(path), None, f"{path.name} names {len(candidates)} recordings of "
                                              f"{annotations.source}; give the path as written there"))
        else:
            items.append(EvalItem(str(path), None, f"no annotation for {path.name} in {annotations.source}"))
    return items


def _mcap_path(out_dir: Path, index: int, name: str) -> Path:
    return out_dir / "recordings" / f"{index:03d}_{Path(name.rstrip('/')).stem or 'input'}.mcap"


def evaluate_recording(recording: RecordingAnnotation, name: str, config: Config, live: bool,
                       mcap: str | None) -> dict[str, Any]:
    """Runs one recording through the engine, recording images and descriptions to `mcap` when given.
    Never raises: a failure is returned as {"input": name, "error": message}."""
    from motionllm_ros.ros.answers import TRACK_MOST_SALIENT, answer
    from motionllm_ros.runtime import build_engine, close_engine, description_record, intrinsics_of, replay
    from motionllm_ros.sources import at_recorded_rate, open_source

    records: list[dict[str, Any]] = []
    recorder = None
    try:
        source = open_source(name, topic=recording.topic)
        intrinsics = intrinsics_of(source)
        if mcap is not None:
            from motionllm_ros.recording import BagRecorder, stamp_offset_for

            Path(mcap).parent.mkdir(parents=True, exist_ok=True)
            Path(mcap).unlink(missing_ok=True)  # from an earlier evaluation into the same folder
            recorder = BagRecorder(mcap, compressed=True, stamp_offset_s=stamp_offset_for(source.info.kind))
            recorder.open()

        def on_result(description) -> None:
            records.append(description_record(description, name))
            if recorder is not None:
                recorder.write_description(description)

        engine = build_engine(config, on_result=on_result, intrinsics=intrinsics)
        try:
            # As `motionllm run [--live]` replays.
            first_stamp, last_stamp = replay(engine, at_recorded_rate(source) if live else source, recorder,
                                             intrinsics)
        finally:
            close_engine(engine, flush=True)
        # Questions are answered over the whole recording (engine.history permitting), as ~/query would.
        whole = (last_stamp - first_stamp) if first_stamp is not None else 0.0
        answers = [answer(engine, pair.question, TRACK_MOST_SALIENT, whole).text for pair in recording.qa]
        if recorder is not None:
            recorder.close()
    except Exception as error:  # noqa: BLE001 - any failure of one recording is reported, the batch goes on
        if recorder is not None:
            recorder.discard()
        return {"input": name, "error": f"{type(error).__name__}: {error}"}
    return {"input": name, "records": records, "stats": engine.stats(), "first_stamp": first_stamp,
            "qa_answers": answers, "skipped_by_source": dict(source.skipped.counts),
            "mcap": None if recorder is None else str(recorder.output)}


def score(annotations: AnnotationSet, items: Sequence[EvalItem], results: Sequence[dict[str, Any]],
          options: EvalOptions) -> dict[str, Any]:
    """Per-recording metrics and their merge over the recordings that ran: the main person's (of all descriptions
    when the recording does not identify its people, else of his track), and per identified person ("people",
    merged: "per_person")."""
    per_recording: list[dict[str, Any]] = []
    totals = {label: LabelCounts() for label in annotations.labels}
    person_totals = {label: LabelCounts() for label in annotations.labels}
    people_scored = people_identified = people_matched = 0
    confused: dict[str, dict[str, int]] = {}
    latencies: list[float] = []
    offered = dropped = 0
    qa_results: list[bool] = []
    caption_pairs: list[CaptionPair] = []
    for index, (item, result) in enumerate(zip(items, results)):
        if "error" in result:
            per_recording.append({"input": result["input"], "error": result["error"]})
            continue
        recording = item.annotation
        offset = _time_offset(recording, result)
        matches, by_person = people_records(recording, result["records"], offset)
        intervals = [(i.start_s + offset, i.end_s + offset, i.label) for i in recording.intervals]
        windows = windows_from_records(by_person[MAIN_PERSON])
        counts = label_counts(windows, intervals, annotations.labels, options.iou_threshold)
        recording_confused = confusions(windows, intervals, annotations.labels, options.iou_threshold)
        people = _people_entries(recording, matches, by_person, offset, annotations.labels, options.iou_threshold)
        for person in people:
            people_scored += 1
            people_identified += person["identified"]
            people_matched += bool(person["track_ids"])
            for label, c in person.pop("counts").items():
                person_totals[label].add(c)
        recording_latencies = [r["latency_s"] for r in result["records"]]
        correct = [qa_correct(said, pair.answer, pair.choices) for said, pair in zip(result["qa_answers"],
                                                                                     recording.qa)]
        stats = result["stats"]
        per_recording.append({"input": result["input"], **summarise(
            counts, recording_latencies, stats.get("dropped_frames", 0), stats.get("submitted", 0), correct,
            LABEL_VOCABULARY), "confusions": recording_confused,
            "skipped_by_source": result["skipped_by_source"],  # bad frames the reader skipped, by reason
            "identified": bool(recording.identify), "people": people,
            "not_identified": [name for name in recording.person_names() if name not in by_person],
            "unmatched_tracks": unmatched_tracks(result["records"], matches) if recording.identify else []})
        for said, instead in recording_confused.items():
            for other, count in instead.items():
                confused.setdefault(said, {}).setdefault(other, 0)
                confused[said][other] += count
        caption_pairs += _caption_pairs(index, recording, by_person[MAIN_PERSON], offset)
        for label, c in counts.items():
            totals[label].add(c)
        latencies += recording_latencies
        offered += stats.get("submitted", 0)
        dropped += stats.get("dropped_frames", 0)
        qa_results += correct
    captions, merged_captions = caption_scores(caption_pairs, len(items), options.bertscore_model,
                                               options.bertscore_layers)
    for entry, caption in zip(per_recording, captions):
        if "error" not in entry:
            entry["captions"] = caption
    failed = sum("error" in r for r in per_recording)
    return {"iou_threshold": options.iou_threshold, "recordings": per_recording,
            "merged": {"recordings": len(per_recording) - failed, "failed": failed,
                       **summarise(totals, latencies, dropped, offered, qa_results, LABEL_VOCABULARY),
                       "confusions": confused, "captions": merged_captions,
                       "per_person": {"people": people_scored, "identified": people_identified,
                                      "matched": people_matched,
                                      **label_scores(person_totals, LABEL_VOCABULARY)}}}


def people_records(recording: RecordingAnnotation, records: Sequence[dict[str, Any]], offset: float
                   ) -> tuple[list[PersonMatch], dict[str, list[dict[str, Any]]]]:
    """The matches of the identifications to tracks, and each identified person's description records (those of
    his tracks; none when no track matched). Without `identify`: no matches, and every record is the main
    person's."""
    if not recording.identify:
        return [], {MAIN_PERSON: list(records)}
    matches = match_people(recording.identify, records, offset)
    return matches, {person: [r for r in records if r.get("track_id") in tracks]
                     for person, tracks in tracks_of(matches).items()}


def _people_entries(recording: RecordingAnnotation, matches: Sequence[PersonMatch],
                    by_person: dict[str, list[dict[str, Any]]], offset: float, labels: Sequence[str],
                    iou_threshold: float) -> list[dict[str, Any]]:
    """One entry per scored person (the identified ones; else the main person on all descriptions): his matched
    tracks, each identification's match, the label scores, and the raw "counts" for the merge."""
    tracks = tracks_of(matches)
    entries = []
    for person, records in by_person.items():
        intervals = [(i.start_s + offset, i.end_s + offset, i.label) for i in recording.person_intervals(person)]
        counts = label_counts(windows_from_records(records), intervals, labels, iou_threshold)
        entries.append({"person": person, "identified": person in tracks, "track_ids": tracks.get(person, []),
                        "matches": [{"at_s": m.at_s, "track_id": m.track_id, "box_iou": m.box_iou, "gap_s": m.gap_s}
                                    for m in matches if m.person == person],
                        "descriptions": len(records), **label_scores(counts, LABEL_VOCABULARY), "counts": counts})
    return entries


def _caption_pairs(index: int, recording: RecordingAnnotation, records: Sequence[dict[str, Any]],
                   offset: float) -> list[CaptionPair]:
    """One pair per described window that has references: the untimed captions plus the timed ones whose
    interval holds the window's midpoint."""
    pairs = []
    for record in records:
        middle = (record["window_start"] + record["window_end"]) / 2
        references = tuple(c.text for c in recording.captions
                           if c.start_s is None or c.start_s + offset <= middle <= c.end_s + offset)
        if references:
            pairs.append(CaptionPair(index, record["description"], references))
    return pairs


def _time_offset(recording: RecordingAnnotation, result: dict[str, Any]) -> float:
    """Seconds to add to the annotated times to put them on the data-time axis of the predictions."""
    if recording.relative and result["first_stamp"] is not None:
        return float(result["first_stamp"])
    return 0.0


def write_outputs(out_dir: Path, annotations: AnnotationSet, items: Sequence[EvalItem],
                  results: Sequence[dict[str, Any]], metrics: dict[str, Any], iou_threshold: float) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    with (out_dir / "predictions.jsonl").open("w") as out:
        for result in results:
            for record in result.get("records", []):
                out.write(json.dumps(record) + "\n")
    lines = [f"# Evaluation against {annotations.source}", "",
             f"Mode: {metrics['mode']}; ran on {metrics['ran_on']}; IoU threshold {iou_threshold}; "
             f"{metrics['merged']['recordings']} recording(s) scored, {metrics['merged']['failed']} failed.", "",
             "## Merged: the main person of each recording", "",
             "Of his tracks where the recording identifies its people, else of all descriptions.", "",
             *_label_table(metrics["merged"]), *_caption_line(metrics["merged"]["captions"]), "",
             *_per_person_section(metrics["merged"]["per_person"]), ""]
    for index, (item, result, entry) in enumerate(zip(items, results, metrics["recordings"])):
        lines += [f"## {entry['input']}", ""]
        if "error" in entry:
            lines += [f"**Failed:** {entry['error']}", ""]
            continue
        plot = f"timeline_{index:03d}.png"
        _timeline_plot(out_dir / plot, item.annotation, result, annotations.labels)
        lines += [f"![timeline]({plot})", "", *_label_table(entry), *_caption_line(entry["captions"]), "",
                  *_people_lines(entry)]
        if entry["skipped_by_source"]:
            lines += ["", "Frames skipped by the reader: " + ", ".join(
                f"{reason} {count}" for reason, count in sorted(entry["skipped_by_source"].items()))]
        if result.get("mcap"):
            lines += ["", f"Images and descriptions: `{os.path.relpath(result['mcap'], out_dir)}`"]
        lines.append("")
    (out_dir / "report.md").write_text("\n".join(lines))


def _cell(value: Any) -> str:
    return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)


def _label_table(entry: dict[str, Any]) -> list[str]:
    rows = _score_rows(entry)
    rows += ["", "Produced labels scored: " + (", ".join(entry["micro_produced"]["labels"]) or "none") + "."]
    if entry["confusions"]:
        rows += ["", "False positives, by the annotated label they overlapped most (IoU >= threshold): " + "; ".join(
            f"{said} where {', '.join(f'{other} x{n}' for other, n in sorted(instead.items()))}"
            for said, instead in sorted(entry["confusions"].items())) + "."]
    latency, frames, qa = entry["latency_s"], entry["frames"], entry["qa"]
    rows += ["", f"Macro F1 {_cell(entry['macro_f1'])}; latency median {_cell(latency['median'])} s, "
                 f"p95 {_cell(latency['p95'])} s over {latency['count']} descriptions; drop rate "
                 f"{_cell(frames['drop_rate'])} ({frames['dropped']}/{frames['offered']} frames); QA accuracy "
                 f"{_cell(qa['accuracy'])} ({qa['correct']}/{qa['count']})."]
    return rows


def _score_rows(entry: dict[str, Any], every_label: bool = True) -> list[str]:
    """A markdown table of the per-label scores (every label, or those that occurred) and the micro averages."""
    rows = ["| label | TP | FP | FN | precision | recall | F1 |", "|---|---|---|---|---|---|---|"]
    labelled = [(label, s) for label, s in entry["labels"].items() if every_label or s["f1"] is not None]
    for label, s in [*labelled, ("(micro, all scored)", entry["micro"]),
                     ("(micro, labels the primitives produce)", entry["micro_produced"])]:
        rows.append(f"| {label} | {s['tp']} | {s['fp']} | {s['fn']} | {_cell(s['precision'])} | "
                    f"{_cell(s['recall'])} | {_cell(s['f1'])} |")
    return rows


def _per_person_section(per_person: dict[str, Any]) -> list[str]:
    return ["## Per person: micro average over all annotated people", "",
            f"{per_person['people']} people scored: {per_person['identified']} identified by a box, "
            f"{per_person['matched']} of them matched to a track (an unmatched person's intervals all count as "
            f"missed), the rest main people of recordings without identification (all descriptions). Annotated "
            f"people who are not identified are not scored; tracks matched to nobody are listed per recording, "
            f"not scored as anybody's false positives.", "", *_score_rows(per_person),
            "", f"Macro F1 {_cell(per_person['macro_f1'])}."]


def _people_lines(entry: dict[str, Any]) -> list[str]:
    """Per recording: who was matched to which track, each person's scores, and what was left out."""
    if not entry["identified"]:
        return ["People not identified: all descriptions scored as the main person's" + (
            f"; not scored: {', '.join(entry['not_identified'])}." if entry["not_identified"] else "."), ""]
    lines = ["### People", ""]
    for person in entry["people"]:
        found = "; ".join(_match_text(match) for match in person["matches"])
        lines += [f"**{person['person']}**: {found}. " + (f"{person['descriptions']} description(s)." if
                                                           person["track_ids"] else "Every interval missed."), "",
                  *_score_rows(person, every_label=False), ""]
    if entry["not_identified"]:
        lines += [f"Annotated but not identified, not scored: {', '.join(entry['not_identified'])}.", ""]
    if entry["unmatched_tracks"]:
        lines += ["Tracks matched to nobody (not scored): " + "; ".join(
            f"track {'none' if t['track_id'] is None else t['track_id']}, {t['descriptions']} description(s)"
            + (" (" + ", ".join(f"{label} x{n}" for label, n in sorted(t["labels"].items())) + ")"
               if t["labels"] else "") for t in entry["unmatched_tracks"]) + ".", ""]
    return lines


def _match_text(match: dict[str, Any]) -> str:
    """'at 1.00 s: track 3 (box IoU 0.92, 0.05 s away)', or why no track was found there."""
    if match["track_id"] is not None:
        return (f"at {match['at_s']:.2f} s: track {match['track_id']} (box IoU {match['box_iou']:.2f}, "
                f"{match['gap_s']:.2f} s away)")
    if match["box_iou"] is None:
        return f"at {match['at_s']:.2f} s: no track (none had a box near that time)"
    return (f"at {match['at_s']:.2f} s: no track (best box IoU {match['box_iou']:.2f}: under the threshold, or "
            f"that track is another person's)")


def _caption_line(captions: dict[str, Any] | None) -> list[str]:
    if captions is None:
        return []
    return ["", f"Captions over {captions['windows']} window(s): BLEU-4 {_cell(captions['bleu4'])}, ROUGE-L "
                f"{_cell(captions['rouge_l'])}, CIDEr {_cell(captions['cider'])}, BERTScore F1 "
                f"{_cell(captions['bertscore_f1'])}."]


def _timeline_plot(path: Path, recording: RecordingAnnotation, result: dict[str, Any],
                   labels: tuple[str, ...]) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    from motionllm_ros.evaluation.metrics import label_segments

    offset = _time_offset(recording, result)
    windows = windows_from_records(people_records(recording, result["records"], offset)[1][MAIN_PERSON])
    figure, axes = plt.subplots(figsize=(10, 0.6 + 0.5 * max(1, len(labels))))
    for row, label in enumerate(labels):
        annotated = [(i.start_s + offset, i.end_s - i.start_s) for i in recording.intervals if i.label == label]
        predicted = [(start, end - start) for start, end in label_segments(windows, label)]
        axes.broken_barh(annotated, (row + 0.05, 0.4), color="tab:green")
        axes.broken_barh(predicted, (row + 0.5, 0.4), color="tab:blue")
    axes.set_yticks([row + 0.5 for row in range(len(labels))], labels)
    axes.set_xlabel("data time (s); green: annotated, blue: predicted")
    axes.set_title(Path(result["input"]).name)
    figure.tight_layout()
    figure.savefig(path, dpi=80)
    plt.close(figure)
