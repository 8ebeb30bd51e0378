"""Answers to ~/query and ~/describe from the engine's history of descriptions (motionllm_ros/ros/answers.py, which
is ROS-free): the most salient track, questions matched to labels, look-back clipping, word-by-word streaming."""

from __future__ import annotations

import pytest

from motionllm_ros.config import Config
from motionllm_ros.engine import Description
from motionllm_ros.ros.answers import TRACK_MOST_SALIENT
from motionllm_ros.runtime import build_engine, close_engine


@pytest.fixture
def history_engine(pose_model_path):
    """history_engine(descriptions, history=600): a real engine (2 s windows every 1 s), stopped, whose history
    holds `descriptions` as if it had produced them."""
    engines = []

    def make(descriptions, history=600):
        config = Config().replace({"pose.model": str(pose_model_path), "window.length_s": 2.0,
                                   "window.stride_s": 1.0, "engine.lossless": True, "engine.history": history})
        engine = build_engine(config)
        engines.append(engine)
        close_engine(engine, flush=False)
        engine.history.extend(descriptions)
        return engine

    return make


def described(end, track_id, labels=(), num_valid=20, text=None):
    return Description(end - 2.0, end, "camera", track_id, 24, num_valid, text or f"window to {end}", tuple(labels),
                       tuple(0.9 for _ in labels), 0.9 if labels else 0.0, "primitives", 0.05)


def test_the_most_salient_track_is_the_one_seen_in_most_frames(history_engine):
    from motionllm_ros.ros.answers import answer

    engine = history_engine([described(10.0, 1, num_valid=20), described(10.0, 2, num_valid=5),
                             described(11.0, 2, num_valid=10), described(11.0, 1, num_valid=2)])
    result = answer(engine, "", TRACK_MOST_SALIENT, 0.0)
    assert result.success and [d.track_id for d in result.evidence] == [1, 1] and result.text == "window to 11.0"
    assert result.stamp == 11.0
    assert [d.window_end for d in answer(engine, "", 2, 0.0).evidence] == [10.0, 11.0]
    nobody = history_engine([described(5.0, None, num_valid=0, text="nobody tracked in this window")])
    result = answer(nobody, "", TRACK_MOST_SALIENT, 0.0)
    assert result.success and result.text == "nobody tracked in this window" and result.evidence[0].track_id is None


def test_question_words_meet_label_words_by_stem(history_engine):
    from motionllm_ros.ros.answers import NO_LANGUAGE_MODEL, answer

    engine = history_engine([described(10.0, 1, ["waving_right_hand", "pointing_left_arm", "standing"]),
                             described(11.0, 1, ["left_arm_raised", "falling", "running"])])
    cases = {"Is she waving at the robot?": {"waving_right_hand"},
             "Is his left arm raised?": {"left_arm_raised"},  # not pointing_left_arm: 'left arm' only says where
             "Did somebody fall?": {"falling"},
             "Is he running?": {"running"},
             "Is anyone sitting?": set()}
    for question, expected in cases.items():
        result = answer(engine, question, TRACK_MOST_SALIENT, 0.0)
        assert result.success and result.message == NO_LANGUAGE_MODEL, question
        found = {label for label in ("waving_right_hand", "pointing_left_arm", "standing", "left_arm_raised",
                                     "falling", "running") if label in result.text.split("Latest")[0]}
        assert found == expected, question
        assert result.text.endswith("Latest description (window ending at 11.000 s): window to 11.0.")


def test_a_label_held_twice_in_one_window_counts_that_window_once(history_engine):
    from motionllm_ros.ros.answers import answer

    engine = history_engine([described(10.0, 1, ["still", "standing", "still"]), described(11.0, 1, ["standing"])])
    result = answer(engine, "Is he still?", TRACK_MOST_SALIENT, 0.0)
    assert result.success and "still (score 0.90, in 1 of 2 window(s))" in result.text, result.text


def test_a_full_history_clips_a_longer_look_back_and_says_so(history_engine):
    from motionllm_ros.ros.answers import answer

    engine = history_engine([described(float(end), 1) for end in range(10, 13)], history=3)
    assert "clipped to the 2.0 s" in answer(engine, "", 1, 10.0).message
    assert answer(engine, "", 1, 1.5).message == ""  # the dropped window ended 3 s before the newest: not needed
    assert answer(history_engine([described(float(end), 1) for end in range(10, 13)]), "", 1, 10.0).message == ""


def test_word_by_word_prefixes():
    from motionllm_ros.ros.answers import word_by_word

    assert word_by_word("one person  walking, waving") == ["one", "one person", "one person  walking,",
                                                          "one person  walking, waving"]
    assert word_by_word("") == []




def test_a_track_below_everyone_is_refused_and_names_the_defaults(history_engine):
    from motionllm_ros.ros.answers import answer

    result = answer(history_engine([described(10.0, 1)]), "", -2, 0.0)
    assert not result.success and "0 for the most salient person" in result.message
    assert "-1 for everyone" in result.message


def test_who_questions_and_everyone_are_answered_from_every_track_naming_them(history_engine):
    from motionllm_ros.ros.answers import NO_LANGUAGE_MODEL, TRACK_EVERYONE, answer

    engine = history_engine([described(10.0, 1, ["standing"]), described(10.0, 2, ["waving_right_hand", "standing"]),
                             described(11.0, 1, ["walking"]), described(11.0, 2, ["standing"])])
    who = answer(engine, "Who is waving?", TRACK_MOST_SALIENT, 2.0)
    assert who.success and who.message == NO_LANGUAGE_MODEL
    assert who.text == "Track 2: waving_right_hand (score 0.90, in 1 of 2 window(s))."
    assert {d.track_id for d in who.evidence} == {1, 2}
    both = answer(engine, "who is standing", 1, 2.0)  # a "who" question is about everyone whatever the track
    assert both.text.startswith("Track 1: standing") and "Track 2: standing" in both.text
    nobody = answer(engine, "Who is sitting?", TRACK_MOST_SALIENT, 2.0)
    assert nobody.text == "No behaviour primitive of tracks 1, 2 in the look-back period matches the question."
    latest = answer(engine, "", TRACK_EVERYONE, 2.0)
    assert latest.text == "Track 1: window to 11.0. Track 2: window to 11.0."
