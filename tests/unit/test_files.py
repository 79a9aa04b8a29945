import os
from pathlib import Path

import pytest

from storage.files import InstanceStore, InvalidUID, StoreWriteError, sha256_of

STUDY, SERIES, SOP = "1.2.3", "1.2.3.4", "1.2.3.4.5"


def test_put_writes_the_bytes_and_reports_their_hash(tmp_path: Path) -> None:
    store = InstanceStore(tmp_path)
    stored = store.put(STUDY, SERIES, SOP, b"DICM-bytes")
    assert stored.path.read_bytes() == b"DICM-bytes"
    assert stored.sha256 == sha256_of(b"DICM-bytes") and stored.size == 10
    assert stored.path.is_relative_to(tmp_path / STUDY / SERIES)
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_a_changed_copy_gets_a_new_file_and_the_old_one_stays(tmp_path: Path) -> None:
    store = InstanceStore(tmp_path)
    first = store.put(STUDY, SERIES, SOP, b"one")
    second = store.put(STUDY, SERIES, SOP, b"two")
    assert first.path != second.path
    assert first.path.read_bytes() == b"one" and second.path.read_bytes() == b"two"


@pytest.mark.parametrize("bad", ["../../etc", "1.2.3/../../x", "1.02.3", "", "1." * 40, "1.2\n"])
def test_only_valid_uids_become_paths(tmp_path: Path, bad: str) -> None:
    with pytest.raises(InvalidUID):
        InstanceStore(tmp_path).put(bad, SERIES, SOP, b"x")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_nothing_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_fsync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(StoreWriteError):
        InstanceStore(tmp_path).put(STUDY, SERIES, SOP, b"x")
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_remove_deletes_the_file_and_refuses_paths_outside(tmp_path: Path) -> None:
    store = InstanceStore(tmp_path / "store")
    stored = store.put(STUDY, SERIES, SOP, b"x")
    store.remove(stored.path)
    assert not stored.path.exists()
    outside = tmp_path / "keep.txt"
    outside.write_text("x")
    with pytest.raises(ValueError):
        store.remove(outside)
    assert outside.exists()


def test_sweep_removes_only_unfinished_writes(tmp_path: Path) -> None:
    store = InstanceStore(tmp_path)
    stored = store.put(STUDY, SERIES, SOP, b"x")
    leftover = stored.path.parent / f".{stored.path.name}.123.abc.tmp"
    leftover.write_bytes(b"half")
    assert store.sweep_temporary() == 1
    assert not leftover.exists() and stored.path.exists()
