"""Files in the instance store that no row names: what a crash between write and commit leaves.

An instance file is written (and fsynced) before its row is committed; a process killed in
between leaves a file that nothing refers to and that was never acknowledged. The sender still
has the instance and sends it again. Cervi's own SRs and key images follow the same order.
:func:`sweep_orphans` removes such files; with a shared instance store (cluster mode) only files
older than ``grace_seconds``, so that another node's write that is about to commit is left alone.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from storage.files import InstanceStore
from storage.tables import Delivery, Instance, Result

logger = logging.getLogger("cervi.storage")

BATCH = 500


def named_files(session: Session, paths: Iterable[Path]) -> set[str]:
    """The names of those ``paths`` that an instance, result (SR) or delivery row names.

    Matched by SOP Instance UID and file name, not by the path string: a store moved, or named
    relative in one configuration and absolute in the next, must not look orphaned.
    """
    uids = {uid for uid in map(_sop_instance_uid, paths) if uid}
    named: set[str] = set()
    for path_column, uid_column in (
        (Instance.path, Instance.sop_instance_uid),
        (Result.sr_path, Result.sr_sop_instance_uid),
        (Delivery.path, Delivery.sop_instance_uid),
    ):
        rows = session.scalars(select(path_column).where(uid_column.in_(uids)))
        named.update(Path(row).name for row in rows if row)
    return named


def _sop_instance_uid(path: Path) -> str | None:
    """``<SOP Instance UID>.<16 hex digits>.dcm`` (:meth:`InstanceStore.path_for`), else None."""
    stem, _, digest = path.name.removesuffix(".dcm").rpartition(".")
    if len(digest) != 16 or not stem:
        return None
    return stem


def sweep_orphans(
    sessions: sessionmaker[Session], files: InstanceStore, grace_seconds: float = 0.0
) -> int:
    """Remove store files no row names and older than ``grace_seconds``; return how many."""
    cutoff = time.time() - grace_seconds
    removed = 0
    for batch in _batches(files.stored_files()):
        # Only files named as the store names them: anything else is not ours to remove.
        old = [p for p in batch if _sop_instance_uid(p) and _modified_before(p, cutoff)]
        if not old:
            continue
        with sessions() as session:
            named = named_files(session, old)
        for path in old:
            if path.name not in named:
                files.remove(path)
                removed += 1
    if removed:
        logger.warning(
            "removed instance files that no row names (never acknowledged)",
            extra={"event": "orphans_removed", "files": removed},
        )
    return removed


def _modified_before(path: Path, cutoff: float) -> bool:
    try:
        return path.stat().st_mtime <= cutoff
    except FileNotFoundError:
        return False


def _batches(paths: Iterator[Path]) -> Iterator[list[Path]]:
    while batch := list(islice(paths, BATCH)):
        yield batch
