"""One lookup for every registry: strategies, engines, backends, executors, accountants, ...

Everything chosen by a string (a Papermill parameter, a widget dropdown, a CLI flag) is found
here, so a wrong name reads the same everywhere: ``unknown strategy 'fedavgx'; choose one of:
ditto, fedadagrad, ...; did you mean 'fedavg'?``. The valid names are listed sorted, so the
message does not depend on registration order, and a close match is suggested for typos.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Mapping
from typing import TypeVar

from vega_lab.errors import UnknownNameError

__all__ = ["check_name", "lookup", "unknown_name"]

T = TypeVar("T")


def unknown_name(
    kind: str, name: object, choices: Iterable[str], *, also: str | None = None
) -> UnknownNameError:
    """The error for ``name`` missing from ``choices``; ``also`` names another accepted form
    (e.g. "or pass a path to a .gguf file")."""
    names = sorted(choices)
    hint = f"choose one of: {', '.join(names)}"
    if also:
        hint += f"; {also}"
    close = difflib.get_close_matches(name, names, n=1) if isinstance(name, str) else []
    if close:
        hint += f"; did you mean {close[0]!r}?"
    return UnknownNameError(f"unknown {kind} {name!r}", hint)


def lookup(registry: Mapping[str, T], name: str, kind: str, *, also: str | None = None) -> T:
    """``registry[name]``, or an ``UnknownNameError`` that lists the valid names."""
    try:
        return registry[name]
    except (KeyError, TypeError):  # TypeError: an unhashable name such as a list
        raise unknown_name(kind, name, registry, also=also) from None


def check_name(name: str, choices: Collection[str], kind: str, *, also: str | None = None) -> str:
    """``name`` if it is one of ``choices`` (a tuple or set of names), else ``UnknownNameError``."""
    try:
        if name in choices:
            return name
    except TypeError:  # an unhashable name against a set
        pass
    raise unknown_name(kind, name, choices, also=also)
