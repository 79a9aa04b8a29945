"""A pynetdicom Storage SCP that acknowledges without storing: the ceiling of the library
Cervi's listener is built on, for ``bench/ingest.py``. Usage: ``_noop_scp.py PORT``."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pynetdicom import AE, evt  # noqa: E402

from dicom_node.sop import STORAGE_SOP_CLASSES, TRANSFER_SYNTAXES  # noqa: E402


def main() -> None:
    ae = AE("NOOP")
    ae.maximum_pdu_size = 1_048_576  # as Cervi's listener
    for sop_class_uid in STORAGE_SOP_CLASSES:
        ae.add_supported_context(sop_class_uid, list(TRANSFER_SYNTAXES))
    handlers = [(evt.EVT_C_STORE, lambda event: 0x0000)]
    ae.start_server(("127.0.0.1", int(sys.argv[1])), block=True, evt_handlers=handlers)


if __name__ == "__main__":
    main()
