from pathlib import Path

import pytest

from cervi.settings import SettingsError, load_settings

REPO = Path(__file__).resolve().parents[2]


def test_shipped_config_matches_the_documented_defaults() -> None:
    settings = load_settings(REPO / "config.yaml")
    assert settings.node.ae_title == "CERVI"
    assert settings.node.port == 11112
    assert settings.api.host == "127.0.0.1" and settings.api.port == 8080
    assert settings.storage.database_url == f"sqlite:///{REPO}/var/cervi.db"
    assert settings.inference.model == REPO / "models/cervihfenet-demo.onnx"


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


def test_relative_paths_in_the_file_are_relative_to_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    config = folder / "c.yaml"
    config.write_text(
        "storage: {database_url: 'sqlite:///db/cervi.db', instance_dir: data}\n"
        "inference: {model: m.onnx, roi_model: /abs/roi.onnx}\n"
    )
    monkeypatch.chdir(tmp_path)
    settings = load_settings(config)
    assert settings.storage.database_url == f"sqlite:///{folder}/db/cervi.db"
    assert settings.storage.instance_dir == folder / "data"
    assert settings.inference.model == folder / "m.onnx"
    assert settings.inference.roi_model == Path("/abs/roi.onnx")
    # from the environment, a relative path stays relative to the working directory
    monkeypatch.setenv("CERVI_STORAGE__INSTANCE_DIR", "elsewhere")
    assert load_settings(config).storage.instance_dir == Path("elsewhere")


def test_an_error_names_the_environment_variable_not_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("node: {port: 4000}\n")
    monkeypatch.setenv("CERVI_NODE__PORT", "99999")
    with pytest.raises(SettingsError) as error:
        load_settings(config)
    assert "node.port" in str(error.value)
    assert "(from environment variable CERVI_NODE__PORT)" in str(error.value)
    assert f"(from {config})" not in str(error.value)

    monkeypatch.delenv("CERVI_NODE__PORT")
    monkeypatch.setenv("CERVI_NODE__PROT", "11112")  # a typo in the variable's name
    with pytest.raises(SettingsError, match=r"node.prot: .*environment variable CERVI_NODE__PROT"):
        load_settings(config)

    monkeypatch.delenv("CERVI_NODE__PROT")
    config.write_text("node: {port: 99999}\n")
    with pytest.raises(SettingsError, match=rf"node.port: .*\(from {config}\)"):
        load_settings(config)


def test_a_variable_that_is_not_json_is_a_settings_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CERVI_RESULTS__DESTINATIONS", "[{name: pacs")
    with pytest.raises(SettingsError, match="environment"):
        load_settings(None)
