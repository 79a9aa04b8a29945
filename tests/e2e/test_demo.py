"""``cervi demo``: Orthanc, Cervi and a phantom study, end to end, in one command."""

from __future__ import annotations

import pytest

from cervi.cli import main
from tests.conftest import require_tool


def test_demo_prints_what_the_pacs_received(capsys: pytest.CaptureFixture[str]) -> None:
    require_tool("Orthanc")
    assert main(["demo", "--studies", "1", "--seed", "5"]) == 0
    out = capsys.readouterr().out
    table = out.split("What the PACS received", 1)[1].splitlines()
    assert table[1].split()[:4] == ["STUDY", "PHANTOM", "TRUTH", "CERVI"]
    assert len(table) == 3 and "no SR received" not in table[2]
