#!/usr/bin/env bash
# Runs the ROS-free core's tests against numpy 1.26 in .venv-numpy1 (the main .venv has numpy 2.x).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv-numpy1/bin/python ] || "$PYTHON" -m venv .venv-numpy1
.venv-numpy1/bin/python -m pip install --quiet --upgrade pip
# opencv-python-headless 4.12 and later require numpy 2: take the last release built for numpy 1.
.venv-numpy1/bin/python -m pip install --quiet "numpy==1.26.4" "opencv-python-headless<4.11" -e ".[test]"
.venv-numpy1/bin/python -c "import numpy; assert numpy.__version__.startswith('1.26'), numpy.__version__"
if [ -z "${MOTIONLLM_TEST_DATA:-}" ] && [ -d ../shared/data ]; then
    MOTIONLLM_TEST_DATA=$(cd ../shared/data && pwd)
    export MOTIONLLM_TEST_DATA
fi
exec .venv-numpy1/bin/python -m pytest -q -ra test/test_config.py test/test_sources.py test/test_cli.py
