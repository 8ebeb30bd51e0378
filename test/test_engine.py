"""The streaming engine with the real perception and the real primitives: windows, modes, drops and faults."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from motionllm_ros.behavior.describer import PrimitivesDescriber
from motionllm_ros.engine import DropOldestQueue, EngineParams, StreamingEngine
from motionllm_ros.perception.pipeline import PerceptionPipeline
from motionllm_ros.sources import open_source
from motionllm_ros.sources.base import Frame


@pytest.fixture(scope="module")
def dribble_frames(test_data):
    return list(open_source(str(test_data / "video" / "dribble_single_person.mp4")))  # 40 frames, 0 .. 3.25 s


def _run(pose_model_path, frames, params, perception_wrapper=None, describer=None):
    results = []
    with PerceptionPipeline(pose_model_path) as pipeline:
        perception = perception_wrapper(pipeline) if perception_wrapper else pipeline
        engine = StreamingEngine(perception, describer or PrimitivesDescriber(), params, on_result=results.append)
        for frame in frames:
            engine.submit(frame)
        engine.close()
    return results, engine


class FailOn:
    """Fault injection around a real stage: raises on the listed calls, delegates every other call."""

    def __init__(self, stage, calls: set[int], method: str):
        self.stage, self.calls, self.method, self.count = stage, calls, method, 0
        self.model_id = getattr(stage, "model_id", None)

    def _call(self, *args):
        self.count += 1
        if self.count in self.calls:
            raise RuntimeError(f"injected failure on call {self.count}")
        return getattr(self.stage, self.method)(*args) if self.method else self.stage(*args)

    def process(self, *args):
        return self._call(*args)

    def __call__(self, *args):
        return self._call(*args)


def test_windows_follow_data_time_and_lossless_is_repeatable(pose_model_path, dribble_frames):
    params = EngineParams(window_s=2.0, stride_s=0.5, lossless=True)
    first, engine = _run(pose_model_path, dribble_frames, params)
    # Cuts at first stamp + 2.0 s, then every 0.5 s of data time; the end of the stream flushes the next window of
    # the grid (1.5 .. 3.5) clipped to the last frame, not shifted to end there (1.25 .. 3.25).
    assert [x for d in first for x in (d.window_start, d.window_end)] == pytest.approx(
        [0.0, 2.0, 0.5, 2.5, 1.0, 3.0, 1.5, 3.25])
    assert engine.stats()["processed"] == 40 and engine.stats()["dropped_frames"] == 0
    # Every window holds the frames in (start, end], and the first one the input's first frame too.
    frames_in = [sum(d.window_start < f.stamp <= d.window_end for f in dribble_frames) for d in first]
    assert [d.num_frames for d in first] == [frames_in[0] + 1, *frames_in[1:]] == [25, 24, 24, 21]
    assert all(d.model_id == "primitives" and d.text for d in first)
    second, _ = _run(pose_model_path, dribble_frames, params)
    assert [(d.text, d.labels, d.scores) for d in second] == [(d.text, d.labels, d.scores) for d in first]


@pytest.mark.parametrize("window_s, stride_s", [(4.0, 1.0), (3.25, 1.0), (10.0, 10.0)])
def test_a_clip_shorter_than_a_window_gets_one_window_covering_it(pose_model_path, dribble_frames, window_s,
                                                                   stride_s):
    results, _ = _run(pose_model_path, dribble_frames, EngineParams(window_s=window_s, stride_s=stride_s,
                                                                    lossless=True))
    # [0, 3.25]: all 40 frames; the window that starts at the first frame holds it.
    assert [(d.window_start, d.window_end, d.num_frames) for d in results] == [(0.0, 3.25, 40)]


@pytest.mark.parametrize("clip, window_s, stride_s", [("hug_two_people.mp4", 1.5, 0.25),
                                                      ("basketball_gym.mp4", 4.0, 1.0),
                                                      ("handshake_two_people.mp4", 1.0, 0.3)])
def test_windows_stay_inside_the_clip_and_on_the_stride_grid(test_data, pose_model_path, clip, window_s,
                                                             stride_s):
    frames = list(open_source(str(test_data / "video" / clip)))
    first, last = frames[0].stamp, frames[-1].stamp
    described, _ = _run(pose_model_path, frames, EngineParams(window_s=window_s, stride_s=stride_s, lossless=True))
    results = [d for d in described if d.salience_rank == 0]  # one per window (the others describe other people)
    assert len(results) >= 2
    for i, d in enumerate(results):
        assert first <= d.window_start < d.window_end <= last
        # Window i starts at first + i * stride: the last one too (clipped at its end, not shifted).
        assert d.window_start == pytest.approx(first + i * stride_s)
    assert [d.window_end - d.window_start for d in results[:-1]] == pytest.approx([window_s] * (len(results) - 1))
    assert results[-1].window_end == pytest.approx(last)
    assert results[0].num_frames == sum(first <= f.stamp <= first + window_s for f in frames)


def test_a_failing_stage_is_survived_and_counted(pose_model_path, dribble_frames):
    params = EngineParams(window_s=1.0, stride_s=0.5, lossless=True)
    results, engine = _run(pose_model_path, dribble_frames, params,
                           perception_wrapper=lambda p: FailOn(p, {10, 11}, "process"),
                           describer=FailOn(PrimitivesDescriber(), {1}, ""))
    stats = engine.stats()
    assert stats["errors.perception"] == 2 and stats["processed"] == 38
    assert stats["errors.model"] == 1
    assert stats["described"] == stats["windows"] - 1 >= 4  # every window after the failure was described


def test_live_mode_drops_the_oldest_and_accounts_for_every_frame(pose_model_path, dribble_frames):
    class Slow:
        def __init__(self, stage):
            self.stage = stage

        def process(self, rgb, stamp):
            time.sleep(0.05)
            return self.stage.process(rgb, stamp)

    params = EngineParams(window_s=1.0, stride_s=0.5, lossless=False, frame_queue=2)
    _, engine = _run(pose_model_path, dribble_frames, params, perception_wrapper=Slow)
    stats = engine.stats()
    assert stats["dropped_frames"] > 0
    assert stats["submitted"] == stats["processed"] + stats["dropped_frames"] == 40


def test_replay_going_back_in_time_restarts_windows(pose_model_path, dribble_frames):
    params = EngineParams(window_s=1.0, stride_s=1.0, lossless=True)
    results, engine = _run(pose_model_path, dribble_frames + dribble_frames, params)
    ends = [d.window_end for d in results]
    assert ends == sorted(ends[: len(ends) // 2]) * 2  # the second pass cuts the same windows again
    assert engine.stats()["processed"] == 80


def test_a_gap_longer_than_a_window_starts_over(pose_model_path, dribble_frames):
    shifted = [Frame(f.stamp + 100.0, f.rgb, f.frame_id) for f in dribble_frames[:20]]
    params = EngineParams(window_s=1.0, stride_s=0.5, lossless=True)
    results, _ = _run(pose_model_path, dribble_frames[:20] + shifted, params)
    ends = [d.window_end for d in results]
    # The last windows before the gap still hold frames (up to 1.583 s + 1 s); none is cut inside the gap.
    assert all(end <= 2.6 or end > 100.0 for end in ends)
    assert min(end for end in ends if end > 100.0) == pytest.approx(101.0)


def test_history_answers_lookback_queries(pose_model_path, dribble_frames):
    params = EngineParams(window_s=1.0, stride_s=0.5, lossless=True, history=3)
    results, engine = _run(pose_model_path, dribble_frames, params)
    assert len(engine.history) == 3  # bounded
    recent = engine.recent(0.5)
    assert [d.window_end for d in recent] == [d.window_end for d in results if d.window_end >= results[-1].window_end
                                              - 0.5]


def test_drop_oldest_queue():
    live = DropOldestQueue(2, lossless=False)
    for i in range(5):
        live.put(i)
    assert live.dropped == 3 and [live.get(), live.get()] == [3, 4]
    lossless = DropOldestQueue(1, lossless=True)
    lossless.put("a")
    waited = threading.Event()

    def producer():
        lossless.put("b")  # blocks until "a" is taken
        waited.set()

    thread = threading.Thread(target=producer)
    thread.start()
    assert not waited.wait(0.1)
    assert lossless.get() == "a"
    thread.join(1.0)
    assert waited.is_set() and lossless.get() == "b" and lossless.dropped == 0
    lossless.close()
    assert lossless.get() is None
    with pytest.raises(ValueError):
        DropOldestQueue(0, lossless=True)


def test_params_are_validated():
    with pytest.raises(ValueError, match="stride"):
        EngineParams(window_s=1.0, stride_s=2.0)
    assert np.isfinite(EngineParams().window_s)


def test_load_benchmark_accounts_for_every_offered_frame(test_data, pose_model_path, capsys):
    from motionllm_ros.cli import main

    assert main(["bench", "engine", "--input", str(test_data / "video" / "street_walking_5frames.mp4"),
                 "--pose-model", str(pose_model_path), "--seconds", "3", "--json"]) == 0
    import json

    result = json.loads(capsys.readouterr().out)
    assert result["accounted"] and result["offered"] == result["processed"] + result["dropped_frames"]
    assert result["dropped_frames"] > 0  # offered at 4x what it can process
    assert result["rss_mb_series"] and result["rss_growth_mb"] >= 0


def test_every_processed_frame_reaches_the_per_frame_callback(pose_model_path, dribble_frames):
    seen = []
    with PerceptionPipeline(pose_model_path) as pipeline:
        engine = StreamingEngine(pipeline, PrimitivesDescriber(), EngineParams(window_s=1.0, stride_s=1.0,
                                 lossless=True), on_person=lambda frame, scene: seen.append((frame.stamp, scene)))
        for frame in dribble_frames[:12]:
            engine.submit(frame)
        engine.close()
    assert [stamp for stamp, _ in seen] == [f.stamp for f in dribble_frames[:12]]
    assert all(len(scene.people) == 1 and scene.people[0].valid and scene.people[0].joints.shape == (22, 3)
               for _, scene in seen)


def test_everybody_is_described_in_each_window_most_salient_first(pose_model_path, test_data):
    """handshake_two_people.mp4: both people are fitted in nearly every frame, so every window has two
    descriptions, the man on the left (track 1, nearer) first; each carries its own track's image boxes."""
    frames = list(open_source(str(test_data / "video" / "handshake_two_people.mp4")))
    described, engine = _run(pose_model_path, frames, EngineParams(window_s=1.0, stride_s=0.5, lossless=True))
    windows: dict[float, list] = {}
    for d in described:
        windows.setdefault(d.window_end, []).append(d)
    assert len(windows) == engine.stats()["windows"] >= 5
    for end, group in windows.items():
        assert [(d.track_id, d.salience_rank) for d in group] == [(1, 0), (2, 1)], end
        for d in group:
            boxes = d.details["image_boxes"]
            assert len(boxes) == d.num_valid > 0
            centre_x = np.mean([(box[1] + box[3]) / 2 for box in boxes])
            assert (centre_x < 0.5) == (d.track_id == 1)


class SlowModel:
    """A describer standing in for a language model's time: the real primitives after `seconds` of waiting."""

    model_id = "slow-model"

    def __init__(self, seconds: float):
        self.seconds, self.primitives = seconds, PrimitivesDescriber()

    def __call__(self, window):
        time.sleep(self.seconds)
        return self.primitives(window)


@pytest.mark.parametrize("people, seconds, second_by", [(1, 0.0, "primitives"), (2, 0.0, "slow-model"),
                                                        (2, 0.6, "primitives")])
def test_the_model_describes_the_most_salient_people_within_the_stride(pose_model_path, test_data, people, seconds,
                                                                       second_by):
    """handshake_two_people.mp4, two people per window, stride 0.5 s: the model describes the most salient person,
    the second too when describer_people allows and its answers still fit in the stride; else the primitives."""
    frames = list(open_source(str(test_data / "video" / "handshake_two_people.mp4")))
    params = EngineParams(window_s=2.0, stride_s=0.5, lossless=True, describer_people=people)
    results = []
    with PerceptionPipeline(pose_model_path) as pipeline:
        engine = StreamingEngine(pipeline, SlowModel(seconds), params, on_result=results.append,
                                 others_describer=PrimitivesDescriber())
        for frame in frames:
            engine.submit(frame)
        engine.close()
    assert {d.model_id for d in results if d.salience_rank == 0} == {"slow-model"}
    second = [d for d in results if d.salience_rank == 1]
    assert second and {d.model_id for d in second} == {second_by}
    over_budget = engine.stats().get("model_over_budget", 0)
    assert over_budget == (len(second) if seconds > params.stride_s else 0)
