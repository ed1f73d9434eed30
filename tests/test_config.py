from pathlib import Path

import pytest

from vega_lab.config import Settings, get_settings
from vega_lab.errors import ConfigError


def test_defaults_point_into_the_project(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("VEGA_DATA_DIR", "VEGA_REPORTS_DIR", "VEGA_RESULTS_URL", "VEGA_HOME"):
        monkeypatch.delenv(var, raising=False)
    s = Settings(_env_file=None)
    repo = Path(__file__).resolve().parents[1]
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
