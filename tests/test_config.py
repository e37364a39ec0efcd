"""Settings: default secrets refused outside demo mode, a fresh secret file is private, bad URLs refused."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest

from nohaven.config import DEMO_SECRET, Settings, load_settings
from nohaven.errors import ConfigError
from nohaven.node import Node


def _settings(tmp_path: Path, **values: Any) -> Settings:
    return Settings(data_dir=tmp_path / "data", **values)


def test_the_demo_secret_is_refused_outside_demo_mode(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="demo secret"):
        _settings(tmp_path, secret_key=DEMO_SECRET).secret()


def test_the_demo_secret_in_the_secret_file_is_refused_too(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "secret.key").write_text(DEMO_SECRET + "\n")
    with pytest.raises(ConfigError, match="demo secret"):
        _settings(tmp_path).secret()


def test_no_secret_at_all_is_refused_with_a_way_out(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="nohaven init"):
        _settings(tmp_path).secret()


def test_demo_mode_accepts_the_demo_secret(tmp_path: Path) -> None:
    assert _settings(tmp_path, demo_mode=True).secret() == DEMO_SECRET


def test_a_short_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="too short"):
        _settings(tmp_path, secret_key="abc").secret()


def test_create_app_refuses_to_start_with_the_demo_secret(tmp_path: Path) -> None:
    from nohaven.api.app import create_app

    node = Node(_settings(tmp_path, secret_key=DEMO_SECRET, scheduler_enabled=False))
    try:
        with pytest.raises(ConfigError):
            create_app(node, watch_clocks=False)
    finally:
        node.close()


def test_write_new_secret_creates_a_private_file_once(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    settings.write_new_secret()
    path = tmp_path / "data" / "secret.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    first = path.read_text()
    assert len(first.strip()) >= 32
    settings.write_new_secret()
    assert path.read_text() == first
    assert settings.secret() == first.strip()


def test_environment_variables_configure_the_node(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOHAVEN_DATA_DIR", str(tmp_path / "elsewhere"))
    monkeypatch.delenv("NOHAVEN_DATABASE_URL", raising=False)
    settings = load_settings()
    assert settings.data_dir == tmp_path / "elsewhere"
    assert settings.effective_database_url == f"sqlite:///{(tmp_path / 'elsewhere' / 'nohaven.db').resolve()}"
    # Explicit options (the CLI's --data-dir) win over the environment.
    assert load_settings(data_dir=tmp_path / "cli").data_dir == tmp_path / "cli"


def test_default_data_dir(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOHAVEN_DATA_DIR", raising=False)
    assert load_settings().data_dir == Path("nohaven-data")


@pytest.mark.parametrize("url", ["mysql://db/nohaven", "oracle+cx://x", "nohaven.db", "postgres://h/db"])
def test_a_database_url_with_an_unknown_scheme_is_refused(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("NOHAVEN_DATABASE_URL", url)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "NOHAVEN_DATABASE_URL must start with sqlite:/// or postgresql+psycopg://" in caught.value.diagnostics()


def test_plain_postgresql_urls_get_the_psycopg_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOHAVEN_DATABASE_URL", "postgresql://u@127.0.0.1/db")
    assert load_settings().effective_database_url == "postgresql+psycopg://u@127.0.0.1/db"


def test_the_cli_refuses_a_bad_database_url_from_the_environment(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from nohaven.cli.main import main

    monkeypatch.setenv("NOHAVEN_DATABASE_URL", "mysql://db/nohaven")
    code = main(["--data-dir", str(tmp_path), "audit", "verify"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2
    assert "NOHAVEN_DATABASE_URL must start with" in err
    assert "Traceback" not in err
