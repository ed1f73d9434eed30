"""Read a notebook's ``parameters`` cell and check given values against it.

A value the notebook does not declare, or one whose type does not fit the declared default,
is refused before anything runs or is written, so a typo never becomes a silent no-op run.
"""

from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vega_lab.errors import NotebookError, NotebookNotFoundError, NotebookParameterError

if TYPE_CHECKING:
    import nbformat


@dataclass(frozen=True)
class Declared:
    """One parameter as the notebook declares it."""

    name: str
    type_name: str  # "int", "float", "bool", "str", "list", "dict", "None" or an annotation
    default: Any
    help: str = ""


def read_notebook(path: str | Path) -> nbformat.NotebookNode:
    """Read a notebook; missing paths fail before the (slow) nbformat import."""
    p = Path(path)
    if not p.is_file():
        raise NotebookNotFoundError(
            f"notebook {str(p)!r} does not exist",
            "check the path (relative paths are taken from the current directory)",
        )
    if p.suffix != ".ipynb":
        raise NotebookError(f"{str(p)!r} is not a notebook (.ipynb)")
    import nbformat

    try:
        return nbformat.read(p, as_version=4)
    except Exception as exc:  # nbformat raises several unrelated types for bad JSON
        raise NotebookError(
            f"cannot read notebook {str(p)!r}: {exc}", "is it valid notebook JSON?"
        ) from exc


def declared_parameters(path: str | Path) -> dict[str, Declared]:
    """The parameters declared in the cell tagged ``parameters`` (empty if none)."""
    from papermill.translators import PythonTranslator

    nb = read_notebook(path)
    cell = next(
        (c for c in nb.cells if "parameters" in c.get("metadata", {}).get("tags", [])), None
    )
    if cell is None:
        return {}
    out: dict[str, Declared] = {}
    for p in PythonTranslator.inspect(cell):
        try:
            default = ast.literal_eval(p.default)
        except (ValueError, SyntaxError):
            default = p.default
        type_name = p.inferred_type_name
        if type_name in ("None", ""):
            type_name = type(default).__name__ if default is not None else "None"
        out[p.name] = Declared(p.name, type_name, default, p.help)
    return out


def _fits(type_name: str, value: Any) -> bool:
    base = type_name.split("[")[0].split("|")[0].strip()
    if value is None:
        return "None" in type_name or "Optional" in type_name or base == "None"
    match base:
        case "int":
            return isinstance(value, int) and not isinstance(value, bool)
        case "float":
            return isinstance(value, int | float) and not isinstance(value, bool)
        case "bool":
            return isinstance(value, bool)
        case "str":
            return isinstance(value, str)
        case "list" | "tuple":
            return isinstance(value, list | tuple)
        case "dict":
            return isinstance(value, dict)
    return True


def check_parameters(
    path: str | Path, values: dict[str, Any], declared: dict[str, Declared] | None = None
) -> dict[str, Declared]:
    """Raise NotebookParameterError unless every value is declared and fits its type."""
    declared = declared_parameters(path) if declared is None else declared
    unknown = sorted(set(values) - set(declared))
    if unknown:
        names = ", ".join(sorted(declared)) or "none (no cell tagged 'parameters')"
        raise NotebookParameterError(
            f"{Path(path).name} does not declare parameter(s) {', '.join(unknown)}",
            f"declared: {names}",
        )
    for name, value in values.items():
        d = declared[name]
        if not _fits(d.type_name, value):
            raise NotebookParameterError(
                f"parameter {name}={value!r} is {type(value).__name__}, but "
                f"{Path(path).name} declares {name}: {d.type_name} = {d.default!r}",
                "pass a value of the declared type",
            )
        try:
            json.dumps(value)
        except TypeError:
            raise NotebookParameterError(f"parameter {name}={value!r} is not JSON-able") from None
    return declared


def parse_cli_value(raw: str) -> Any:
    """``-p lr 0.1`` gives 0.1, ``-p name digits`` gives "digits" (YAML scalars, as papermill)."""
    import yaml

    try:
        return yaml.safe_load(raw)
    except yaml.YAMLError:
        return raw
