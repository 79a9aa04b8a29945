"""DIMSE status codes and association rejection reasons Cervi answers with (PS3.4 Annex B,
PS3.7 Annex C, PS3.8 9.3.4)."""

from __future__ import annotations

from enum import IntEnum


class Status(IntEnum):
    """C-STORE / C-ECHO response statuses."""

    SUCCESS = 0x0000
    PROCESSING_FAILURE = 0x0110
    OUT_OF_RESOURCES = 0xA700
    DATASET_DOES_NOT_MATCH = 0xA900
    CANNOT_UNDERSTAND = 0xC210


class RejectResult(IntEnum):
    PERMANENT = 0x01
    TRANSIENT = 0x02


class RejectSource(IntEnum):
    SERVICE_USER = 0x01
    SERVICE_PROVIDER_ACSE = 0x02
    SERVICE_PROVIDER_PRESENTATION = 0x03


class RejectReason(IntEnum):
    """Diagnostics; the meaning depends on :class:`RejectSource` (PS3.8 Table 9-21)."""

    NO_REASON = 0x01
    CALLING_AE_NOT_RECOGNISED = 0x03  # source: service user
    CALLED_AE_NOT_RECOGNISED = 0x07  # source: service user
    TEMPORARY_CONGESTION = 0x01  # source: presentation provider
    LOCAL_LIMIT_EXCEEDED = 0x02  # source: presentation provider
