"""The README's commands are the code's: its command list, options and parameter sentence checked against --help."""

from __future__ import annotations

import re
import subprocess

import pytest

from motionllm_ros.cli import build_parser, main
from conftest import REPO_ROOT

README = (REPO_ROOT / "README.md").read_text()


def _command_list() -> dict[str, set[str]]:
    """'run' / 'bench llm' -> the options its README entry names (the text block under 'The offline way')."""
    block = README.split("## The offline way", 1)[1].split("```text\n", 1)[1].split("```", 1)[0]
    entries: dict[str, set[str]] = {}
    current = None
    for line in block.splitlines():
        if line.startswith("motionllm "):
            words = line.split()
            current = " ".join(words[1:3] if words[1] == "bench" else words[1:2])
            entries[current] = set()
        assert current is not None, line
        entries[current] |= set(re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", line))
    return entries


def _help(command: str) -> str:
    with pytest.raises(SystemExit):
        main([command.split()[0], "--help"])
    return _help.capsys.readouterr().out  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _capture(capsys):
    _help.capsys = capsys  # type: ignore[attr-defined]


def _subcommands() -> set[str]:
    (action,) = [a for a in build_parser()._actions if a.dest == "command"]
    return set(action.choices)


def test_every_subcommand_is_listed_and_each_listed_option_exists():
    entries = _command_list()
    assert {name.split()[0] for name in entries} == _subcommands()
    for name, options in entries.items():
        text = _help(name)
        missing = [option for option in options if option not in text]
        assert not missing, f"README lists {missing} for `motionllm {name}`; --help does not"
        if name.startswith("bench "):
            assert name.split()[1] in text


def test_the_parameter_sentence_names_exactly_the_subcommands_that_take_parameters():
    sentence = README.split("The subcommands\nthat read parameters, ", 1)[1].split(" use no parameter", 1)[0]
    takes, rest = sentence.split(", take", 1)
    named_takes = set(re.findall(r"`([a-z][a-z-]*)`", takes))
    named_none = set(re.findall(r"`([a-z][a-z-]*)`", rest.rsplit("overrides;", 1)[1]))
    assert named_takes | named_none == _subcommands() and not named_takes & named_none
    for command in _subcommands():
        text = _help(command)
        has = "--params-file" in text and "-p NAME=VALUE" in text
        assert has == (command in named_takes), command
        assert "--verbose" in text, command


def test_outputs_of_the_readme_examples_stay_out_of_the_checkout():
    outputs = set(re.findall(r"--out ([^\s\]]+)", README)) | set(re.findall(r"> (\S+\.json)", README))
    concrete = {path for path in outputs if not re.fullmatch(r"[A-Z_./]+|OUT\.\w+|\w*DIR/?", path)}
    assert "/tmp/dribble.jsonl" in concrete
    for path in concrete:
        ignored = subprocess.run(["git", "check-ignore", "-q", path], cwd=REPO_ROOT).returncode == 0
        assert path.startswith("/tmp/") or ignored, path
