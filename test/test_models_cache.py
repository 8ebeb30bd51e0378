"""`motionllm models` and the first-run download: a real HTTP server on 127.0.0.1, real MediaPipe, a real cache.

Whatever goes wrong (wrong checksum, a cut transfer, a page that is not a model, a server that is down), the cache
is left as it was: never a half-written or unloadable model in it.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import socket
import threading
import zipfile
from pathlib import Path

import pytest

from motionllm_ros import models_cache
from motionllm_ros.cli import main


class ModelServer:
    """Serves `routes[path] = (body, declared length)` on 127.0.0.1; a declared length above the body's is a
    transfer cut short (the connection closes after the body)."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[bytes, int]] = {}
        routes = self.routes

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path not in routes:
                    self.send_error(404)
                    return
                body, length = routes[self.path]
                self.send_response(200)
                self.send_header("Content-Length", str(length))
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

            def log_message(self, *args) -> None:  # keep the test output clean
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def serve(self, path: str, body: bytes, declared: int | None = None) -> str:
        self.routes[path] = (body, len(body) if declared is None else declared)
        return f"http://127.0.0.1:{self.server.server_address[1]}{path}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def server():
    s = ModelServer()
    yield s
    s.close()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "motionllm" / "models"


def _cache_files(cache: Path) -> list[str]:
    return sorted(p.name for p in cache.iterdir()) if cache.exists() else []


def test_the_cache_follows_xdg(cache):
    assert models_cache.default_pose_model() == cache / "pose_landmarker_full.task"
    assert models_cache.url_for("lite") == ("https://storage.googleapis.com/mediapipe-models/pose_landmarker/"
                                            "pose_landmarker_lite/float16/latest/pose_landmarker_lite.task")


def test_a_good_download_enters_the_cache_and_loads(server, cache, pose_model_path):
    body = pose_model_path.read_bytes()
    url = server.serve("/pose_landmarker_full.task", body)
    installed = models_cache.install(url, sha256=hashlib.sha256(body).hexdigest())
    assert installed == cache / "pose_landmarker_full.task" and installed.read_bytes() == body
    assert _cache_files(cache) == ["pose_landmarker_full.task"]  # no temporary file left behind


def _bad_bundle() -> bytes:
    """A zip with the right member names but no model inside: only MediaPipe itself can tell."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        for name in sorted(models_cache.BUNDLE_MEMBERS):
            bundle.writestr(name, b"not a tflite model")
    return buffer.getvalue()


@pytest.mark.parametrize("case", ["wrong_checksum", "truncated", "html_page", "unloadable_bundle", "server_down"])
def test_a_failed_download_leaves_the_cache_as_it_was(server, cache, pose_model_path, case):
    body = pose_model_path.read_bytes()
    sha256 = None
    if case == "wrong_checksum":
        url, sha256 = server.serve("/m.task", body), "0" * 64
        expected = "sha256"
    elif case == "truncated":
        url, expected = server.serve("/m.task", body[: len(body) // 2], declared=len(body)), "download of"
    elif case == "html_page":
        url, expected = server.serve("/m.task", b"<html>quota exceeded</html>"), "not a MediaPipe .task bundle"
    elif case == "unloadable_bundle":
        url, expected = server.serve("/m.task", _bad_bundle()), "MediaPipe cannot load it"
    else:
        with socket.socket() as probe:  # a port nobody listens on
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        url, expected = f"http://127.0.0.1:{port}/m.task", "download of"
    # A good model already in the cache must survive a failed re-download.
    models_cache.install(str(pose_model_path))
    with pytest.raises(models_cache.ModelDownloadError, match=expected):
        models_cache.install(url, sha256=sha256)
    assert _cache_files(cache) == ["pose_landmarker_full.task"]
    assert (cache / "pose_landmarker_full.task").read_bytes() == body


def test_models_command_from_a_file_and_its_errors(cache, pose_model_path, tmp_path, capsys):
    broken = tmp_path / "pose_landmarker_full.task"
    broken.write_bytes(pose_model_path.read_bytes()[:100_000])
    assert main(["models", "--from", str(broken)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 2 and err.splitlines()[-1].startswith("motionllm: error: ")  # fetching.., error
    assert "the cache is unchanged" in err and _cache_files(cache) == []
    assert main(["models", "--from", str(pose_model_path)]) == 0
    assert "no sha256 is published" in capsys.readouterr().out
    assert main(["models"]) == 0  # present: nothing fetched
    assert "(present" in capsys.readouterr().out


def test_run_downloads_the_default_model_on_first_use(server, cache, pose_model_path, test_data, monkeypatch,
                                                      capsys):
    url = server.serve("/pose_landmarker_full/pose_landmarker_full.task", pose_model_path.read_bytes())
    monkeypatch.setattr(models_cache, "URL_TEMPLATE", url.replace("full", "{variant}"))
    clip = str(test_data / "video" / "street_walking_5frames.mp4")
    assert main(["run", clip]) == 0
    captured = capsys.readouterr()
    assert f"first run: downloading MediaPipe's pose model {url}" in captured.err
    assert "frames 5 submitted, 5 processed" in captured.out
    assert _cache_files(cache) == ["pose_landmarker_full.task"]
    assert main(["run", clip]) == 0  # second run: from the cache, nothing announced
    assert "downloading" not in capsys.readouterr().err


def test_offline_the_error_says_what_to_download_and_where(server, cache, test_data, monkeypatch, capsys):
    monkeypatch.setattr(models_cache, "URL_TEMPLATE", server.serve("/gone", b"", declared=1) + "{variant}")
    server.close()
    assert main(["run", str(test_data / "video" / "street_walking_5frames.mp4")]) == 2
    error = capsys.readouterr().err.splitlines()[-1]
    assert error.startswith("motionllm: error: download of")
    assert f"put it at {cache / 'pose_landmarker_full.task'}" in error and "--pose-model" in error
    assert _cache_files(cache) == []
