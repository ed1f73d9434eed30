"""What every `vega-lab` command group shares: the --json option and how JSON is printed.

``--json`` promises exactly one JSON document on stdout, so ``vega-lab runs --json | jq`` works.
Commands print human lines with ``typer.echo`` and libraries print what they like (Ray, Flower,
llama.cpp, a kernel's native output), so the promise is kept in one place rather than in every
command: while a JSON command runs, stdout is sent to stderr, at the Python level and at the file
descriptor (for native code and child processes), and the document given to `emit_json` is
printed to the real stdout when the command ends. Bench commands always work this way: their
table goes to stderr, their JSON to stdout.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import sys
from collections.abc import Iterator
from typing import Annotated, Any

import click
import typer
from typer.core import TyperCommand

JsonOpt = Annotated[
    bool,
    typer.Option("--json", help="Print one JSON document on stdout (human output: stderr)."),
]

_PENDING: list[list[str]] = []  # one slot per JSON-mode command running in this process


def emit_json(obj: Any) -> None:
    """The command's machine-readable result: one JSON document on one line of stdout."""
    text = json.dumps(obj, default=str)
    if _PENDING:
        _PENDING[-1][:] = [text]  # printed on the real stdout when the command ends
    else:
        typer.echo(text)


def _flush_c_stdio() -> None:
    """Native code (llama.cpp, a C extension's printf) buffers stdout in libc; flush it while it
    still points at stderr, or it would land after the JSON."""
    with contextlib.suppress(Exception):
        ctypes.CDLL(None).fflush(None)


@contextlib.contextmanager
def json_stdout() -> Iterator[None]:
    """Run the body with stdout going to stderr; then print what `emit_json` got to stdout."""
    real = sys.stdout
    real.flush()
    try:  # real file descriptors (a console script); under CliRunner/capsys there are none
        fd, err_fd = real.fileno(), sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):
        fd = err_fd = -1
    saved = None
    if fd >= 0 and err_fd >= 0 and fd != err_fd:
        saved = os.dup(fd)
        os.dup2(err_fd, fd)
    pending: list[str] = []
    _PENDING.append(pending)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        _PENDING.pop()
        sys.stderr.flush()
        if saved is not None:
            _flush_c_stdio()
            os.dup2(saved, fd)
            os.close(saved)
        for text in pending:
            real.write(text + "\n")
        real.flush()


class JsonCommand(TyperCommand):
    """A command that keeps the --json promise (see the module docstring)."""

    always_json = False

    def invoke(self, ctx: click.Context) -> Any:
        if self.always_json or ctx.params.get("as_json"):
            with json_stdout():
                return super().invoke(ctx)
        return super().invoke(ctx)


class BenchCommand(JsonCommand):
    """A benchmark program: its table goes to stderr, its JSON result to stdout, always."""

    always_json = True


class Typer(typer.Typer):
    """`typer.Typer` whose commands are `JsonCommand`s (or ``command_cls``) unless told otherwise,
    so a new command with a ``--json`` option keeps the promise without doing anything."""

    def __init__(self, *args: Any, command_cls: type[JsonCommand] = JsonCommand, **kw: Any):
        super().__init__(*args, **kw)
        self._command_cls = command_cls

    def command(self, *args: Any, cls: type[TyperCommand] | None = None, **kw: Any) -> Any:
        return super().command(*args, cls=cls or self._command_cls, **kw)
