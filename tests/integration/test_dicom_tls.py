"""DICOM TLS on the listener and for delivery, against DCMTK's TLS tools (Debian's DCMTK is
built with OpenSSL), with certificates made by the test."""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from cervi.bootstrap import Service, build_service
from dicom_node.scu import DimseDestination, Verdict
from dicom_node.tls import ClientTls, ServerTls, TlsConfigError
from storage.tables import Instance
from tests.conftest import require_tool
from tests.integration.conftest import make_settings
from tests.support.certs import Pki, make_pki
from tests.support.dicom import make_dx, write
from tests.support.net import free_port, wait_for_port

ENV = {**os.environ, "TCP_NODELAY": "1"}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return make_pki(tmp_path_factory.mktemp("pki"))


def _tls_node(pki: Pki, client_ca: bool = True, plain: bool = True) -> dict[str, object]:
    tls = {
        "port": 0,
        "certificate": str(pki.server.certificate),
        "private_key": str(pki.server.key),
        "client_ca": str(pki.ca) if client_ca else None,
    }
    return {"tls": tls, **({} if plain else {"port": None})}


@pytest.fixture
def mutual(pki: Pki, tmp_path: Path) -> Iterator[Service]:
    """A plain port and a TLS port that requires a client certificate signed by the test CA."""
    settings = make_settings(f"sqlite:///{tmp_path / 'cervi.db'}", tmp_path, **_tls_node(pki))
    running = build_service(settings)
    running.start()
    try:
        yield running
    finally:
        running.stop()


def dcmtk(tool: str, port: int, *options: str, files: tuple[Path, ...] = ()) -> tuple[int, str]:
    command = [require_tool(tool), "-aec", "CERVI", *options, "127.0.0.1", str(port)]
    done = subprocess.run(
        command + [str(f) for f in files], capture_output=True, text=True, env=ENV, timeout=60
    )
    return done.returncode, done.stdout + done.stderr


def _client(pair) -> tuple[str, ...]:
    return ("+tls", str(pair.key), str(pair.certificate))


def test_echo_and_store_over_mutual_tls(mutual: Service, pki: Pki, tmp_path: Path) -> None:
    assert mutual.tls_listener is not None and mutual.tls_listener is not mutual.listener
    port = mutual.tls_listener.port
    code, output = dcmtk("echoscu", port, *_client(pki.client), "+cf", str(pki.ca))
    assert code == 0, output
    ds = make_dx()
    code, output = dcmtk(
        "storescu", port, "-v", *_client(pki.client), "+cf", str(pki.ca), "+px",
        files=(write(ds, tmp_path / "a.dcm"),),
    )  # fmt: skip
    assert code == 0 and "Received Store Response (Success)" in output, output
    with mutual.sessions() as session:
        stored = session.scalar(select(Instance.sop_instance_uid))
    assert stored == ds.SOPInstanceUID


def test_plain_port_beside_tls_still_answers(mutual: Service) -> None:
    code, output = dcmtk("echoscu", mutual.listener.port)
    assert code == 0, output


@pytest.mark.parametrize(
    "options",
    [
        pytest.param(("+tla", "+cf", "CA"), id="no-client-certificate"),
        pytest.param(("+tls", "STRANGER_KEY", "STRANGER_CERT", "+cf", "CA"), id="untrusted-ca"),
        pytest.param((), id="plain-tcp-to-tls-port"),
        pytest.param(("+tls", "KEY", "CERT", "+cf", "CA", "+pa"), id="retired-aes-profile"),
    ],
)
def test_tls_port_refuses(mutual: Service, pki: Pki, tmp_path: Path, options: tuple) -> None:
    names = {
        "CA": str(pki.ca),
        "KEY": str(pki.client.key),
        "CERT": str(pki.client.certificate),
        "STRANGER_KEY": str(pki.stranger.key),
        "STRANGER_CERT": str(pki.stranger.certificate),
    }
    options = tuple(names.get(o, o) for o in options)
    code, output = dcmtk(
        "storescu",
        mutual.tls_listener.port,
        *options,
        files=(write(make_dx(), tmp_path / "a.dcm"),),
    )
    assert code != 0, output
    with mutual.sessions() as session:
        assert session.scalar(select(func.count()).select_from(Instance)) == 0
    # The listener is still there for a caller that does it right.
    code, output = dcmtk(
        "echoscu", mutual.tls_listener.port, *_client(pki.client), "+cf", str(pki.ca)
    )
    assert code == 0, output


def test_idle_connection_does_not_hold_up_the_tls_port(mutual: Service, pki: Pki) -> None:
    """A peer that connects and never starts the handshake must not block the next caller."""
    with socket.create_connection(("127.0.0.1", mutual.tls_listener.port)):
        code, output = dcmtk(
            "echoscu", mutual.tls_listener.port, *_client(pki.client), "+cf", str(pki.ca),
            "-to", "10",
        )  # fmt: skip
    assert code == 0, output


def test_tls_only_without_client_certificates(pki: Pki, tmp_path: Path) -> None:
    settings = make_settings(
        f"sqlite:///{tmp_path / 'cervi.db'}", tmp_path, **_tls_node(pki, False, plain=False)
    )
    running = build_service(settings)
    running.start()
    try:
        assert running.listeners == [running.tls_listener]
        code, output = dcmtk("echoscu", running.listener.port, "+tla", "+cf", str(pki.ca))
        assert code == 0, output
    finally:
        running.stop()


@pytest.fixture
def storescp_tls(pki: Pki, tmp_path: Path) -> Iterator[tuple[int, Path]]:
    """DCMTK's storescp on TLS, requiring a client certificate from the test CA."""
    port, folder = free_port(), tmp_path / "received"
    folder.mkdir()
    process = subprocess.Popen(
        [
            require_tool("storescp"), "+tls", str(pki.server.key), str(pki.server.certificate),
            "+cf", str(pki.ca), "-od", str(folder), "-aet", "TLSPACS", str(port),
        ],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=ENV,
    )  # fmt: skip
    try:
        wait_for_port(port)
        yield port, folder
    finally:
        process.terminate()
        process.wait(10)


def test_delivery_over_mutual_tls_to_storescp(
    storescp_tls: tuple[int, Path], pki: Pki, tmp_path: Path
) -> None:
    port, folder = storescp_tls
    ds = make_dx()
    path = write(ds, tmp_path / "sr.dcm")
    tls = ClientTls(pki.ca, pki.client.certificate, pki.client.key)
    outcome = DimseDestination("pacs", "TLSPACS", "127.0.0.1", port, tls=tls).send([path])
    assert outcome.verdict is Verdict.DELIVERED, outcome.detail
    assert any(ds.SOPInstanceUID in p.name for p in folder.iterdir())


def test_delivery_refuses_a_server_it_cannot_verify(
    storescp_tls: tuple[int, Path], pki: Pki, tmp_path: Path
) -> None:
    port, folder = storescp_tls
    path = write(make_dx(), tmp_path / "sr.dcm")
    # Trusting only the other CA: the PACS's certificate does not verify.
    tls = ClientTls(pki.stranger.certificate, pki.client.certificate, pki.client.key)
    outcome = DimseDestination("pacs", "TLSPACS", "127.0.0.1", port, tls=tls).send([path])
    assert outcome.verdict is Verdict.TRANSIENT and "TLS handshake failed" in outcome.detail
    assert not list(folder.iterdir())


def test_bad_tls_files_are_named(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(TlsConfigError, match="missing.pem"):
        ServerTls(tmp_path / "missing.pem", pki.server.key).context()
    with pytest.raises(TlsConfigError, match="client-key.pem"):
        ServerTls(pki.server.certificate, pki.client.key).context()  # key of another cert
