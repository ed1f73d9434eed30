"""Sweep specs: a YAML file that names a notebook, fixed parameters, a grid and seeds.

```yaml
name: baseline_lr            # optional; defaults to the file's stem
notebook: ../centralized_baseline.ipynb   # relative to this file
executor: local              # local | ray
isolation: warm              # warm (local default): kernels forked from a pre-imported template;
                             # fresh: a new interpreter per run (ray: always fresh)
preload: [torch, pandas]     # optional, warm only: modules the template imports
workers: 2                   # optional; default: all cores
parameters: {epochs: 3}      # fixed for every run
grid: {lr: [0.01, 0.1]}      # cartesian product
repeats: 2                   # seeds seed, seed+1, ... (or list them in `seeds`)
seed: 0
```
Unknown keys and wrong types are refused with the file name and the offending key.
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, ValidationError, model_validator

from vega_lab.errors import SweepSpecError


class SweepSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False)

    name: str | None = Field(None, min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    notebook: str
    description: str = ""
    executor: str = "local"
    isolation: Literal["warm", "fresh"] | None = None
    preload: list[str] | None = None
    workers: PositiveInt | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    grid: dict[str, list[Any]] = Field(default_factory=dict)
    repeats: PositiveInt = 1
    seed: int = 0
    seeds: list[int] | None = None
    timeout_s: PositiveInt | None = None

    @model_validator(mode="after")
    def _consistent(self) -> SweepSpec:
        for k, values in self.grid.items():
            if not values:
                raise ValueError(f"grid.{k} is empty: give at least one value")
        both = sorted(set(self.grid) & set(self.parameters))
        if both:
            raise ValueError(f"{', '.join(both)} appear in both parameters and grid")
        if "seed" in self.grid or "seed" in self.parameters:
            raise ValueError("set seeds with `seed`/`repeats`/`seeds`, not as a parameter")
        for module in self.preload or []:
            if not re.fullmatch(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*", module):
                raise ValueError(f"preload: {module!r} is not a module name")
        if self.preload is not None and self.isolation == "fresh":
            raise ValueError("preload applies to `isolation: warm` only")
        if self.seeds is not None and self.repeats != 1:
            raise ValueError("give either `seeds` or `repeats`, not both")
        return self

    def seed_list(self) -> list[int]:
        return list(self.seeds) if self.seeds else [self.seed + i for i in range(self.repeats)]

    def expand(self) -> list[tuple[dict[str, Any], int]]:
        """Every (parameters, seed) pair: grid points in key order, then seeds."""
        keys = sorted(self.grid)
        points = [
            dict(zip(keys, combo, strict=True))
            for combo in itertools.product(*(self.grid[k] for k in keys))
        ] or [{}]
        return [({**self.parameters, **p}, s) for p in points for s in self.seed_list()]


def load_spec(path: str | Path) -> tuple[SweepSpec, Path]:
    """Parse and validate a spec; returns it with the resolved notebook path."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise SweepSpecError(f"sweep spec {str(p)!r} does not exist", "check the path")
    try:
        raw = yaml.safe_load(p.read_text())
    except yaml.YAMLError as exc:
        raise SweepSpecError(f"{p.name} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise SweepSpecError(f"{p.name} must be a YAML mapping with at least `notebook:`")
    try:
        spec = SweepSpec.model_validate(raw)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            loc = ".".join(str(x) for x in err["loc"]) or "spec"
            if err["type"] == "extra_forbidden":
                allowed = ", ".join(SweepSpec.model_fields)
                problems.append(f"unknown key {loc!r} (allowed: {allowed})")
            else:
                problems.append(f"{loc}: {err['msg']} (got {err.get('input')!r})")
        raise SweepSpecError(
            f"{p.name}: " + "; ".join(problems),
            "fix the spec; see experiments/sweeps/baseline_lr.yaml",
        ) from None
    if spec.name is None:
        spec = spec.model_copy(update={"name": p.stem})
    notebook = (p.parent / spec.notebook).resolve()
    if not notebook.is_file():
        raise SweepSpecError(
            f"{p.name}: notebook {spec.notebook!r} not found at {notebook}",
            "paths in a spec are relative to the spec file",
        )
    return spec, notebook
