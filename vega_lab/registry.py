"""One lookup for every registry: strategies, engines, backends, executors, accountants, ...

Everything chosen by a string (a Papermill parameter, a widget dropdown, a CLI flag) is found
here, so a wrong name reads the same everywhere: ``unknown strategy 'fedavgx'; choose one of:
ditto, fedadagrad, ...; did you mean 'fedavg'?``. The valid names are listed sorted, so the
message does not depend on registration order, and a close match is suggested for typos.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any, TypeVar

from vega_lab.errors import UnknownNameError, VegaError

__all__ = ["check_name", "create", "lookup", "unknown_name"]

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


def create(
    registry: Mapping[str, Callable[..., T]],
    name: str,
    kind: str,
    options: Mapping[str, Any],
    error: type[VegaError],
) -> T:
    """``registry[name](**options)``: an unknown name as in `lookup`, options the class does not
    take as ``error`` (the capability's own error type) naming the kind, the name and the class."""
    cls = lookup(registry, name, kind)
    try:
        return cls(**options)
    except TypeError as exc:
        where = f"{cls.__module__}.{getattr(cls, '__qualname__', name)}"
        raise error(f"bad options for {kind} {name!r}: {exc}", f"see help({where})") from None
