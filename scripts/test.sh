#!/usr/bin/env bash
# Runs the test suite in .venv (create it with scripts/setup.sh). Real-data tests use ../shared/data when it
# exists (or $MOTIONLLM_TEST_DATA) and are skipped, with the reason shown, when it does not.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${MOTIONLLM_TEST_DATA:-}" ] && [ -d ../shared/data ]; then
    MOTIONLLM_TEST_DATA=$(cd ../shared/data && pwd)
    export MOTIONLLM_TEST_DATA
fi
exec .venv/bin/python -m pytest -ra "$@"
