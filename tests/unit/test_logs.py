import json
import logging

from cervi.logs import JsonFormatter


def _record(**extra: object) -> logging.LogRecord:
    record = logging.LogRecord("cervi.scp", logging.INFO, __file__, 1, "stored %s", ("x",), None)
    for key, value in extra.items():
        setattr(record, key, value)
    return record


def test_json_line_carries_uids_but_no_patient_data() -> None:
    line = JsonFormatter().format(_record(study_uid="1.2.3", patient_id="PAT-42"))
    entry = json.loads(line)
    assert entry["message"] == "stored x" and entry["study_uid"] == "1.2.3"
    assert "PAT-42" not in line


def test_patient_data_is_logged_only_when_configured() -> None:
    entry = json.loads(JsonFormatter(log_phi=True).format(_record(patient_id="PAT-42")))
    assert entry["patient_id"] == "PAT-42"
