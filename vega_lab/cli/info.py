"""`vega-lab --version` and `vega-lab info`: which project root, data and code are in use.

With a venv shared between clones, the code that runs is the editable install's clone while data
goes to the clone you are in; both say so, so a surprise is one command away from explained.
"""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from vega_lab.cli.common import JsonOpt, emit_json


def _print_version(value: bool) -> None:
    if not value:
        return
    from vega_lab.about import package_dir, version
    from vega_lab.config import get_settings

    typer.echo(f"vega-lab {version()} (Python {sys.version.split()[0]})")
    typer.echo(f"project root: {get_settings().home}")
    typer.echo(f"package:      {package_dir()}")
    raise typer.Exit()


def main_options(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            callback=_print_version,
            is_eager=True,
            help="Print the version, the project root in use and where the code is; exit.",
        ),
    ] = False,
) -> None:
    """vega_lab: a Jupyter-centric research workbench for private and multimodal ML."""


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _lines(out: dict[str, Any]) -> list[str]:
    lines = [f"{k:<14}{out[k]}" for k in ("project_root", "data_dir", "reports_dir", "package_dir")]
    if not out["package_in_project_root"]:
        lines.append(f"{'':<14}(the code runs from package_dir, not from the project root)")
    versions = ", ".join(f"{k} {v}" for k, v in out["versions"].items() if v)
    extras = ", ".join(f"{k} {_yes(e['installed'])}" for k, e in out["extras"].items())
    models = out["models"]
    shipped = ", ".join(f"{k} {_yes(m['installed'])}" for k, m in models["shipped"].items())
    cached = "; ".join(f"{k}: {', '.join(v) or '-'}" for k, v in models["cached"].items())
    gpu = out["gpu"]
    gpu_text = ", ".join(gpu.get("devices", [])) or ("yes" if gpu["visible"] else "none visible")
    chat = out["chat_server"]
    chat_text = f"running at {chat['url']} (pid {chat['pid']})" if chat["running"] else "stopped"
    lines += [
        f"versions      {versions}",
        f"extras        {extras}",
        f"models        {shipped}",
        f"cached models {cached or '(none yet)'} in {models['models_path']}",
        f"gpu           {gpu_text}",
        f"chat server   {chat_text}; state file {chat['state_file']}",
    ]
    return lines


def info(as_json: JsonOpt = False) -> None:
    """Project root, data/reports paths, versions, extras, models, GPU, chat server state.

    Nothing is started or imported heavily: it answers in about a second."""
    from vega_lab.about import about

    out = about()
    if as_json:
        emit_json(out)
    else:
        typer.echo("\n".join(_lines(out)))


def register(app: typer.Typer) -> None:
    app.callback()(main_options)
    app.command("info")(info)
