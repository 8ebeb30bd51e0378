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
