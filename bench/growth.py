"""Growth benchmark: the reads people use most, with the results database filled to N studies.

For each size (default 0, 10,000 and 100,000 studies) and engine (SQLite and PostgreSQL) the
tables are filled directly with bulk inserts: a year of arrivals, realistic states (mostly
analysed, some not analysed, failed or ignored, the newest still receiving), 3 instances per
study, a result with 6 findings and 3 regions and a delivery per analysed study, retention
already applied to instances past their time. Then, through the HTTP API in-process
(FastAPI's TestClient) and the service's own jobs, it takes the median of repeated runs:

  API list default page, next page by cursor, finding + min_probability, one month's dates,
  one patient_id, study detail, /metrics, export of all (``cervi results export`` in a
  subprocess: seconds and peak memory), retention and the sweep with nothing due, and ingest
  (an instance stored through the listener's sink: file, commit, study assembly).

The peer is the empty database measured in the same run: the last column is the ratio of the
largest size to it (flat means about 1).

Run: ``.venv/bin/python bench/growth.py [--studies 0,10000,100000] [--engine sqlite,postgresql]
[--repeats 15]``; PostgreSQL is reached through ``CERVI_TEST_POSTGRES_URL`` (default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``), a database is created per run and dropped.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench._growth_fill import fill  # noqa: E402
from cervi.api import create_app  # noqa: E402
from cervi.bootstrap import Service, build_service  # noqa: E402
from cervi.retention import apply_retention  # noqa: E402
from cervi.settings import Settings  # noqa: E402
from dicom_node.instance import InstanceMeta  # noqa: E402
from dicom_node.scp import ReceivedInstance  # noqa: E402
from tests.support.dicom import make_dx  # noqa: E402

POSTGRES_ADMIN_URL = os.environ.get(
    "CERVI_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
ROWS = (
    "API list, default page",
    "API list, next page by cursor",
    "API list, finding + min_probability=0.5",
    "API list, one month's dates",
    "API list, one patient_id",
    "API study detail",
    "GET /metrics",
    "export of all (s)",
    "export peak memory (MB)",
    "retention, nothing due",
    "sweep, nothing due",
    "ingest, one instance",
)


class NoDispatch:
    """Study assembly hands complete studies on to nothing: the bench measures the database."""

    def dispatch(self, study_uid: str, version: int, partial: bool) -> None:
        pass

    def not_analysed(self, study_uid: str, version: int, reason: str) -> None:
        pass


@contextmanager
def database(engine_name: str, folder: Path) -> Iterator[str]:
    if engine_name == "sqlite":
        yield f"sqlite:///{folder / 'cervi.db'}"
        return
    name = f"cervi_growth_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm: the first call compiles statements and fills caches
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - start))
    return statistics.median(times)


def measure(engine_name: str, studies: int, repeats: int) -> dict[str, float]:
    from fastapi.testclient import TestClient

    with tempfile.TemporaryDirectory() as tmp, database(engine_name, Path(tmp)) as url:
        folder = Path(tmp)
        settings = Settings.model_validate(
            {
                "storage": {
                    "database_url": url,
                    "instance_dir": str(folder / "instances"),
                    "min_free_disk_mb": 1,
                },
                "logging": {"level": "WARNING"},
            }
        )
        service = build_service(settings, dispatcher=NoDispatch())
        started = time.perf_counter()
        facts = fill(service.engine, studies)
        service.fold_metrics()
        _analyze(service)
        print(
            f"  {engine_name}: {studies:,} studies filled in {time.perf_counter() - started:.0f} s",
            file=sys.stderr,
        )
        client = TestClient(create_app(service))

        def get(path: str, **params: object) -> Callable[[], object]:
            def call() -> object:
                response = client.get(path, params=params)
                assert response.status_code == 200, response.text
                return response

            return call

        first = client.get("/api/v1/studies").json()
        cursor = first["next_cursor"] or ""
        rows = {
            ROWS[0]: median_ms(get("/api/v1/studies"), repeats),
            ROWS[1]: median_ms(get("/api/v1/studies", cursor=cursor), repeats) if cursor else 0,
            ROWS[2]: median_ms(
                get("/api/v1/studies", finding=facts.label, min_probability=0.5), repeats
            ),
            ROWS[3]: median_ms(
                get("/api/v1/studies", date_from=facts.month[0], date_to=facts.month[1]), repeats
            ),
            ROWS[4]: median_ms(get("/api/v1/studies", patient_id=facts.patient_id), repeats),
            ROWS[5]: median_ms(get(f"/api/v1/studies/{facts.study_uid}"), repeats)
            if facts.study_uid
            else 0,
            ROWS[6]: median_ms(get("/metrics"), repeats),
        }
        rows[ROWS[7]], rows[ROWS[8]] = export_all(url, folder)
        storage = settings.storage
        rows[ROWS[9]] = median_ms(
            lambda: _nothing(
                apply_retention(
                    service.sessions,
                    service.files,
                    storage.retention_days,
                    storage.ignored_retention_hours,
                )
            ),
            repeats,
        )
        rows[ROWS[10]] = median_ms(lambda: _nothing(service.assembler.sweep()), repeats)
        rows[ROWS[11]] = ingest_ms(service, repeats)
        service.stop()
    return rows


def _nothing(done: int) -> None:
    if done:
        raise RuntimeError(f"expected nothing due, {done} done")


def _analyze(service: Service) -> None:
    """PostgreSQL: planner statistics and visibility map as autovacuum leaves them after a load.
    SQLite is left as Cervi leaves it, without statistics (no ANALYZE is run in service)."""
    if service.engine.dialect.name == "postgresql":
        with service.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
            c.execute(text("VACUUM ANALYZE"))


def export_all(url: str, folder: Path) -> tuple[float, float]:
    """Seconds and peak resident memory (MB) of ``cervi results export`` in a subprocess."""
    config = folder / "export.yaml"
    config.write_text(yaml.safe_dump({"storage": {"database_url": url}}))
    script = (
        "import resource, sys, time; from cervi.cli import main; t = time.perf_counter(); "
        "code = main(['results', 'export', '--config', sys.argv[1]]); "
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, "
        "file=sys.stderr); sys.exit(code)"
    )
    with open(os.devnull, "w") as devnull:
        done = subprocess.run(
            [sys.executable, "-c", script, str(config)],
            stdout=devnull,
            stderr=subprocess.PIPE,
            text=True,
            check=True,
            cwd=Path(__file__).resolve().parents[1],
        )
    seconds, max_rss_kb = done.stderr.strip().splitlines()[-1].split()
    return float(seconds), int(max_rss_kb) / 1024


def ingest_ms(service: Service, repeats: int) -> float:
    """Median ms to store one instance through the listener's sink (file, row, assembly)."""
    counter = iter(range(10**6))

    def store() -> None:
        n = next(counter)
        ds = make_dx(size=8, seed=n, study_uid=f"1.2.999.{n // 3 + 1}", patient_id="BENCH")
        received = ReceivedInstance(
            InstanceMeta.from_dataset(ds), _bytes(ds), str(ds.file_meta.TransferSyntaxUID), "B", ""
        )
        service.sink.store(received)

    return median_ms(store, max(repeats, 30))


def _bytes(ds: object) -> bytes:
    from io import BytesIO

    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)  # type: ignore[attr-defined]
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", default="0,10000,100000")
    parser.add_argument("--engine", default="sqlite,postgresql")
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    sizes = [int(n) for n in args.studies.split(",")]
    for engine_name in args.engine.split(","):
        results = {}
        for n in sizes:  # each size as it is done, should a later one not finish
            results[n] = measure(engine_name, n, args.repeats)
            done = ", ".join(f"{row}: {value:.1f}" for row, value in results[n].items())
            print(f"  {engine_name} {n:,}: {done}", file=sys.stderr)
        header = [f"{engine_name} (ms, median)", *(f"{n:,}" for n in sizes)]
        if len(sizes) > 1:
            header.append(f"{sizes[-1]:,} / {sizes[0]:,}")
        lines = [header]
        for row in ROWS:
            values = [results[n][row] for n in sizes]
            cells = [row, *(f"{v:.1f}" for v in values)]
            if len(sizes) > 1:
                cells.append(f"{values[-1] / values[0]:.2f}" if values[0] else "-")
            lines.append(cells)
        widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
        print()
        for line in lines:
            print(
                "  ".join(
                    cell.ljust(w) if i == 0 else cell.rjust(w)
                    for i, (cell, w) in enumerate(zip(line, widths, strict=True))
                )
            )
        sys.stdout.flush()


if __name__ == "__main__":
    main()
