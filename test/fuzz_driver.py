"""Runs many `motionllm` command lines in one process, each as `motionllm_ros.cli.main(argv)` would run from a shell:
its own stdout/stderr, its exit status, and an uncaught exception printed as Python prints it (a traceback).

Usage: python test/fuzz_driver.py CASES.json RESULTS.json
CASES.json is a list of argv lists. Results are written after every case, so a run that hangs or is killed still
tells which case it was on. One process for a group of cases keeps the fuzz suite's run time reasonable (the
CLI's imports cost about a second per process); the test runs this script under a time and memory limit.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import sys
import traceback


def run_one(argv: list[str]) -> dict:
    from motionllm_ros import cli

    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        # main() calls logging.basicConfig, which binds the handler to the sys.stderr of its first call.
        for handler in logging.root.handlers[:]:
            logging.root.removeHandler(handler)
        try:
            code = cli.main(argv)
        except SystemExit as exit_:  # argparse
            code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
        except BaseException:  # what the interpreter would print for an uncaught exception
            traceback.print_exc(file=sys.stderr)
            code = 1
    return {"argv": argv, "code": code, "stdout": stdout.getvalue(), "stderr": stderr.getvalue()}


def main() -> None:
    import resource

    cases_path, results_path = sys.argv[1], sys.argv[2]
    results = []
    for argv in json.loads(open(cases_path).read()):
        with open(results_path + ".current", "w") as current:
            current.write(json.dumps(argv))
        results.append(run_one(argv))
        results[-1]["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        with open(results_path, "w") as out:
            out.write(json.dumps(results))


if __name__ == "__main__":
    main()
