"""Lazy package exports: names that live in submodules, imported on first attribute access.

Every capability package (`chat`, `privacy`, `experiments`, `multimodal`) is a façade whose
import must stay cheap (the CLI, dashboards and Ray workers import them) while its names pull in
torch, Opacus, open_clip, ... only when used. This is the one implementation of that pattern.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    package: str, table: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``(__getattr__, __dir__)`` for ``package``; ``table`` maps a name to its module path."""

    def __getattr__(name: str) -> Any:
        if name in table:
            return getattr(importlib.import_module(table[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__() -> list[str]:
        return sorted(set(table) | set(importlib.import_module(package).__dict__))

    return __getattr__, __dir__
