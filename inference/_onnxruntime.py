"""onnxruntime, imported with its usage telemetry off.

From 1.2x on, onnxruntime's native library records usage telemetry (OS, CPU, container, file
paths) under ``~/.cache/Microsoft/DeveloperTools/.onnxruntime`` and queues it for sending to
Microsoft, from the moment it is loaded. A hospital service must not: the library reads
``ORT_DISABLE_TELEMETRY`` when it loads, so it is set before the first import, and the Python
switch (used on Windows) is turned off as well. Every use of onnxruntime goes through here.
"""

from __future__ import annotations

import os
from types import ModuleType

TELEMETRY_SWITCH = "ORT_DISABLE_TELEMETRY"


def load_onnxruntime() -> ModuleType:
    """The onnxruntime module, telemetry off (set even where the environment says otherwise)."""
    os.environ[TELEMETRY_SWITCH] = "1"
    import onnxruntime as ort

    ort.disable_telemetry_events()
    return ort
