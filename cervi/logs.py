"""Structured logging: one JSON object per line on stderr, carrying UIDs but no patient data.

Modules log with ``extra={...}`` fields; the formatter copies them into the JSON object. Fields
that could hold patient data (names, IDs, birth dates) are dropped unless ``log_phi`` is set.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

from cervi.settings import LoggingSettings

PHI_FIELDS = frozenset({"patient_id", "patient_name", "patient_birth_date", "accession_number"})
_RESERVED = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",  # uvicorn's ANSI-coloured copy of the message
}


class JsonFormatter(logging.Formatter):
    def __init__(self, log_phi: bool = False) -> None:
        super().__init__()
        self.log_phi = log_phi

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key in _RESERVED or key.startswith("_") or value is None:
                continue
            if key in PHI_FIELDS and not self.log_phi:
                continue
            entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class PlainFormatter(JsonFormatter):
    """Human-readable lines with the same field filtering, for a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        entry = json.loads(super().format(record))
        time, level, name = entry.pop("time"), entry.pop("level"), entry.pop("logger")
        head = f"{time} {level:7} {name}: {entry.pop('message')}"
        exception = entry.pop("exception", None)
        fields = " ".join(f"{k}={v}" for k, v in entry.items())
        text = f"{head} {fields}".rstrip()
        return f"{text}\n{exception}" if exception else text


def configure_logging(settings: LoggingSettings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    formatter = JsonFormatter if settings.json_lines else PlainFormatter
    handler.setFormatter(formatter(log_phi=settings.log_phi))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.level)
    # pynetdicom logs every PDU at INFO (with AE titles and UIDs); keep it to warnings.
    logging.getLogger("pynetdicom").setLevel(logging.WARNING)
