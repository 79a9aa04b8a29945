from pathlib import Path

import pytest

from cervi.settings import SettingsError, load_settings

REPO = Path(__file__).resolve().parents[2]


def test_shipped_config_matches_the_documented_defaults() -> None:
    settings = load_settings(REPO / "config.yaml")
    assert settings.node.ae_title == "CERVI"
    assert settings.node.port == 11112
    assert settings.api.host == "127.0.0.1" and settings.api.port == 8080
    assert settings.storage.database_url == "sqlite:///var/cervi.db"


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("node: {port: 4000, ae_title: SITE}\n")
    monkeypatch.setenv("CERVI_NODE__PORT", "5000")
    monkeypatch.setenv("CERVI_STORAGE__DATABASE_URL", "postgresql+psycopg://u@h/db")
    settings = load_settings(config)
    assert settings.node.port == 5000
    assert settings.node.ae_title == "SITE"
    assert settings.storage.database_url == "postgresql+psycopg://u@h/db"


def test_unknown_key_names_the_key_and_the_file(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("node:\n  prot: 11112\n")
    with pytest.raises(SettingsError) as error:
        load_settings(config)
    assert str(config) in str(error.value)
    assert "node.prot" in str(error.value)


def test_invalid_value_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("node: {ae_title: THIS-TITLE-IS-FAR-TOO-LONG}\n")
    with pytest.raises(SettingsError, match="node.ae_title"):
        load_settings(config)


def test_missing_file_and_bad_yaml_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="not found"):
        load_settings(tmp_path / "absent.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("node: [unclosed\n")
    with pytest.raises(SettingsError, match="not valid YAML"):
        load_settings(bad)


def test_secrets_are_masked(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(
        "api: {token: s3cret}\nstorage: {database_url: 'postgresql+psycopg://u:pw@h/db'}\n"
    )
    settings = load_settings(config)
    assert settings.api.token is not None and settings.api.token.get_secret_value() == "s3cret"
    shown = str(settings.masked())
    assert "s3cret" not in shown and ":pw@" not in shown


def test_allowed_callers_accept_the_ae_at_host_shorthand(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("node: {allowed_callers: ['ORTHANC@127.0.0.1', 'MODALITY']}\n")
    callers = load_settings(config).node.allowed_callers
    assert [(c.ae_title, c.host) for c in callers] == [("ORTHANC", "127.0.0.1"), ("MODALITY", None)]
