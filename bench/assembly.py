"""Study assembly cost on ingest: DCMTK storescu sends the same instances to Cervi with study
assembly in the after-commit hook and to Cervi without it (the peer), in the same run, on
SQLite. Two layouts: many three-view studies, and one study with every instance (the worst
case: each arrival re-assesses the whole study). Prints instances/s and the ratio.

Run: ``.venv/bin/python bench/assembly.py [--instances 120] [--repeats 2]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cervi.bootstrap import build_service  # noqa: E402
from cervi.settings import Settings  # noqa: E402
from tests.support.dicom import make_dx, write  # noqa: E402

ENV = {**os.environ, "TCP_NODELAY": "1"}
DESCRIPTIONS = ("HWS Reklination", "HWS neutral", "HWS Inklination")


class _Discard:
    """A dispatcher that drops what it is handed: the bench measures ingest, not analysis."""

    def dispatch(self, study_uid: str, version: int, partial: bool) -> None:
        pass

    def not_analysed(self, study_uid: str, version: int, reason: str) -> None:
        pass


def make_files(folder: Path, count: int, one_study: bool) -> list[Path]:
    files = []
    study = make_dx(size=8)
    for i in range(count):
        if not one_study and i % 3 == 0:
            study = make_dx(size=8)
        ds = make_dx(
            size=64,
            seed=i,
            study_uid=study.StudyInstanceUID,
            description=DESCRIPTIONS[i % 3],
        )
        files.append(write(ds, folder / f"{i:05d}.dcm"))
    return files


def run_once(folder: Path, files: list[Path], assemble: bool) -> float:
    settings = Settings.model_validate(
        {
            "node": {"host": "127.0.0.1", "port": 0},
            "storage": {
                "database_url": f"sqlite:///{folder / 'cervi.db'}",
                "instance_dir": str(folder / "instances"),
                "min_free_disk_mb": 1,
            },
        }
    )
    service = build_service(settings, dispatcher=_Discard())
    if not assemble:
        service.sink.after_commit = None
    service.start()
    try:
        command = ["storescu", "-aec", "CERVI", "127.0.0.1", str(service.listener.port)]
        start = time.perf_counter()
        subprocess.run([*command, *map(str, files)], check=True, env=ENV, timeout=600)
        return len(files) / (time.perf_counter() - start)
    finally:
        service.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=120)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    for one_study in (False, True):
        layout = "one study" if one_study else "three-view studies"
        rates: dict[bool, list[float]] = {True: [], False: []}
        for repeat in range(args.repeats):
            for assemble in (False, True):
                with tempfile.TemporaryDirectory() as tmp:
                    files = make_files(Path(tmp) / "files", args.instances, one_study)
                    run = Path(tmp) / f"run-{repeat}-{assemble}"
                    rates[assemble].append(run_once(run, files, assemble))
        with_, without = statistics.median(rates[True]), statistics.median(rates[False])
        print(
            f"{layout:20s} with assembly {with_:7.1f}/s  without {without:7.1f}/s  "
            f"ratio {with_ / without:.2f}"
        )


if __name__ == "__main__":
    main()
