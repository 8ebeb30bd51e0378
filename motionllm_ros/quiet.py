"""Third-party logging kept out of the way unless asked for (`motionllm -v`, or MOTIONLLM_VERBOSE=1 for the node).

Two kinds of noise, measured on `motionllm run` (mediapipe 0.10 with LiteRT, torch 2.13, torchao, onnxscript):
- Python loggers and warnings of libraries: onnxscript's INFO lines, torchao's "Failed to load ...cpython-310...so"
  (a wheel built for another Python; its optional kernels are not needed), torch's pytree deprecation. Handled by
  `configure_logging`: only our own `motionllm.*` loggers print below ERROR.
- Native code writing straight to file descriptor 2: MediaPipe / LiteRT / TF Lite / absl print ~60 INFO and WARNING
  lines per model load ("Sparsity tensors may not yet be fully supported" 38 times). None of GLOG_minloglevel,
  TF_CPP_MIN_LOG_LEVEL or ABSL_MIN_LOG_LEVEL changes that (tried), so `native_stderr_silenced` points fd 2 at
  /dev/null while such code runs, and keeps Python's own sys.stderr on the real stderr meanwhile.
"""

from __future__ import annotations

import contextlib
import io
import logging
import os
import sys
import threading
from collections.abc import Iterator

VERBOSE_ENV = "MOTIONLLM_VERBOSE"
OUR_LOGGERS = "motionllm"  # every logger of ours is named motionllm or motionllm.*
# Libraries that install their own handler (or set their own level) and so bypass the root logger's filter.
SELF_HANDLED = ("torch", "torchao", "onnxscript", "onnx_ir", "transformers", "absl")

_lock = threading.Lock()
_depth = 0
_saved: tuple[int, object] | None = None  # (the real fd 2, duplicated; the sys.stderr it replaced)


def verbose() -> bool:
    return os.environ.get(VERBOSE_ENV, "") not in ("", "0")


class _CurrentStderr(logging.StreamHandler):
    """Writes to whatever sys.stderr is at the time (native_stderr_silenced rebinds it), not the one at creation."""

    @property  # type: ignore[override]
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value) -> None:
        pass


class _OursOrErrors(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.ERROR or record.name.split(".")[0] == OUR_LOGGERS


def configure_logging(level: str, is_verbose: bool) -> None:
    """Our loggers at `level`; without `is_verbose`, other libraries' Python logging below ERROR and their warnings
    are dropped. With it, everything at `level`. Call before torch is imported: torch sets its loggers' levels from
    TORCH_LOGS when it is imported."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    if is_verbose:
        os.environ[VERBOSE_ENV] = "1"  # for native_stderr_silenced, also in worker processes
    if not root.handlers:  # a host that set up logging already (pytest, an embedding program) keeps its handlers
        handler = _CurrentStderr()
        handler.setFormatter(logging.Formatter("[%(levelname)s] %(name)s: %(message)s"))
        if not is_verbose:
            handler.addFilter(_OursOrErrors())
        root.addHandler(handler)
    if is_verbose:
        return
    quiet_libraries()
    logging.captureWarnings(True)  # warnings.warn -> the "py.warnings" logger, dropped by the filter above


def quiet_libraries() -> None:
    """Libraries with their own handlers (torch) or none (then Python's last-resort handler prints their warnings,
    e.g. torchao's) log ERROR and above only, unless verbose(). Also for the node, whose handler takes only
    motionllm.*. Before torch is imported: torch reads TORCH_LOGS then."""
    if verbose():
        return
    for name in SELF_HANDLED:
        logging.getLogger(name).setLevel(logging.ERROR)
    os.environ.setdefault("TORCH_LOGS", "-all")  # "-": ERROR and above for every torch logger; a user's value wins


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Native writes to fd 2 go to /dev/null inside (unless verbose); Python's sys.stderr still reaches the real
    stderr. Re-entrant and shared by threads: fd 2 comes back when the last one leaves. A native line another thread
    writes meanwhile (e.g. ROS's own logging) is lost, so callers keep it to short moments: a model load, a first
    inference, a close; the CLI wraps a whole command."""
    global _depth, _saved
    if verbose():
        yield
        return
    with _lock:
        if _depth == 0:
            _saved = _redirect()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved is not None:
                _restore(*_saved)
                _saved = None


def _redirect() -> tuple[int, object]:
    sys.stdout.flush()
    sys.stderr.flush()
    real = os.dup(2)
    previous = sys.stderr
    if _on_fd2(previous):
        # Python's writes keep their destination through a copy of the real fd 2.
        sys.stderr = io.TextIOWrapper(os.fdopen(os.dup(real), "wb", buffering=0), write_through=True,
                                      encoding=getattr(previous, "encoding", None) or "utf-8",
                                      errors="backslashreplace")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
    return real, previous


def _restore(real: int, previous: object) -> None:
    replaced = sys.stderr
    sys.stderr = previous  # type: ignore[assignment]
    if replaced is not previous:
        replaced.close()
    os.dup2(real, 2)
    os.close(real)


def _on_fd2(stream: object) -> bool:
    try:
        return stream.fileno() == 2  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):  # io.UnsupportedOperation is an OSError and a ValueError
        return False
