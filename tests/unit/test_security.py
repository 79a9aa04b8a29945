"""Security settings, open-setting findings, API tokens and commitment reports (pure)."""

from __future__ import annotations

import hashlib
import ssl
import subprocess
import sys
from io import BytesIO
from pathlib import Path

import pytest
from pydantic import SecretStr
from pydicom import Dataset
from pynetdicom.dsutils import decode, encode

from cervi.auth import Principal, Role, TokenBook, hash_token, new_token
from cervi.exposure import is_loopback, open_settings
from cervi.settings import Settings, SettingsError, load_settings
from dicom_node.commitment import CommitmentReport, Reference, request_dataset
from dicom_node.tls import BCP195_TLS12_CIPHERS, MINIMUM_VERSION, _bcp195

REPO = Path(__file__).resolve().parents[2]
SHA = "ab" * 32


def test_tls_port_needs_certificate_and_key(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("node: {tls: {port: 2762, certificate: c.pem}}\n")
    with pytest.raises(SettingsError, match="node.tls"):
        load_settings(config)


def test_a_node_without_any_port_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("node: {port: null}\n")
    with pytest.raises(SettingsError, match="no listener"):
        load_settings(config)


def test_token_entries_are_checked(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text(f"api: {{tokens: [{{name: a, role: admin, sha256: '{SHA}'}}]}}\n")
    with pytest.raises(SettingsError, match="api.tokens.0.role"):
        load_settings(config)
    config.write_text("api: {tokens: [{name: a, role: reader, sha256: 'not-a-digest'}]}\n")
    with pytest.raises(SettingsError, match="api.tokens.0.sha256"):
        load_settings(config)
    twice = f"{{name: a, role: reader, sha256: '{SHA}'}}"
    config.write_text(f"api: {{tokens: [{twice}, {twice}]}}\n")
    with pytest.raises(SettingsError, match="unique"):
        load_settings(config)


def test_commitment_is_for_dimse_destinations() -> None:
    with pytest.raises(ValueError, match="dimse"):
        Settings.model_validate(
            {
                "results": {
                    "destinations": [
                        {"name": "w", "kind": "stow", "url": "http://x", "commitment": True}
                    ]
                }
            }
        )


def test_the_shipped_defaults_are_named_as_open() -> None:
    keys = [f.key for f in open_settings(load_settings(REPO / "config.yaml"))]
    assert keys == ["node.allowed_callers", "node.tls", "results.destinations"]


def test_the_hospital_example_is_closed() -> None:
    settings = load_settings(REPO / "config.hospital.yaml")
    assert open_settings(settings) == []
    assert settings.node.port is None and settings.node.tls.port == 2762
    assert settings.results.destinations[0].commitment


@pytest.mark.parametrize(
    ("section", "values", "key"),
    [
        ("node", {"host": "10.1.2.3"}, "node.allowed_callers"),
        ("node", {"host": "10.1.2.3", "allowed_callers": ["PACS"]}, "node.tls"),
        ("api", {"host": "0.0.0.0"}, "api.tokens"),
        ("api", {"host": "0.0.0.0", "token": "x"}, "api.tls"),
    ],
)
def test_each_open_setting_is_named(section: str, values: dict, key: str) -> None:
    closed = {
        "node": {"host": "127.0.0.1"},
        "results": {"destinations": [{"name": "p", "ae_title": "P", "host": "::1", "port": 104}]},
    }
    closed.setdefault(section, {}).update(values)
    findings = open_settings(Settings.model_validate(closed))
    assert key in [f.key for f in findings]


def test_a_clear_destination_off_this_machine_is_named() -> None:
    settings = Settings.model_validate(
        {
            "node": {"host": "127.0.0.1"},
            "results": {
                "destinations": [{"name": "p", "ae_title": "P", "host": "pacs", "port": 104}]
            },
        }
    )
    assert [f.key for f in open_settings(settings)] == ["results.destinations.p.tls"]


def test_loopback() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert is_loopback("127.8.9.10") and is_loopback("[::1]")
    assert not is_loopback("0.0.0.0") and not is_loopback("::") and not is_loopback("pacs")


def _cervi(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cervi", *args], input=stdin, capture_output=True, text=True,
        cwd=REPO, timeout=60,
    )  # fmt: skip


def test_config_check_warns_and_strict_fails(tmp_path: Path) -> None:
    done = _cervi("config", "check", "--config", "config.yaml")
    warnings = [line for line in done.stderr.splitlines() if "warning" in line]
    assert done.returncode == 0 and len(warnings) == 3
    assert any("node.allowed_callers" in w for w in warnings)
    assert _cervi("config", "check", "--strict", "--config", "config.yaml").returncode == 1
    closed = _cervi("config", "check", "--strict", "--config", "config.hospital.yaml")
    assert closed.returncode == 0 and "warning" not in closed.stderr


def test_token_hash_and_new() -> None:
    done = _cervi("token", "hash", stdin="s3cret\n")
    assert done.stdout.strip() == hashlib.sha256(b"s3cret").hexdigest()
    made = _cervi("token", "new", "--name", "ris", "--role", "reader")
    token = made.stderr.rsplit(": ", 1)[1].strip()
    assert f"sha256: {hash_token(token)}" in made.stdout and "role: reader" in made.stdout


def test_token_book_roles_and_the_legacy_token() -> None:
    reader, operator = new_token(), new_token()
    settings = Settings.model_validate(
        {
            "api": {
                "token": "old",
                "tokens": [
                    {"name": "ris", "role": "reader", "sha256": hash_token(reader)},
                    {"name": "ops", "role": "operator", "sha256": hash_token(operator)},
                ],
            }
        }
    )
    book = TokenBook(settings.api)
    assert not book.open
    assert book.identify(reader) == Principal("ris", Role.READER)
    assert book.identify(operator) == Principal("ops", Role.OPERATOR)
    assert book.identify("old") == Principal("api.token", Role.OPERATOR)
    assert book.identify(hash_token(reader)) is None  # the digest is not the token
    assert book.identify("") is None
    assert book.identify(reader).may(Role.READER) and not book.identify(reader).may(Role.OPERATOR)
    assert TokenBook(Settings().api).open


def test_masked_settings_hide_the_legacy_token() -> None:
    settings = Settings(api={"token": SecretStr("plain")})
    assert "plain" not in str(settings.masked())


def test_bcp195_context() -> None:
    context = _bcp195(ssl.PROTOCOL_TLS_SERVER)
    assert context.minimum_version == MINIMUM_VERSION == ssl.TLSVersion.TLSv1_2
    tls12 = {c["name"] for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"}
    assert tls12 == set(BCP195_TLS12_CIPHERS.split(":"))
    assert context.options & ssl.OP_NO_COMPRESSION and context.options & ssl.OP_NO_RENEGOTIATION


def test_commitment_request_and_report_round_trip() -> None:
    refs = [Reference("1.2.840.10008.5.1.4.1.1.88.34", f"1.2.3.{i}") for i in range(2)]
    request = _round_trip(request_dataset("1.2.3.99", refs))
    assert request.TransactionUID == "1.2.3.99"
    assert [i.ReferencedSOPInstanceUID for i in request.ReferencedSOPSequence] == [
        "1.2.3.0",
        "1.2.3.1",
    ]
    report = Dataset()
    report.TransactionUID = "1.2.3.99"
    report.ReferencedSOPSequence = request.ReferencedSOPSequence[:1]
    failed = Dataset()
    failed.ReferencedSOPClassUID = refs[1].sop_class_uid
    failed.ReferencedSOPInstanceUID = "1.2.3.1"
    failed.FailureReason = 0x0110
    report.FailedSOPSequence = [failed]
    parsed = CommitmentReport.from_dataset(_round_trip(report))
    assert parsed == CommitmentReport("1.2.3.99", ("1.2.3.0",), (("1.2.3.1", 0x0110),))
    with pytest.raises(ValueError, match="TransactionUID"):
        CommitmentReport.from_dataset(Dataset())
    with pytest.raises(ValueError, match="references"):
        request_dataset("1.2.3", [])


def _round_trip(dataset: Dataset) -> Dataset:
    """Through the bytes pynetdicom puts on the wire (implicit VR little endian)."""
    return decode(BytesIO(encode(dataset, True, True)), True, True)
