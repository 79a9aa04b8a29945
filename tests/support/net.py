"""Loopback networking helpers."""

from __future__ import annotations

import socket
import time

from cervi.demo.orthanc import free_port

__all__ = ["free_port", "wait_for_port"]


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")
