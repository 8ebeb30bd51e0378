"""The delivery bench's plumbing (`motionllm bench ros`): a real node process, real Fast DDS, a short JPEG case.
What it checks is the bench, not the delivery percentages (those depend on the machine and are measured, not
asserted): the case runs, the node's counters come back, and the shipped Fast DDS profile loads in both processes.
"""

from __future__ import annotations

import json
import os
import shutil

import pytest

from motionllm_ros.ros.delivery_bench import README_BEGIN, README_END, main, update_readme


def test_readme_block_keeps_the_other_distros_table():
    text = f"intro\n{README_BEGIN}\nold\n{README_END}\n## Parameters\n"
    jazzy = update_readme(text, "jazzy", "jazzy table")
    both = update_readme(jazzy, "kilted", "kilted table")
    again = update_readme(both, "jazzy", "jazzy table 2")
    assert again == (f"intro\n{README_BEGIN}\n<!-- delivery:jazzy -->\njazzy table 2\n\n"
                     f"<!-- delivery:kilted -->\nkilted table\n{README_END}\n## Parameters\n")
    assert update_readme(again, "jazzy", "jazzy table 2") == again


@pytest.mark.slow
def test_one_short_case_through_the_real_node(test_data, pose_model_path, monkeypatch, capsys):
    pytest.importorskip("rclpy", reason="needs ROS 2 (scripts/setup_ros.sh)")
    if shutil.which("motionllm_node") is None:
        pytest.skip("motionllm_node is not on PATH: source build/ros-DISTRO/setup.bash")
    # Every process of the bench joins the caller's domain: keep this run to itself.
    monkeypatch.setenv("ROS_DOMAIN_ID", os.environ.get("ROS_DOMAIN_ID", str(1 + os.getpid() % 100)))
    monkeypatch.setenv("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    status = main(["--seconds", "2", "--streams", "jpeg", "--profiles", "both", "--json",
                   "--video", str(test_data / "video" / "dribble_single_person.mp4"),
                   "--pose-model", str(pose_model_path)])
    assert status == 0
    report = json.loads(capsys.readouterr().out)
    assert report["inputs"]["seconds"] == 2 and report["inputs"]["cpus"] == os.cpu_count()
    (result,) = report["results"]
    assert (result["stream"], result["config"], result["published"]) == ("jpeg", "both", 24)  # 2 s at 12 Hz
    assert 0 < result["received"] <= result["published"]
    assert result["processed"] + result["dropped_busy"] <= result["received"]
    assert result["lost_by_dds"] >= 0  # read from the node's /diagnostics ("lost (reported by DDS)")
    # The profile's 64 MB segment (plus Fast DDS's bookkeeping), not the default 512 KB: it loaded on both sides.
    assert result["camera_segment_mib"] > 64 and result["node_segment_mib"] > 64


def test_the_people_case_shows_the_pair_beside_the_clip_or_grey_on_one_image_size():
    import numpy as np

    from motionllm_ros.ros.delivery_bench import side_by_side

    pair = [np.full((200, 100, 3), 10, np.uint8)] * 3  # a tall clip with two people
    clip = [np.full((100, 80, 3), 200, np.uint8)] * 2  # a shorter one with one: both scaled to 100 rows
    three, one = side_by_side(pair, clip, pair_shown=True), side_by_side(pair, clip, pair_shown=False)
    assert len(three) == len(one) == 2 and three[0].shape == one[0].shape == (100, 50 + 80, 3)
    assert (three[0][:, :50] == 10).all() and (one[0][:, :50] == 128).all() and (one[0][:, 50:] == 200).all()


def test_the_people_table_sets_each_rounds_three_people_against_its_one_person_case():
    from motionllm_ros.ros.delivery_bench import CaseResult, people_markdown

    def case(people, processed):
        return CaseResult("vga", "both", 300, 10.0, 300, processed, 300 - processed, 6, "", 0, 67.0, 67.0, people)

    inputs = {"distro": "jazzy", "seconds": 10.0, "cpus": 2, "load_average": [1.0, 1.2], "date": "today"}
    table = people_markdown(inputs, [case(1, 150), case(3, 90), case(1, 140), case(3, 98)])
    assert "| raw rgb8 640x480 @ 30 Hz | shipped, both | 1 | 150 (15.0) | 90 (9.0) | 0.60 |" in table
    assert "| 2 | 140 (14.0) | 98 (9.8) | 0.70 |" in table
