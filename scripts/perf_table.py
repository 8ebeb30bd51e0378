#!/usr/bin/env python3
"""Render a `motionllm bench` result (JSON) as markdown; with --readme, put it into the README's performance section.

    python scripts/perf_table.py RESULT.json                     print the table
    python scripts/perf_table.py RESULT.json --readme README.md  replace the text between the perf markers

The README keeps the markers so that the section can be regenerated after every benchmark run; the table's first
line names the machine, device and date of the run.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from motionllm_ros.bench_all import markdown_table

BEGIN = "<!-- perf:begin -->"
END = "<!-- perf:end -->"


class MarkerError(ValueError):
    """The README lacks the perf markers, or has them out of order."""


def replace_between_markers(text: str, table: str, name: str = "README") -> str:
    """`text` with everything between BEGIN and END (exclusive) replaced by `table`."""
    begin, end = text.find(BEGIN), text.find(END)
    if begin < 0 or end < 0 or end < begin:
        raise MarkerError(f"{name}: needs the lines {BEGIN} and {END} (in that order) around the performance table")
    return text[:begin + len(BEGIN)] + "\n" + table + text[end:]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result", type=Path, help="JSON written by `motionllm bench` (all stages)")
    parser.add_argument("--readme", type=Path, help="README whose perf section is replaced")
    args = parser.parse_args(argv)
    try:
        table = markdown_table(json.loads(args.result.read_text()))
        if args.readme is None:
            print(table, end="")
            return 0
        args.readme.write_text(replace_between_markers(args.readme.read_text(), table, str(args.readme)))
    except (OSError, ValueError, KeyError) as error:  # JSONDecodeError and MarkerError are ValueErrors
        print(f"perf_table: {error!r}" if isinstance(error, KeyError) else f"perf_table: {error}", file=sys.stderr)
        return 1
    print(f"{args.readme}: performance section updated")
    return 0


if __name__ == "__main__":
    sys.exit(main())
