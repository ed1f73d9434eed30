"""What a run ran on: Python, platform, package versions and the git commit."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any

KEY_PACKAGES = (
    "vega-lab",
    "torch",
    "numpy",
    "pandas",
    "scikit-learn",
    "papermill",
    "jupyterlab",
    "ray",
    "altair",
)


def git_commit(repo: Path) -> str | None:
    """HEAD's sha with a ``-dirty`` suffix when the tree has changes; None outside git."""
    try:
        sha = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return f"{sha}-dirty" if dirty else sha


@lru_cache(maxsize=1)
def capture_environment() -> dict[str, Any]:
    """A JSON-able record of the interpreter, machine, all installed packages and the commit."""
    from vega_lab.config import get_settings

    packages = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            packages[name.lower()] = dist.version
    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_count": os.cpu_count(),
        "hostname": platform.node(),
        "key_packages": {p: packages.get(p) for p in KEY_PACKAGES},
        "packages": dict(sorted(packages.items())),
        "git_commit": git_commit(get_settings().home),
    }
