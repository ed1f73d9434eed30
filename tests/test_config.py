from pathlib import Path

import pytest

from vega_lab import config
from vega_lab.config import Settings, get_settings
from vega_lab.errors import ConfigError

REPO = Path(__file__).resolve().parents[1]
PATH_VARS = ("VEGA_DATA_DIR", "VEGA_REPORTS_DIR", "VEGA_RESULTS_URL", "VEGA_HOME")
PATH_VARS += ("VEGA_MODELS_DIR",)


def test_defaults_point_into_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in PATH_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.chdir(REPO / "vega_lab")  # anywhere inside the checkout
    s = Settings(_env_file=None)
    repo = REPO
    assert s.home == repo
    assert s.data_path == repo / "data"
    assert s.reports_path == repo / "reports"
    assert s.results_db_url == f"sqlite:///{repo / 'data' / 'results.sqlite'}"
    assert s.lab_host == "127.0.0.1"


def test_env_and_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("VEGA_SEED=7\nVEGA_RESULTS_URL=postgresql://u@h/db\n")
    monkeypatch.setenv("VEGA_SEED", "11")  # the environment wins over .env
    s = Settings(_env_file=env_file)
    assert s.seed == 11
    assert s.results_db_url == "postgresql://u@h/db"
    monkeypatch.setenv("VEGA_RESULTS_URL", str(tmp_path / "r.db"))
    assert Settings(_env_file=None).results_db_url == f"sqlite:///{tmp_path / 'r.db'}"


def test_invalid_setting_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEGA_LAB_PORT", "not-a-port")
    get_settings.cache_clear()
    try:
        with pytest.raises(ConfigError, match="VEGA_LAB_PORT"):
            get_settings()
    finally:
        get_settings.cache_clear()


def test_offline_flags_are_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    Settings(_env_file=None, offline=True).apply_offline()
    import os

    assert os.environ["HF_HUB_OFFLINE"] == "1"


def test_env_example_documents_every_setting() -> None:
    text = (Path(__file__).resolve().parents[1] / ".env.example").read_text()
    for name in Settings.model_fields:
        assert f"VEGA_{name.upper()}=" in text, f"VEGA_{name.upper()} missing from .env.example"


def _clone(folder: Path, name: str = "vega-lab") -> Path:
    """A folder that looks like a checkout of a project called ``name``."""
    (folder / "data").mkdir(parents=True)
    (folder / "pyproject.toml").write_text(f'[project]\nname = "{name}"\nversion = "0"\n')
    return folder


def test_the_project_root_is_the_checkout_you_are_in(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """VEGA_HOME, then the nearest checkout upward from the working directory (another project's
    pyproject.toml does not count), then the package's checkout, then the working directory."""
    for var in PATH_VARS:
        monkeypatch.delenv(var, raising=False)
    clone = _clone(tmp_path / "clone")
    other = _clone(clone / "vendored" / "other", name="other_project")  # not ours: skipped
    (other / "deep").mkdir()
    monkeypatch.chdir(other / "deep")
    assert config._default_home() == clone
    monkeypatch.chdir(tmp_path)  # in no checkout: the package's (this editable checkout)
    assert config._default_home() == REPO
    monkeypatch.setattr(config, "_PACKAGE_DIR", tmp_path / "site-packages" / "vega_lab")
    assert config._default_home() == tmp_path  # an installed package: the working directory
    monkeypatch.chdir(clone)
    monkeypatch.setenv("VEGA_HOME", str(tmp_path / "elsewhere"))
    assert config._default_home() == tmp_path / "elsewhere"  # VEGA_HOME wins


def test_dotenv_and_relative_paths_belong_to_the_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for var in PATH_VARS:
        monkeypatch.delenv(var, raising=False)
    clone = _clone(tmp_path / "clone", name="vega_lab")  # the name is normalized
    (clone / ".env").write_text("VEGA_SEED=5\nVEGA_REPORTS_DIR=./out/reports\n")
    (clone / "experiments").mkdir()
    monkeypatch.chdir(clone / "experiments")
    get_settings.cache_clear()
    try:
        s = get_settings()
        assert (s.home, s.seed) == (clone, 5)
        assert s.data_path == clone / "data" and s.reports_path == clone / "out" / "reports"
        assert s.results_db_url == f"sqlite:///{clone / 'data' / 'results.sqlite'}"
        assert s.models_path == clone / "data" / "models"
    finally:
        get_settings.cache_clear()
