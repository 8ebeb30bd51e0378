"""`motionllm eval`: replays annotated recordings through the `motionllm run` engine and scores the descriptions.

Each recording runs in its own call of `evaluate_recording` (in a process pool when workers > 1), so a missing file
or a corrupt bag fails that recording alone, with its message, and the others complete. Outputs in `out_dir`:
metrics.json (per recording and merged), predictions.jsonl (one line per description, as `motionllm run --out`),
report.md with one timeline PNG per recording (annotated vs predicted labels).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from motionllm_ros.config import Config
from motionllm_ros.evaluation.annotations import AnnotationSet, RecordingAnnotation, load_annotations
from motionllm_ros.evaluation.metrics import (DEFAULT_IOU, LabelCounts, label_counts, qa_correct, summarise,
                                              windows_from_records)


def evaluate(annotation_file: str | Path, out_dir: str | Path, config: Config, workers: int = 1, live: bool = False,
             iou_threshold: float = DEFAULT_IOU) -> dict[str, Any]:
    """Scores every recording of `annotation_file`; returns (and writes to out_dir/metrics.json) the metrics.

    Lossless replay unless `live` (recorded rate, live drop policy). Raises AnnotationError for a bad annotation
    file; a recording that cannot be run appears under "recordings" with "error" and is left out of "merged".
    """
    annotations = load_annotations(annotation_file)
    config = config.replace({"engine.lossless": not live})
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    jobs = [(recording, config, live) for recording in annotations.recordings]
    if workers == 1:
        results = [evaluate_recording(*job) for job in jobs]
    else:
        from concurrent.futures import ProcessPoolExecutor
        from multiprocessing import get_context

        # spawn: MediaPipe and torch threads do not survive fork.
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
            results = list(pool.map(evaluate_recording, *zip(*jobs)))
    metrics = score(annotations, results, iou_threshold)
    metrics["mode"] = "live" if live else "lossless"
    write_outputs(Path(out_dir), annotations, results, metrics, iou_threshold)
    return metrics


def evaluate_recording(recording: RecordingAnnotation, config: Config, live: bool) -> dict[str, Any]:
    """Runs one recording through the engine. Never raises: a failure is returned as {"error": message}."""
    from motionllm_ros.cli import description_record, intrinsics_of
    from motionllm_ros.ros.answers import TRACK_MOST_SALIENT, answer
    from motionllm_ros.runtime import build_engine, close_engine
    from motionllm_ros.sources import at_recorded_rate, open_source

    name = str(recording.path)
    records: list[dict[str, Any]] = []
    try:
        source = open_source(name, topic=recording.topic)
        engine = build_engine(config, on_result=lambda d: records.append(description_record(d, name)),
                              intrinsics=intrinsics_of(source))
        first_stamp = last_stamp = None
        try:
            for frame in at_recorded_rate(source) if live else source:  # as `motionllm run --live` replays
                first_stamp = frame.stamp if first_stamp is None else first_stamp
                engine.submit(frame)
                last_stamp = frame.stamp
        finally:
            close_engine(engine, flush=True)
        # Questions are answered over the whole recording (engine.history permitting), as ~/query would.
        whole = (last_stamp - first_stamp) if first_stamp is not None else 0.0
        answers = [answer(engine, pair.question, TRACK_MOST_SALIENT, whole).text for pair in recording.qa]
    except Exception as error:  # noqa: BLE001 - any failure of one recording is reported, the batch goes on
        return {"input": name, "error": f"{type(error).__name__}: {error}"}
    return {"input": name, "records": records, "stats": engine.stats(), "first_stamp": first_stamp,
            "qa_answers": answers, "skipped_by_source": dict(source.skipped.counts)}


def score(annotations: AnnotationSet, results: list[dict[str, Any]], iou_threshold: float) -> dict[str, Any]:
    """Per-recording metrics and their merge over the recordings that ran."""
    per_recording: list[dict[str, Any]] = []
    totals = {label: LabelCounts() for label in annotations.labels}
    latencies: list[float] = []
    offered = dropped = 0
    qa_results: list[bool] = []
    for recording, result in zip(annotations.recordings, results):
        if "error" in result:
            per_recording.append({"input": result["input"], "error": result["error"]})
            continue
        offset = _time_offset(recording, result)
        intervals = [(i.start_s + offset, i.end_s + offset, i.label) for i in recording.intervals]
        counts = label_counts(windows_from_records(result["records"]), intervals, annotations.labels, iou_threshold)
        recording_latencies = [r["latency_s"] for r in result["records"]]
        correct = [qa_correct(said, pair.answer, pair.choices) for said, pair in zip(result["qa_answers"],
                                                                                     recording.qa)]
        stats = result["stats"]
        per_recording.append({"input": result["input"], **summarise(
            counts, recording_latencies, stats.get("dropped_frames", 0), stats.get("submitted", 0), correct)})
        for label, c in counts.items():
            totals[label].add(c)
        latencies += recording_latencies
        offered += stats.get("submitted", 0)
        dropped += stats.get("dropped_frames", 0)
        qa_results += correct
    failed = sum("error" in r for r in per_recording)
    return {"iou_threshold": iou_threshold, "recordings": per_recording,
            "merged": {"recordings": len(per_recording) - failed, "failed": failed,
                       **summarise(totals, latencies, dropped, offered, qa_results)}}


def _time_offset(recording: RecordingAnnotation, result: dict[str, Any]) -> float:
    """Seconds to add to the annotated times to put them on the data-time axis of the predictions."""
    if recording.relative and result["first_stamp"] is not None:
        return float(result["first_stamp"])
    return 0.0


def write_outputs(out_dir: Path, annotations: AnnotationSet, results: list[dict[str, Any]],
                  metrics: dict[str, Any], iou_threshold: float) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "metrics.json").write_text(json.dumps(metrics, indent=2))
    with (out_dir / "predictions.jsonl").open("w") as out:
        for result in results:
            for record in result.get("records", []):
                out.write(json.dumps(record) + "\n")
    lines = [f"# Evaluation against {annotations.source}", "",
             f"Mode: {metrics['mode']}; IoU threshold {iou_threshold}; "
             f"{metrics['merged']['recordings']} recording(s) scored, {metrics['merged']['failed']} failed.", "",
             "## Merged", "", *_label_table(metrics["merged"]), ""]
    for index, (recording, result, entry) in enumerate(zip(annotations.recordings, results, metrics["recordings"])):
        lines += [f"## {entry['input']}", ""]
        if "error" in entry:
            lines += [f"**Failed:** {entry['error']}", ""]
            continue
        plot = f"timeline_{index:03d}.png"
        _timeline_plot(out_dir / plot, recording, result, annotations.labels)
        lines += [f"![timeline]({plot})", "", *_label_table(entry), ""]
    (out_dir / "report.md").write_text("\n".join(lines))


def _label_table(entry: dict[str, Any]) -> list[str]:
    def cell(value: Any) -> str:
        return "-" if value is None else f"{value:.3f}" if isinstance(value, float) else str(value)

    rows = ["| label | TP | FP | FN | precision | recall | F1 |", "|---|---|---|---|---|---|---|"]
    for label, s in [*entry["labels"].items(), ("(micro)", entry["micro"])]:
        rows.append(f"| {label} | {s['tp']} | {s['fp']} | {s['fn']} | {cell(s['precision'])} | "
                    f"{cell(s['recall'])} | {cell(s['f1'])} |")
    latency, frames, qa = entry["latency_s"], entry["frames"], entry["qa"]
    rows += ["", f"Macro F1 {cell(entry['macro_f1'])}; latency median {cell(latency['median'])} s, "
                 f"p95 {cell(latency['p95'])} s over {latency['count']} descriptions; drop rate "
                 f"{cell(frames['drop_rate'])} ({frames['dropped']}/{frames['offered']} frames); QA accuracy "
                 f"{cell(qa['accuracy'])} ({qa['correct']}/{qa['count']})."]
    return rows


def _timeline_plot(path: Path, recording: RecordingAnnotation, result: dict[str, Any],
                   labels: tuple[str, ...]) -> None:
    import matplotlib

    matplotlib.use("Agg")  # files only, no display
    import matplotlib.pyplot as plt

    from motionllm_ros.evaluation.metrics import label_segments

    windows = windows_from_records(result["records"])
    offset = _time_offset(recording, result)
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
