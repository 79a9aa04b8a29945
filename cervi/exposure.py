"""Open settings, named: what in a configuration lets others in or sends data in clear.

``cervi config check`` prints one line per finding (``--strict`` fails on any) and
``cervi serve`` logs each as a warning at start. The checks read the settings only; they
open no socket. ``config.hospital.yaml`` is a configuration that passes them all.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from cervi.settings import Settings

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost"}


@dataclass(frozen=True)
class Finding:
    key: str  # the settings key to change
    message: str

    def __str__(self) -> str:
        return f"{self.key}: {self.message}"


def is_loopback(host: str) -> bool:
    """True when ``host`` names only this machine (any other name may resolve anywhere)."""
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def open_settings(settings: Settings) -> list[Finding]:
    """Every open setting, one finding each, in the order of the sections."""
    node, api = settings.node, settings.api
    findings = []
    if not is_loopback(node.host) and not node.allowed_callers:
        findings.append(
            Finding(
                "node.allowed_callers",
                f"the DICOM listener binds {node.host} and takes any calling AE title",
            )
        )
    if not is_loopback(node.host) and node.port is not None:
        what = "without TLS" if node.tls.port is None else "in clear beside the TLS port"
        findings.append(Finding("node.tls", f"DICOM on {node.host}:{node.port} is {what}"))
    if not settings.results.destinations:
        findings.append(Finding("results.destinations", "no destination: results go nowhere"))
    for destination in settings.results.destinations:
        host = destination.host
        if destination.kind == "dimse" and host and not is_loopback(host) and not destination.tls:
            findings.append(
                Finding(
                    f"results.destinations.{destination.name}.tls",
                    f"results go to {host}:{destination.port} without TLS",
                )
            )
    if not is_loopback(api.host) and api.token is None and not api.tokens:
        findings.append(
            Finding("api.tokens", f"the HTTP API binds {api.host} and asks for no token")
        )
    if not is_loopback(api.host) and api.tls is None:
        findings.append(Finding("api.tls", f"the HTTP API on {api.host}:{api.port} is plain HTTP"))
    return findings
