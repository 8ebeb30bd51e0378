"""Shared pytest fixtures.

Real data from ../shared (see its DATA.md) is found through environment variables so that the suite also runs
without it: tests that need it skip with a visible reason.

    MOTIONLLM_TEST_DATA    folder holding video/, bags/, humanml3d/, motion/ (CI: ../shared/data)
    MOTIONLLM_TEST_MODELS  folder holding pose_landmarker_full.task (default: $MOTIONLLM_TEST_DATA/../models)
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# The default pose model lives in the user's cache ($XDG_CACHE_HOME/motionllm/models). Tests get an empty cache of
# their own, so a model the user (or CI) installed there cannot make a "no pose model" test pass or fail by chance.
os.environ["XDG_CACHE_HOME"] = tempfile.mkdtemp(prefix="motionllm-test-cache-")


def _data_dir() -> Path | None:
    value = os.environ.get("MOTIONLLM_TEST_DATA")
    if not value:
        return None
    path = Path(value).expanduser().resolve()
    return path if path.is_dir() else None


def _models_dir() -> Path | None:
    value = os.environ.get("MOTIONLLM_TEST_MODELS")
    if value:
        path = Path(value).expanduser().resolve()
        return path if path.is_dir() else None
    data = _data_dir()
    if data is not None and (data.parent / "models").is_dir():
        return data.parent / "models"
    return None


@pytest.fixture(scope="session")
def test_data() -> Path:
    """The real-data folder; skips the test when MOTIONLLM_TEST_DATA is unset or missing."""
    path = _data_dir()
    if path is None:
        pytest.skip("real data not available: set MOTIONLLM_TEST_DATA to ../shared/data")
    return path


@pytest.fixture(scope="session")
def pose_model_path() -> Path:
    """MediaPipe PoseLandmarker .task bundle; skips when it cannot be found."""
    models = _models_dir()
    path = models / "pose_landmarker_full.task" if models else None
    if path is None or not path.is_file():
        pytest.skip("pose model not available: set MOTIONLLM_TEST_MODELS (or MOTIONLLM_TEST_DATA beside models/)")
    return path
