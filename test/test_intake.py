"""The node's image accounting (motionllm_ros/ros/intake.py, ROS-free): transport loss from header stamps and the
/diagnostics status it leads to."""

from __future__ import annotations

import numpy as np
import pytest

from motionllm_ros.ros.intake import LOSS_MIN_FRAMES, FrameIntake, expected_frames, input_status
from motionllm_ros.sources.base import Frame


def stamps_at(rate_hz, count, keep=lambda i: True, jitter_s=0.0, seed=0):
    jitter = np.random.default_rng(seed).uniform(-jitter_s, jitter_s, count)
    return [10.0 + i / rate_hz + jitter[i] for i in range(count) if keep(i)]


def test_nothing_lost_counts_every_image():
    assert expected_frames(stamps_at(30, 90)) == (90, 90)
    assert expected_frames(stamps_at(30, 90, jitter_s=0.004)) == (90, 90)  # stamping jitter of 12% of a period


@pytest.mark.parametrize("kept_every", [2, 4])
def test_regular_loss_is_not_seen_as_a_slower_camera_once_two_images_in_a_row_arrive(kept_every):
    # Every kept_every-th image arrives, plus one run of consecutive images: the frame period shows.
    stamps = stamps_at(30, 89, keep=lambda i: i % kept_every == 0 or 40 <= i <= 43)
    assert expected_frames(stamps) == (len(stamps), 89)  # frames 0 to 88, the first and last that arrived


def test_one_glitch_in_the_stamps_is_not_taken_for_the_frame_period():
    stamps = stamps_at(30, 60) + [10.0 + 30 / 30 + 0.001]  # a duplicate-ish stamp 1 ms after frame 30
    assert expected_frames(stamps) == (61, 61)


def test_random_heavy_loss_is_underestimated_never_overestimated():
    rng = np.random.default_rng(4)
    arrived = rng.random(300) < 0.25  # 75% lost
    indices = np.flatnonzero(arrived)
    true_loss = 1 - len(indices) / (indices[-1] - indices[0] + 1)
    received, expected = expected_frames(stamps_at(30, 300, keep=lambda i: arrived[i]))
    assert 0.5 < 1 - received / expected <= true_loss + 1e-9


def test_too_few_images_give_no_estimate():
    assert expected_frames(stamps_at(30, LOSS_MIN_FRAMES - 1)) is None


def test_diagnostics_warn_about_transport_loss_and_name_the_fix():
    intake = FrameIntake()
    arrived = stamps_at(30, 60, keep=lambda i: i % 3 == 0 or 20 <= i <= 22)
    for index, stamp in enumerate(arrived):
        intake.arrived(100.0 + index / 10, stamp)
        intake.submit(Frame(stamp, np.zeros((2, 2, 3), np.uint8), "camera"))
    snapshot = intake.snapshot()
    assert snapshot.transport == (len(arrived), 58)  # frames 0 to 57
    level, message = input_status(snapshot, active=True, now=102.0, active_since=99.0, topic="/cam")
    assert level == "warn" and "lost in transport" in message and f"received {len(arrived)} of the 58" in message
    assert "fastdds_profile.xml" in message and "compressed" in message


def test_samples_the_middleware_reports_lost_add_up_until_the_next_configuration():
    intake = FrameIntake()
    intake.lost_by_dds(3)
    intake.lost_by_dds(2)
    assert intake.snapshot().lost_by_dds == 5
    intake.restart_window()  # re-activation keeps the totals
    assert intake.snapshot().lost_by_dds == 5
    intake.reset()  # a new configuration starts from zero
    assert intake.snapshot().lost_by_dds == 0
