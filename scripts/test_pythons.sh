#!/usr/bin/env bash
# Runs the tests that need no torch under the other supported Pythons (3.10 and 3.12), each in its own venv
# (.venv-py3.10, .venv-py3.12), in parallel. An interpreter that is not installed is reported and skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/find_python.sh
if [ -z "${MOTIONLLM_TEST_DATA:-}" ] && [ -d ../shared/data ]; then
    MOTIONLLM_TEST_DATA=$(cd ../shared/data && pwd)
    export MOTIONLLM_TEST_DATA
fi
TESTS="test/test_config.py test/test_sources.py test/test_cli.py test/test_humanml3d.py test/test_primitives.py
       test/test_fitter.py test/test_smpl.py test/test_pose.py test/test_engine.py test/test_pipeline.py
       test/test_answers.py test/test_launch.py test/test_interfaces.py test/test_recording.py"

run_one() {
    local version=$1 python
    python=$(find_python "$version")
    if [ -z "$python" ]; then
        echo "python$version: not installed, skipped"
        return 0
    fi
    local venv=.venv-py$version
    [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip
    "$venv/bin/python" -m pip install --quiet -e ".[pose,test]"
    # shellcheck disable=SC2086
    "$venv/bin/python" -m pytest -q -p no:cacheprovider $TESTS > "$venv/pytest.log" 2>&1 || { cat "$venv/pytest.log"; return 1; }
    echo "python$version: $(tail -n 1 "$venv/pytest.log")"
}

run_one 3.10 & first=$!
run_one 3.12 & second=$!
status=0
wait $first || status=1
wait $second || status=1
exit $status
