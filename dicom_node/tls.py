"""TLS for DICOM associations: the listener's and the sender's :class:`ssl.SSLContext`.

DICOM PS3.15 Annex B.9 (the BCP 195 TLS Secure Transport Connection Profile) points to BCP 195
(RFC 9325): TLS 1.2 or newer only, no compression, no renegotiation, and for TLS 1.2 only the
AEAD cipher suites with forward secrecy that RFC 9325 section 4.2 recommends. TLS 1.3's suites
are all AEAD with forward secrecy and are left as OpenSSL offers them. pynetdicom takes the
contexts built here as they are (``start_server(ssl_context=...)``,
``associate(tls_args=(context, hostname))``).
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# RFC 9325 section 4.2: the recommended TLS 1.2 cipher suites, in OpenSSL's names.
BCP195_TLS12_CIPHERS = ":".join(
    (
        "ECDHE-ECDSA-AES128-GCM-SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
        "DHE-RSA-AES128-GCM-SHA256",
        "DHE-RSA-AES256-GCM-SHA384",
    )
)
MINIMUM_VERSION = ssl.TLSVersion.TLSv1_2


class TlsConfigError(Exception):
    """A certificate, key or CA bundle cannot be used; the message names the file."""


@dataclass(frozen=True)
class ServerTls:
    """What the listener presents, and whose client certificates it accepts.

    With ``client_ca`` set, a caller must present a certificate that a CA in that bundle signed
    (mutual TLS); without it any caller may connect (the AE title rules still apply).
    """

    certificate: Path
    private_key: Path
    client_ca: Path | None = None
    handshake_timeout: float = 30.0

    def context(self) -> ssl.SSLContext:
        context = _bcp195(ssl.PROTOCOL_TLS_SERVER, _ServerContext)
        context.handshake_timeout = self.handshake_timeout
        _load_chain(context, self.certificate, self.private_key)
        if self.client_ca is not None:
            _load_ca(context, self.client_ca)
            context.verify_mode = ssl.CERT_REQUIRED
        else:
            context.verify_mode = ssl.CERT_NONE
        return context


@dataclass(frozen=True)
class ClientTls:
    """How the sender checks a peer (``ca``) and what it presents (an optional client
    certificate: a PACS that requires mutual TLS asks for one).

    ``verify_hostname`` checks the peer certificate's names against the host dialled; a PACS
    whose certificate does not name its address needs it off (the chain is still verified).
    """

    ca: Path
    certificate: Path | None = None
    private_key: Path | None = None
    verify_hostname: bool = True

    def context(self) -> ssl.SSLContext:
        context = _bcp195(ssl.PROTOCOL_TLS_CLIENT)
        _load_ca(context, self.ca)
        context.verify_mode = ssl.CERT_REQUIRED
        context.check_hostname = self.verify_hostname
        if self.certificate is not None:
            _load_chain(context, self.certificate, self.private_key)
        return context


class _ServerContext(ssl.SSLContext):
    """A server context whose handshake runs on the association's thread, not the accept loop.

    pynetdicom wraps each accepted socket in its accept loop; with the default
    ``do_handshake_on_connect`` a peer that connects and never sends a ClientHello would stall
    every later connection. Deferred, OpenSSL completes the handshake in the first read on the
    association's own thread, bounded by ``handshake_timeout`` (kept as the socket timeout,
    which also bounds a peer that stops in the middle of a PDU).
    """

    handshake_timeout: float = 30.0

    def wrap_socket(self, sock: Any, *args: Any, **kwargs: Any) -> ssl.SSLSocket:  # type: ignore[override]
        if kwargs.get("server_side"):
            kwargs["do_handshake_on_connect"] = False
            sock.settimeout(self.handshake_timeout)
        return super().wrap_socket(sock, *args, **kwargs)


def _bcp195(
    protocol: ssl._SSLMethod, kind: type[ssl.SSLContext] = ssl.SSLContext
) -> ssl.SSLContext:
    context = kind(protocol)
    context.minimum_version = MINIMUM_VERSION
    context.set_ciphers(BCP195_TLS12_CIPHERS)
    context.options |= ssl.OP_NO_COMPRESSION | ssl.OP_NO_RENEGOTIATION
    return context


def _load_chain(context: ssl.SSLContext, certificate: Path, private_key: Path | None) -> None:
    try:
        context.load_cert_chain(str(certificate), str(private_key) if private_key else None)
    except FileNotFoundError as exc:
        raise TlsConfigError(f"{exc.filename or certificate}: file not found") from None
    except (ssl.SSLError, ValueError) as exc:
        raise TlsConfigError(
            f"{certificate} / {private_key}: not a PEM certificate and matching key ({exc})"
        ) from None


def _load_ca(context: ssl.SSLContext, bundle: Path) -> None:
    try:
        context.load_verify_locations(cafile=str(bundle))
    except FileNotFoundError:
        raise TlsConfigError(f"{bundle}: file not found") from None
    except ssl.SSLError as exc:
        raise TlsConfigError(f"{bundle}: not a PEM CA bundle ({exc})") from None
