#!/usr/bin/env bash
# Creates the virtual environment .venv/ in the repository root and installs motionllm_ros into it, editable,
# with every optional backend the tests exercise. Safe to run again.
#   PYTHON=python3.12 bash scripts/setup.sh      choose the interpreter (3.10 to 3.12)
#   MOTIONLLM_TORCH="torch==2.13.0" ...          the torch requirement installed first (see below)
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
"$PYTHON" - <<'PY'
import sys
if not (3, 10) <= sys.version_info[:2] <= (3, 12):
    sys.exit(f"motionllm_ros needs Python 3.10 to 3.12, this is {sys.version.split()[0]}; set PYTHON=python3.x")
PY

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
# torch first, pinned: an unpinned `torch` pulled in by smplx would let pip choose the multi-GB CUDA build.
.venv/bin/python -m pip install --quiet "${MOTIONLLM_TORCH:-torch==2.13.0}"
.venv/bin/python -m pip install --quiet -e ".[all,test]"
echo "motionllm_ros installed in $(pwd)/.venv: try .venv/bin/motionllm --help"
