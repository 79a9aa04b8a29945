"""Fuzz tier: mutated PDUs and data sets thrown at a running listener (hypothesis).

Each example comes from another loopback address, as hostile peers would; after each, the
honest C-ECHO must be answered, and every instance acknowledged must be in the database with
its file readable. ``CERVI_FUZZ_EXAMPLES`` sets the examples per test (``make fuzz`` runs many).
Crashes found are kept below as ``@example`` regression cases.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from pydicom import dcmread
from pydicom.uid import ExplicitVRLittleEndian
from sqlalchemy import select

from cervi.bootstrap import Service, build_service
from dicom_node.status import Status
from storage.tables import Instance
from tests.integration.conftest import make_settings
from tests.support import attack, fuzz
from tests.support.analyser import FixedAnalyser

SOURCES = itertools.cycle([attack.attacker(n) for n in range(1, 9)])
ANSWERS = {Status.SUCCESS, Status.DATASET_DOES_NOT_MATCH, Status.CANNOT_UNDERSTAND}
FUZZ = settings(
    max_examples=fuzz.EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)


@pytest.fixture(scope="module")
def listener(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    folder = tmp_path_factory.mktemp("fuzz")
    settings_ = make_settings(
        f"sqlite:///{folder / 'cervi.db'}",
        folder,
        acse_timeout=2,
        network_timeout=2,
        dimse_timeout=2,
        max_pdu_size=16384,
    )
    settings_.assembly.quiet_seconds = 3600  # assembly is not the subject
    service = build_service(settings_, analyser=FixedAnalyser())
    service.start()
    try:
        yield service
    finally:
        service.stop()


def _responsive(service: Service) -> None:
    assert attack.echo(service.listener.port, timeout=5) == Status.SUCCESS


@FUZZ
@given(stream=fuzz.mutated_streams())
@example(stream=attack.pdu_header(0x01, 0xFFFFFFF0))
@example(stream=b"\xff" * 64)
@example(stream=attack.associate_rq()[:-3])
def test_mutated_pdus_leave_the_listener_responsive(listener: Service, stream: bytes) -> None:
    fuzz.send_stream(listener.listener.port, next(SOURCES), stream)
    _responsive(listener)


@FUZZ
@given(case=fuzz.mutated_datasets())
@example(case=("1.2." + "3" * 66, ExplicitVRLittleEndian, fuzz.dataset_bytes(fuzz.make_dx())))
def test_mutated_data_sets_get_a_status_and_nothing_acknowledged_is_lost(
    listener: Service, case: tuple[str, str, bytes]
) -> None:
    sop_instance_uid, syntax, encoded = case
    try:
        sock = attack.associate(listener.listener.port, next(SOURCES), fuzz.DX, syntax)
    except ConnectionError:
        pytest.fail("a valid association request was not accepted")
    with sock:
        command = attack.store_command(fuzz.DX, sop_instance_uid)
        sock.sendall(attack.p_data(command, command=True))
        sock.sendall(attack.p_data(encoded, command=False))
        status = fuzz.store_status(sock, timeout=10)
    # An abort (None) is an answer too, for a command pynetdicom cannot decode.
    assert status is None or status in ANSWERS, hex(status)
    if status == Status.SUCCESS:
        with listener.sessions() as session:
            path = session.scalar(
                select(Instance.path).where(Instance.sop_instance_uid == sop_instance_uid)
            )
        assert path is not None and dcmread(Path(path)).SOPInstanceUID == sop_instance_uid
    _responsive(listener)


def test_every_connection_the_fuzzing_opened_is_released(listener: Service) -> None:
    """Runs after the fuzzing above: nothing it did holds a slot past the deadlines."""
    assert attack.wait_until(lambda: listener.listener.load().connections == 0, 10)
    _responsive(listener)
