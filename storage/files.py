"""The instance file store: durable, atomic writes at paths built from validated UIDs only.

A file is written to a temporary name in its final folder, fsynced, renamed into place and the
folder fsynced, so that after :meth:`InstanceStore.put` returns the bytes survive a crash and a
reader never sees half a file. File names carry a prefix of the content hash, so a changed copy of
an instance gets a new name and the old copy stays valid until the database points elsewhere.
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydicom.uid import RE_VALID_UID


class InvalidUID(ValueError):
    """A string that is not a valid DICOM UID was about to become part of a path."""


class StoreWriteError(OSError):
    """The file could not be written durably; nothing is left behind."""


@dataclass(frozen=True)
class StoredFile:
    path: Path
    sha256: str
    size: int


def require_uid(value: object, name: str) -> str:
    """Return ``value`` if it is a valid UID (PS3.5 9.1), else raise :class:`InvalidUID`."""
    if not isinstance(value, str) or len(value) > 64 or not RE_VALID_UID.fullmatch(value):
        raise InvalidUID(f"{name} is not a valid UID")
    return value


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class InstanceStore:
    """Files under ``root/<study>/<series>/<sop>.<sha256[:16]>.dcm``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, study_uid: str, series_uid: str, sop_uid: str, sha256: str) -> Path:
        parts = (
            require_uid(study_uid, "StudyInstanceUID"),
            require_uid(series_uid, "SeriesInstanceUID"),
        )
        name = f"{require_uid(sop_uid, 'SOPInstanceUID')}.{sha256[:16]}.dcm"
        if not all(c in "0123456789abcdef" for c in sha256) or len(sha256) != 64:
            raise ValueError("sha256 must be 64 lower-case hex digits")
        return self.root.joinpath(*parts, name)

    def put(self, study_uid: str, series_uid: str, sop_uid: str, data: bytes) -> StoredFile:
        """Write ``data`` durably and return where it lies; an identical file is kept as is."""
        digest = sha256_of(data)
        path = self.path_for(study_uid, series_uid, sop_uid, digest)
        if path.is_file() and path.stat().st_size == len(data):
            return StoredFile(path, digest, len(data))
        try:
            _write_durably(path, data)
        except OSError as exc:
            raise StoreWriteError(f"cannot write instance file: {exc.strerror or exc}") from exc
        return StoredFile(path, digest, len(data))

    def remove(self, path: Path) -> None:
        """Remove a stored file (and folders left empty); a missing file is not an error."""
        path = Path(path)
        if self.root.resolve() not in path.resolve().parents:
            raise ValueError("refusing to remove a file outside the instance store")
        path.unlink(missing_ok=True)
        for folder in (path.parent, path.parent.parent):
            try:
                folder.rmdir()
            except OSError:
                break

    def sweep_temporary(self) -> int:
        """Remove temporary files a crash left mid-write (never acknowledged); return how many."""
        if not self.root.is_dir():
            return 0
        count = 0
        for tmp in self.root.rglob(".*.tmp"):
            tmp.unlink(missing_ok=True)
            count += 1
        return count

    def stored_files(self) -> Iterator[Path]:
        """Every finished file in the store (temporary files of unfinished writes excluded)."""
        if not self.root.is_dir():
            return
        for path in self.root.rglob("*.dcm"):
            if not path.name.startswith(".") and path.is_file():
                yield path

    def free_mb(self) -> float:
        """Free space, in MiB, on the file system that holds the store."""
        self.root.mkdir(parents=True, exist_ok=True)
        return shutil.disk_usage(self.root).free / 2**20


def _write_durably(path: Path, data: bytes) -> None:
    folder = path.parent
    created = _make_dirs(folder)
    tmp = folder / f".{path.name}.{os.getpid()}.{id(data):x}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
        for directory in [folder, *created]:
            _fsync_dir(directory)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _make_dirs(folder: Path) -> list[Path]:
    """Create ``folder`` and its missing parents; return the parents of each created folder."""
    missing = []
    current = folder
    while not current.exists():
        missing.append(current)
        current = current.parent
    folder.mkdir(parents=True, exist_ok=True)
    return [m.parent for m in missing]


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
