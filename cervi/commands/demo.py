"""``cervi demo``: one command to see Cervi work. Starts Orthanc (Debian's package) as the PACS
and Cervi on free ports, has Orthanc push a few phantom studies to Cervi, waits for the SRs to
come back and prints what the PACS received. ``--viewer`` also serves OHIF against that
Orthanc and prints the URL that opens an analysed study. SIGTERM, like Ctrl-C, stops it cleanly:
Orthanc, the viewer's server and Cervi are stopped before the process exits."""

from __future__ import annotations

import argparse
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType
from typing import Any

from cervi.settings import Settings

SR_TIMEOUT_S = 120


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="Orthanc + Cervi + phantom studies, end to end")
    parser.add_argument("--studies", type=int, default=3, help="phantom studies to send")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--workdir", type=Path, help="keep everything here (default: temporary)")
    parser.add_argument("--viewer", action="store_true", help="also serve OHIF and wait")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if shutil.which("Orthanc") is None:
        print("cervi demo: Orthanc is not installed (apt-get install orthanc orthanc-dicomweb)")
        return 2
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        if args.workdir:
            args.workdir.mkdir(parents=True, exist_ok=True)
            return _demo(args, args.workdir)
        with tempfile.TemporaryDirectory(prefix="cervi-demo-") as tmp:
            return _demo(args, Path(tmp))
    except KeyboardInterrupt:  # Ctrl-C or SIGTERM: every ``finally`` above has run
        print("cervi demo: stopped", file=sys.stderr)
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """SIGTERM as Ctrl-C: unwinds through the ``finally`` blocks that stop Orthanc and Cervi
    (a second SIGTERM is ignored so that it cannot cut that short)."""
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


def demo_settings(folder: Path, pacs_port: int) -> Settings:
    """Cervi on a free loopback port, SQLite and files in ``folder``, SRs to the local Orthanc."""
    return Settings.model_validate(
        {
            "node": {"host": "127.0.0.1", "port": 0},
            "storage": {
                "database_url": f"sqlite:///{folder / 'cervi.db'}",
                "instance_dir": str(folder / "instances"),
                "min_free_disk_mb": 64,
            },
            "results": {
                "destinations": [
                    {"name": "pacs", "ae_title": "ORTHANC", "host": "127.0.0.1", "port": pacs_port}
                ]
            },
            "logging": {"level": "WARNING"},
        }
    )


def _demo(args: argparse.Namespace, folder: Path) -> int:
    from cervi.bootstrap import build_service
    from cervi.demo.orthanc import Orthanc
    from cervi.logs import configure_logging
    from inference.phantom import generate_study, write_study

    pacs = Orthanc(folder / "orthanc", dicomweb=args.viewer)
    settings = demo_settings(folder, pacs.dicom_port)
    configure_logging(settings.logging)
    cervi = build_service(settings)
    cervi.analyser.load()  # type: ignore[union-attr]
    cervi.start()
    pacs.modalities = {"cervi": ("CERVI", "127.0.0.1", cervi.listener.port)}
    pacs.start()
    print(f"Orthanc (the PACS) at {pacs.url}, DICOM port {pacs.dicom_port}")
    print(f"Cervi: AE CERVI on port {cervi.listener.port}; work folder {folder}")
    try:
        rows = []
        for index in range(args.studies):
            study = generate_study(args.seed, index)
            files = write_study(study, folder / "studies")
            for name in study.files:
                instance = pacs.upload(files / name)
            orthanc_study = pacs.get(f"/instances/{instance}/study")["ID"]
            job = {"Resources": [orthanc_study], "Synchronous": True}
            pacs.post("/modalities/cervi/store", job)
            rows.append((study, orthanc_study))
            print(f"sent study {index + 1} of {args.studies} to Cervi through Orthanc")
        received = [(study, oid, _wait_for_sr(pacs, oid)) for study, oid in rows]
        _print_table(pacs, received, folder)
        if args.viewer:
            return _serve_viewer(pacs, received)
        return 0 if all(sr for _, _, sr in received) else 1
    finally:
        pacs.stop()
        cervi.stop()


def _wait_for_sr(pacs: Any, orthanc_study: str) -> dict[str, Any] | None:
    deadline = time.monotonic() + SR_TIMEOUT_S
    while time.monotonic() < deadline:
        for series in pacs.sr_series(orthanc_study):
            return series
        time.sleep(0.2)
    return None


def _print_table(
    pacs: Any, received: list[tuple[Any, str, dict[str, Any] | None]], folder: Path
) -> None:
    from pydicom import dcmread

    from cervi.commands.results import print_table
    from dicom_node.sr import CerviImagingMeasurementReport, read_report

    table = []
    for study, _, series in received:
        truth = ", ".join(k for k, v in study.truth["labels"].items() if v) or "normal"
        if series is None:
            table.append(("..." + study.truth["study_uid"][-12:], truth, "no SR received", ""))
            continue
        path = folder / "sr.dcm"
        path.write_bytes(pacs.request_bytes(f"/instances/{series['Instances'][0]}/file"))
        report = read_report(dcmread(path))
        if isinstance(report, CerviImagingMeasurementReport):
            found = [
                f"{key} {100 * p:.0f}%"
                for key, p in report.probabilities.items()
                if report.findings[key]
            ]
            outcome = ", ".join(found) or "no finding"
        else:
            outcome = f"not analysed: {report.reason or ''}"
        table.append(("..." + study.truth["study_uid"][-12:], truth, outcome, series["ID"][:8]))
    print()
    print("What the PACS received (phantom truth and Cervi's SR; demo model, not for diagnosis):")
    print_table(("STUDY", "PHANTOM TRUTH", "CERVI SR IN ORTHANC", "SR SERIES"), table)


def _serve_viewer(pacs: Any, received: list[tuple[Any, str, dict[str, Any] | None]]) -> int:
    from cervi.demo.viewer import ViewerServer, default_dist

    dist = default_dist()
    if not (dist / "index.html").is_file():
        print(f"cervi demo: OHIF is not set up at {dist}; run `make viewer-deps` first")
        return 2
    with ViewerServer(dist, f"{pacs.url}/dicom-web") as viewer:
        print("\nOpen in a browser (Ctrl-C or SIGTERM to stop):", flush=True)
        for study, _, series in received:
            sr_series = series["MainDicomTags"]["SeriesInstanceUID"] if series else None
            print("  " + viewer.study_url(study.truth["study_uid"], sr_series), flush=True)
        while True:
            time.sleep(3600)
