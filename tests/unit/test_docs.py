"""The documentation in docs/ says what the code does: the view rules and labels it lists are
the ones the code has, the links resolve, and nothing points at a file outside the repository."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from dicom_node.assembly_rules import DEFAULT_VIEW_RULES
from inference.labels import LABEL_CODES, LABELS

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"


def marked_table(path: Path, marker: str) -> list[list[str]]:
    """The rows (cells) of the markdown table after ``<!-- {marker} -->``."""
    text = path.read_text(encoding="utf-8").split(f"<!-- {marker} -->", 1)[1]
    rows = []
    for line in text.strip().splitlines():
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip().strip("|").split("|")])
    return rows[2:]


def test_views_md_lists_the_default_view_rules_in_order() -> None:
    rows = marked_table(DOCS / "views.md", "views:default-rules")
    documented = [(int(n), name.strip("`"), field, view) for n, name, field, view in rows]
    expected = [
        (n, r.name, r.field, r.view.value + (" (tentative)" if r.tentative else ""))
        for n, r in enumerate(DEFAULT_VIEW_RULES, 1)
    ]
    assert documented == expected


def test_labels_md_defines_every_label() -> None:
    rows = marked_table(DOCS / "labels.md", "labels:definitions")
    assert [row[0].strip("`") for row in rows] == list(LABELS)
    assert [(row[1].strip("`"), row[2]) for row in rows] == [LABEL_CODES[k] for k in LABELS]
    assert all(len(row[3]) > 30 for row in rows)  # a definition, not a placeholder


def test_links_in_the_readme_and_docs_resolve() -> None:
    for page in [REPO / "README.md", *DOCS.glob("*.md")]:
        for target in re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", page.read_text(encoding="utf-8")):
            if target.startswith("http"):
                continue
            assert (page.parent / target).exists(), f"{page.name}: broken link {target}"


def test_nothing_points_at_a_design_file_outside_the_repository() -> None:
    files = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    # the name is put together so that this file does not name it itself
    design_file = "DESIGN" + ".md"
    pointing = [
        name
        for name in files
        if not name.endswith((".png", ".onnx"))
        and design_file in (REPO / name).read_text(encoding="utf-8", errors="replace")
    ]
    assert pointing == []
