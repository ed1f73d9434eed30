"""`--json` prints exactly one JSON document on stdout and nothing else (`vega-lab runs --json | jq`
works); human output goes to stderr. Bench commands print their table to stderr and their JSON
to stdout (their runs: tests/test_cli.py, tests/privacy, tests/chat). Also `info`, `--version`
and typer's shell completion."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import pytest
import typer

from tests.test_cli import VEGA, cli
from vega_lab.cli import app
from vega_lab.cli.common import BenchCommand, JsonCommand

EPSILON = "privacy epsilon --sample-rate 0.01 --noise 1 --steps 50 --delta 1e-5 --accountant rdp"
AUDIT = "privacy audit --epsilon 2 --trials 32 --canaries 4 --steps 2"
LISTS = ("info", "runs", "runs --sweeps", "history --limit 3", "chat-server --stop")
CHEAP_JSON_COMMANDS = [c.split() for c in (*LISTS, EPSILON, AUDIT)]


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, cmd in group.commands.items():
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name), cmd


def test_every_json_and_bench_command_keeps_the_promise() -> None:
    """Structural: the promise is kept by the command class, so every command with --json, and
    every bench command, must be one (a command added with a plain typer.Typer would not be)."""
    root = typer.main.get_command(app)
    assert isinstance(root, click.Group)
    seen = []
    for path, cmd in _commands(root):
        has_json = any("--json" in p.opts for p in cmd.params)
        if path[0] == "bench":
            assert isinstance(cmd, BenchCommand), path
        elif has_json:
            assert isinstance(cmd, JsonCommand), path
            seen.append(" ".join(path))
    assert {"run", "sweep", "runs", "report", "chat", "history", "info"} <= set(seen)


@pytest.mark.parametrize("args", CHEAP_JSON_COMMANDS, ids=lambda a: " ".join(a[:2]))
def test_json_stdout_is_one_document(workspace: Path, args: list[str]) -> None:
    res = cli(*args, "--json")
    assert res.returncode == 0, res.stderr
    json.loads(res.stdout)  # the whole of stdout, not its last line
    assert res.stdout.count("\n") == 1


def test_media_dupes_json_is_one_document(workspace: Path) -> None:
    from vega_lab.multimodal.demo import make_demo_folder

    folder = workspace / "media"
    make_demo_folder(folder, n_images=3, speech=False, video=False)
    res = cli("media", "dupes", str(folder), "--json")
    assert res.returncode == 0, res.stderr
    assert isinstance(json.loads(res.stdout), list)
    assert "groups of near-duplicates" in res.stderr  # the human summary: on stderr


def test_native_and_child_output_cannot_reach_stdout(tmp_path: Path) -> None:
    """What a library does behind our back (print, a C printf, a write to fd 1, a child process,
    a warning) lands on stderr; stdout holds the document alone, printed last."""
    script = tmp_path / "noisy.py"
    script.write_text(
        textwrap.dedent(
            """
            import ctypes, os, subprocess, sys, warnings
            from vega_lab.cli.common import emit_json, json_stdout

            with json_stdout():
                print("python print")
                emit_json({"answer": 42})
                os.write(1, b"raw fd write\\n")
                ctypes.CDLL(None).printf(b"libc printf, buffered\\n")
                subprocess.run(["echo", "child process"], check=True)
                warnings.warn("a warning")
            print("after: back on stdout")
            """
        )
    )
    res = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60,
        env={**os.environ, "PYTHONWARNINGS": "always"},
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert res.stdout == '{"answer": 42}\nafter: back on stdout\n'
    for text in ("python print", "raw fd write", "libc printf", "child process", "a warning"):
        assert text in res.stderr


def test_info_and_version_name_the_project_root(workspace: Path) -> None:
    info = json.loads(cli("info", "--json").stdout)
    keys = {"project_root", "data_dir", "reports_dir", "versions", "extras", "models", "gpu"}
    assert keys | {"chat_server", "package_dir"} <= set(info)
    assert info["data_dir"] == str(workspace / "data")  # the workspace's VEGA_DATA_DIR
    assert info["reports_dir"] == str(workspace / "reports")
    assert info["versions"]["vega_lab"] and info["versions"]["python"]
    assert info["extras"]["chat"]["packages"]["xllamacpp"] is True
    assert info["models"]["shipped"]["smollm2-135m"]["installed"] is True
    assert info["chat_server"]["running"] is False
    assert isinstance(info["gpu"]["visible"], bool)
    human = cli("info")
    assert human.returncode == 0 and f"project_root  {info['project_root']}" in human.stdout
    version = cli("--version")
    assert version.returncode == 0 and f"project root: {info['project_root']}" in version.stdout
    assert version.stdout.startswith(f"vega-lab {info['versions']['vega_lab']}")


def test_shell_completion_is_typers(workspace: Path) -> None:
    """`--install-completion`/`--show-completion` exist, and completing a word works."""
    # typer detects the shell from the parent process, so ask from a real bash (`; true` keeps
    # bash from exec-ing the command in its place)
    shown = f"{VEGA} --show-completion; true"
    res = subprocess.run(["bash", "-c", shown], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0 and "_vega_lab_completion" in res.stdout, res.stderr
    env = {**os.environ, "_VEGA_LAB_COMPLETE": "complete_bash", "COMP_WORDS": "vega-lab be"}
    env["COMP_CWORD"] = "1"
    done = subprocess.run([VEGA], capture_output=True, text=True, env=env, timeout=60)
    assert done.stdout.split() == ["bench"]
