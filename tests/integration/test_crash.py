"""``kill -9`` while storescu sends: every instance it saw acknowledged survives the crash."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydicom import dcmread
from sqlalchemy import select

from storage.db import make_engine
from storage.tables import Instance
from tests.conftest import require_tool
from tests.support.dicom import make_dx, write
from tests.support.service import ServeProcess

N_INSTANCES = 200
KILL_AFTER = 60


def _send_and_stop(cervi: ServeProcess, files: list[Path], stop: Callable[[], object]) -> set[str]:
    """Send ``files`` with storescu, call ``stop`` after KILL_AFTER acknowledgements; return the
    SOP Instance UIDs whose C-STORE response storescu reported as Success."""
    command = [require_tool("storescu"), "-v", "-aec", "CERVI", "127.0.0.1", str(cervi.port)]
    sender = subprocess.Popen(
        [*command, *map(str, files)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "TCP_NODELAY": "1"},
    )
    uid_of = {str(f): f.stem for f in files}
    acknowledged: set[str] = set()
    current = None
    assert sender.stdout is not None
    for line in sender.stdout:
        if "Sending file: " in line:
            current = line.split("Sending file: ", 1)[1].strip()
        elif "Received Store Response (Success)" in line and current:
            acknowledged.add(uid_of[current])
            if len(acknowledged) == KILL_AFTER:
                stop()
    sender.wait(timeout=60)
    return acknowledged


def _study_files(folder: Path) -> list[Path]:
    study = make_dx()
    files = []
    for i in range(N_INSTANCES):
        ds = make_dx(study_uid=study.StudyInstanceUID, series_uid=study.SeriesInstanceUID, seed=i)
        files.append(write(ds, folder / f"{ds.SOPInstanceUID}.dcm"))
    return files


def _stored(database_url: str) -> dict[str, Any]:
    engine = make_engine(database_url)
    with engine.connect() as connection:
        rows = {r.sop_instance_uid: r for r in connection.execute(select(Instance))}
    engine.dispose()
    return rows


def test_acknowledged_instances_survive_kill_9(database_url: str, tmp_path: Path) -> None:
    files = _study_files(tmp_path / "send")

    cervi = ServeProcess(tmp_path / "cervi", database_url).start()
    try:
        acknowledged = _send_and_stop(cervi, files, cervi.kill)
        assert KILL_AFTER <= len(acknowledged) < N_INSTANCES, "the kill came too late to test"
        cervi.start()  # restart on the same database and store
    finally:
        cervi.kill()

    rows = _stored(database_url)
    missing = acknowledged - rows.keys()
    assert not missing, f"{len(missing)} acknowledged instances lost"
    for uid in acknowledged:
        data = Path(rows[uid].path).read_bytes()
        assert hashlib.sha256(data).hexdigest() == rows[uid].sha256
        assert dcmread(rows[uid].path).SOPInstanceUID == uid
    leftovers = list((tmp_path / "cervi" / "instances").rglob("*.tmp"))
    assert leftovers == [], "unfinished writes are swept on restart"


def test_sigterm_lets_the_association_in_flight_finish(database_url: str, tmp_path: Path) -> None:
    files = _study_files(tmp_path / "send")
    cervi = ServeProcess(tmp_path / "cervi", database_url).start()
    assert cervi.process is not None
    try:
        acknowledged = _send_and_stop(
            cervi, files, lambda: cervi.process.send_signal(signal.SIGTERM)
        )
        assert cervi.process.wait(timeout=60) == 0
    finally:
        cervi.kill()
    assert len(acknowledged) == N_INSTANCES
    assert _stored(database_url).keys() == acknowledged
    assert '"listener stopped"' in cervi.log()
