"""What every `vega-lab` command group shares: the --json option and how JSON is printed."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object as the last line.")]


def emit_json(obj: Any) -> None:
    """One JSON object on one line: the machine-readable last line of a command."""
    typer.echo(json.dumps(obj, default=str))
