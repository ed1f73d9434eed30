"""The one typed Settings object, read from ``VEGA_*`` environment variables and ``.env``.

Every variable is documented in ``.env.example``. Paths default to the ``data/`` and ``reports/``
folders of the project the user is in (``_default_home``), so notebooks, Papermill runs, Voila
dashboards and Ray workers started from one checkout all write to that checkout.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import tomllib
from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from vega_lab.errors import ConfigError

_PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_NAME = "vega-lab"  # pyproject.toml's [project] name; it marks a checkout of this project


def is_project_root(folder: Path) -> bool:
    """``folder`` holds a pyproject.toml whose ``[project] name`` is this project's."""
    try:
        data = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
        return False
    name = data.get("project", {}).get("name")
    return isinstance(name, str) and re.sub(r"[-_.]+", "-", name).lower() == PROJECT_NAME


def find_project_root(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` that is a checkout of this project."""
    start = start.resolve()
    return next((d for d in (start, *start.parents) if is_project_root(d)), None)


def _default_home() -> Path:
    """The project root, from where the user *is*, not where the package lives.

    A cached venv is shared between clones, and its editable install points at whichever clone
    built it; resolving from the package would make clone B write into clone A's data/. Order:
    ``VEGA_HOME``; the checkout holding the working directory; the checkout holding the package
    (only when the working directory is in none); the working directory.
    """
    env = os.environ.get("VEGA_HOME")
    if env:
        return Path(env).expanduser().resolve()
    try:
        cwd = Path.cwd().resolve()
    except FileNotFoundError:  # the working directory was deleted under us
        cwd = None
    found = find_project_root(cwd) if cwd else None
    return found or find_project_root(_PACKAGE_DIR.parent) or cwd or Path.home()


class Settings(BaseSettings):
    """Workbench settings. Field ``x`` is read from ``VEGA_X``."""

    model_config = SettingsConfigDict(
        env_prefix="VEGA_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    home: Path = Field(default_factory=_default_home, description="Project root.")
    data_dir: Path | None = Field(None, description="Where runs write data; default home/data.")
    reports_dir: Path | None = Field(None, description="Run/sweep outputs; default home/reports.")
    results_url: str | None = Field(
        None, description="Results store: a SQLAlchemy URL or a file path; default SQLite in data/."
    )
    offline: bool = Field(True, description="Forbid model/data hub downloads (HF_HUB_OFFLINE...).")
    seed: int = Field(0, description="Default seed when a run is given none.")
    kernel_name: str = Field("python3", description="Jupyter kernel Papermill runs notebooks in.")
    run_timeout_s: int | None = Field(None, description="Per-cell timeout for Papermill runs.")
    sweep_workers: int | None = Field(None, ge=1, description="Local sweep workers; default cores.")
    ray_address: str | None = Field(None, description="Ray cluster address; unset = local Ray.")
    lab_host: str = Field("127.0.0.1", description="Interface JupyterLab/Voila bind to.")
    lab_port: int = Field(8888, ge=0, le=65535, description="JupyterLab port (0 = any free).")
    lab_token: SecretStr | None = Field(None, description="JupyterLab token; unset = random.")
    dashboards_port: int = Field(8866, ge=0, le=65535, description="Voila port (0 = any free).")
    chat_backend: str = Field("openai", description="Chat backend: openai, ollama or inprocess.")
    chat_url: str | None = Field(
        None, description="Chat server base URL; unset = the embedded model server (started)."
    )
    chat_model: str = Field("smollm2-135m", description="Chat model: a registry name or a .gguf.")
    chat_api_key: SecretStr | None = Field(None, description="API key for chat_url's server.")
    chat_mask_pii: bool = Field(
        False, description="Mask emails, phones and card numbers before storing chat messages."
    )
    models_dir: Path | None = Field(
        None, description="Trained/cached model files (tiny CLIP, YOLO); default home/data/models."
    )
    clip_model: str | None = Field(
        None, description="CLIP: an open_clip name:weights-path, or unset = the tiny shapes CLIP."
    )
    yolo_model: str | None = Field(
        None, description="YOLO weights (.pt path); unset = the tiny shapes YOLO trained here."
    )
    whisper_model: str = Field(
        "tiny.en", description="Speech-to-text: tiny.en (shipped), a CTranslate2 dir or a .pt."
    )

    @field_validator("home", "data_dir", "reports_dir", "models_dir", mode="after")
    @classmethod
    def _absolute(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        """Relative folders (``VEGA_DATA_DIR=./data`` in .env) are relative to the project root,
        not to wherever inside it the command was started."""
        if v is None:
            return None
        v = v.expanduser()
        home = info.data.get("home")
        return (v if v.is_absolute() or home is None else home / v).resolve()

    @property
    def data_path(self) -> Path:
        return self.data_dir or self.home / "data"

    @property
    def models_path(self) -> Path:
        """Not under data_dir on purpose: tests give each run its own data/ yet share models."""
        return self.models_dir or self.home / "data" / "models"

    @property
    def reports_path(self) -> Path:
        return self.reports_dir or self.home / "reports"

    @property
    def results_db_url(self) -> str:
        """The store URL; a bare path means a SQLite file."""
        if not self.results_url:
            return f"sqlite:///{self.data_path / 'results.sqlite'}"
        return store_url(self.results_url)

    def apply_offline(self) -> None:
        """Make hub-backed libraries fail fast instead of trying the network."""
        if self.offline:
            for var in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE"):
                os.environ.setdefault(var, "1")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; call ``get_settings.cache_clear()`` after env changes)."""
    try:
        settings = Settings(_env_file=_default_home() / ".env")  # type: ignore[call-arg]
    except ValidationError as exc:
        first = exc.errors()[0]
        name = "VEGA_" + str(first["loc"][0]).upper() if first["loc"] else "a VEGA_ variable"
        raise ConfigError(
            f"invalid setting {name}: {first['msg']}", "fix it in the environment or .env"
        ) from None
    settings.apply_offline()
    return settings


def ray_temp_dir() -> str:
    """Inside data/ when the path is short enough for Ray's unix sockets, else the temp dir."""
    settings = get_settings()
    candidate = settings.data_path / "ray"
    if len(str(candidate)) <= 40:
        candidate.mkdir(parents=True, exist_ok=True)
        return str(candidate)
    digest = hashlib.sha256(str(candidate).encode()).hexdigest()[:8]
    path = Path(tempfile.gettempdir()) / f"vega-ray-{digest}"
    path.mkdir(parents=True, exist_ok=True)
    return str(path)


def store_url(url: str) -> str:
    """A results-store URL: SQLAlchemy URLs pass through, a bare path means a SQLite file."""
    if "://" in url:
        return url
    return f"sqlite:///{Path(url).expanduser().resolve()}"
