"""Test certificates made with the openssl command line: a CA, a server and a client
certificate it signed, and a stranger (a client certificate from another CA)."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from tests.conftest import require_tool


@dataclass(frozen=True)
class Pair:
    certificate: Path
    key: Path


@dataclass(frozen=True)
class Pki:
    ca: Path  # the CA certificate (PEM): the trust anchor on both sides
    server: Pair  # CN=cervi-test, SAN 127.0.0.1 and localhost
    client: Pair  # CN=pacs-test, signed by the same CA
    stranger: Pair  # CN=stranger, signed by another CA


def make_pki(folder: Path) -> Pki:
    folder.mkdir(parents=True, exist_ok=True)
    openssl = require_tool("openssl")
    ca = _self_signed(openssl, folder, "ca", "Cervi Test CA")
    other_ca = _self_signed(openssl, folder, "other-ca", "Other CA")
    server = _signed(openssl, folder, "server", "cervi-test", ca, server=True)
    client = _signed(openssl, folder, "client", "pacs-test", ca, server=False)
    stranger = _signed(openssl, folder, "stranger", "stranger", other_ca, server=False)
    return Pki(ca.certificate, server, client, stranger)


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True, timeout=60)


def _self_signed(openssl: str, folder: Path, name: str, cn: str) -> Pair:
    pair = Pair(folder / f"{name}.pem", folder / f"{name}-key.pem")
    _run(
        openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", f"/CN={cn}", "-keyout", str(pair.key), "-out", str(pair.certificate),
        "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    )  # fmt: skip
    return pair


def _signed(openssl: str, folder: Path, name: str, cn: str, ca: Pair, server: bool) -> Pair:
    pair = Pair(folder / f"{name}.pem", folder / f"{name}-key.pem")
    request = folder / f"{name}.csr"
    _run(
        openssl, "req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={cn}",
        "-keyout", str(pair.key), "-out", str(request),
    )  # fmt: skip
    extensions = folder / f"{name}.ext"
    # Both usages: a DICOM node is a TLS server (listener) and a client (sender).
    extensions.write_text(
        "basicConstraints=CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth,clientAuth\n"
        + ("subjectAltName=IP:127.0.0.1,DNS:localhost\n" if server else "")
    )
    _run(
        openssl, "x509", "-req", "-in", str(request), "-CA", str(ca.certificate),
        "-CAkey", str(ca.key), "-CAcreateserial", "-days", "2", "-out", str(pair.certificate),
        "-extfile", str(extensions),
    )  # fmt: skip
    return pair
