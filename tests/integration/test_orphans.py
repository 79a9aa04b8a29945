"""Start-up reconciles the instance store with the database: a file no row names (written, then
the process killed before its commit) is removed; every file a row names stays."""

from __future__ import annotations

import os
import time
from pathlib import Path

from pydicom.uid import generate_uid

from cervi.bootstrap import SHARED_STORE_GRACE_SECONDS, build_service
from storage.files import InstanceStore
from storage.orphans import sweep_orphans
from tests.integration.conftest import make_settings
from tests.integration.test_scp_pynetdicom import _send
from tests.support.dicom import ROOT, make_dx


def _orphan(store: InstanceStore) -> Path:
    """What a kill -9 between the file's fsync and the row's commit leaves."""
    uid = generate_uid(prefix=ROOT)
    return store.put(uid, uid, uid, b"\0" * 128 + b"DICM never committed").path


def test_start_removes_files_no_row_names_and_keeps_the_rest(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(database_url, tmp_path)
    service = build_service(settings)
    service.start()
    try:
        assert _send(service, make_dx()) == 0
    finally:
        service.stop()
    store = InstanceStore(settings.storage.instance_dir)
    acknowledged = set(store.stored_files())
    orphan = _orphan(store)
    stranger = orphan.parent / "notes.txt"  # not named as the store names files: not ours
    stranger.write_text("left alone")
    old = time.time() - 2 * SHARED_STORE_GRACE_SECONDS
    os.utime(orphan, (old, old))

    restarted = build_service(settings)
    restarted.start()
    restarted.stop()

    assert set(store.stored_files()) == acknowledged
    assert not orphan.exists() and stranger.exists()


def test_a_shared_store_keeps_recent_files_for_a_grace_period(
    database_url: str, tmp_path: Path
) -> None:
    """With several nodes on one store, a file may be another node's write about to commit."""
    service = build_service(make_settings(database_url, tmp_path))
    try:
        recent = _orphan(service.files)
        old = _orphan(service.files)
        past = time.time() - 2 * SHARED_STORE_GRACE_SECONDS
        os.utime(old, (past, past))
        assert sweep_orphans(service.sessions, service.files, SHARED_STORE_GRACE_SECONDS) == 1
        assert recent.exists() and not old.exists()
    finally:
        service.stop()
