"""Sending results out: C-STORE (pynetdicom) or STOW-RS (DICOMweb) to one destination.

Each send ends in a :class:`SendOutcome` that says whether a retry can help: a refused
connection, a timeout, a transient association rejection or an out-of-resources status are
transient; a permanent rejection, an ``0xA9xx`` or ``0xCxxx`` status or an HTTP 4xx are
permanent, so the outbox stops retrying and shows the reason.
"""

from __future__ import annotations

import enum
import logging
import urllib.error
import urllib.request
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
from pynetdicom import AE

from dicom_node import identity
from dicom_node.status import RejectResult

logger = logging.getLogger("cervi.scu")


class Verdict(enum.StrEnum):
    DELIVERED = "delivered"
    TRANSIENT = "transient"
    PERMANENT = "permanent"


@dataclass(frozen=True)
class SendOutcome:
    verdict: Verdict
    detail: str

    @property
    def delivered(self) -> bool:
        return self.verdict is Verdict.DELIVERED


def classify_status(status: int) -> Verdict:
    """PS3.4 Annex B: success and warnings deliver; 0xA7xx is transient; other failures are not."""
    if status == 0x0000 or status in (0x0001, 0xB000, 0xB006, 0xB007):
        return Verdict.DELIVERED
    if 0xA700 <= status <= 0xA7FF:
        return Verdict.TRANSIENT
    return Verdict.PERMANENT


@dataclass(frozen=True)
class DimseDestination:
    """A DICOM node that takes C-STORE: the PACS, usually."""

    name: str
    ae_title: str
    host: str
    port: int
    calling_ae_title: str = identity.AE_TITLE
    timeout: float = 30.0

    def send(self, files: Sequence[Path]) -> SendOutcome:
        """Send ``files`` over one association proposing only their SOP classes and syntaxes."""
        datasets = [dcmread(path) for path in files]
        ae = AE(ae_title=self.calling_ae_title)
        ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = self.timeout
        for sop_class_uid, syntaxes in _contexts(datasets).items():
            ae.add_requested_context(sop_class_uid, syntaxes)
        try:
            assoc = ae.associate(self.host, self.port, ae_title=self.ae_title)
        except OSError as exc:
            return SendOutcome(Verdict.TRANSIENT, f"cannot connect: {exc}")
        if assoc.is_rejected:
            result = getattr(assoc.acceptor.primitive, "result", None)
            verdict = Verdict.PERMANENT if result == RejectResult.PERMANENT else Verdict.TRANSIENT
            return SendOutcome(verdict, f"association rejected ({verdict.value})")
        if not assoc.is_established:
            return SendOutcome(Verdict.TRANSIENT, "association aborted or not answered")
        try:
            for ds in datasets:
                response = assoc.send_c_store(ds)
                status = int(getattr(response, "Status", -1))
                if status == -1:
                    return SendOutcome(Verdict.TRANSIENT, "no C-STORE response")
                verdict = classify_status(status)
                if verdict is not Verdict.DELIVERED:
                    return SendOutcome(verdict, f"C-STORE status 0x{status:04X}")
        except (OSError, RuntimeError, ValueError) as exc:
            return SendOutcome(Verdict.TRANSIENT, f"C-STORE failed: {exc}")
        finally:
            if assoc.is_established:
                assoc.release()
        return SendOutcome(Verdict.DELIVERED, f"{len(datasets)} instance(s) stored")


def _contexts(datasets: Sequence[object]) -> dict[str, list[str]]:
    contexts: dict[str, list[str]] = {}
    for ds in datasets:
        syntax = str(ds.file_meta.TransferSyntaxUID)  # type: ignore[attr-defined]
        wanted = contexts.setdefault(str(ds.SOPClassUID), [])  # type: ignore[attr-defined]
        for candidate in (syntax, ExplicitVRLittleEndian, ImplicitVRLittleEndian):
            if candidate not in wanted:
                wanted.append(candidate)
    return contexts


@dataclass(frozen=True)
class StowDestination:
    """A DICOMweb server that takes STOW-RS at ``url`` (the ``.../studies`` resource)."""

    name: str
    url: str
    timeout: float = 30.0

    def send(self, files: Sequence[Path]) -> SendOutcome:
        boundary = f"cervi-{uuid.uuid4().hex}"
        body = (
            b"".join(
                b"--"
                + boundary.encode()
                + b"\r\nContent-Type: application/dicom\r\n\r\n"
                + Path(path).read_bytes()
                + b"\r\n"
                for path in files
            )
            + b"--"
            + boundary.encode()
            + b"--\r\n"
        )
        request = urllib.request.Request(self.url, data=body, method="POST")
        request.add_header(
            "Content-Type", f'multipart/related; type="application/dicom"; boundary={boundary}'
        )
        request.add_header("Accept", "application/dicom+json")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                code = response.status
        except urllib.error.HTTPError as exc:
            code = exc.code
        except (OSError, urllib.error.URLError) as exc:
            return SendOutcome(Verdict.TRANSIENT, f"cannot reach {self.name}: {exc}")
        if 200 <= code < 300:
            return SendOutcome(Verdict.DELIVERED, f"STOW-RS HTTP {code}")
        transient = code >= 500 or code in (408, 429)
        verdict = Verdict.TRANSIENT if transient else Verdict.PERMANENT
        return SendOutcome(verdict, f"STOW-RS HTTP {code}")
