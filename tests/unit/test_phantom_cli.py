"""``cervi synth``: writes studies with truth and a manifest, or a preview contact sheet."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from cervi.cli import main
from inference.phantom import STYLE_NAMES


def test_synth_writes_studies(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "data"
    args = ["synth", "--out", str(out), "--studies", "3", "--seed", "5", "--scale", "0.1"]
    assert main([*args, "--workers", "2", "--style", "dx_unnamed", "--prevalence", "0.5"]) == 0
    folders = sorted(p for p in out.iterdir() if p.is_dir())
    assert [p.name for p in folders] == ["study_00000", "study_00001", "study_00002"]
    for folder in folders:
        assert len(list(folder.glob("*.dcm"))) == 3
        truth = json.loads((folder / "truth.json").read_text())
        assert truth["style"] == "dx_unnamed" and truth["seed"] == 5
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["studies"] == 3 and manifest["options"]["prevalence"]["os_odontoideum"] == 0.5
    err = capsys.readouterr().err
    assert "3/3" in err


def test_two_workers_match_one(tmp_path: Path) -> None:
    common = ["--studies", "2", "--seed", "8", "--scale", "0.1"]
    assert main(["synth", "--out", str(tmp_path / "a"), "--workers", "1", *common]) == 0
    assert main(["synth", "--out", str(tmp_path / "b"), "--workers", "2", *common]) == 0
    for f in sorted((tmp_path / "a").rglob("*.dcm")):
        twin = tmp_path / "b" / f.relative_to(tmp_path / "a")
        assert f.read_bytes() == twin.read_bytes()


def test_preview_contact_sheet(tmp_path: Path) -> None:
    png = tmp_path / "sheet.png"
    assert main(["synth", "--preview", str(png), "--studies", "2", "--scale", "0.15"]) == 0
    with Image.open(png) as im:
        assert im.mode == "RGB" and im.width > 3 * 200 and im.height > 2 * 200


def test_list_styles(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "--list-styles"]) == 0
    assert capsys.readouterr().out.split() == list(STYLE_NAMES)


def test_bad_arguments_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synth", "--studies", "1"]) == 2
    assert main(["synth", "--out", str(tmp_path), "--prevalence", "nonsense=1"]) == 2
    assert "unknown label" in capsys.readouterr().err
