"""dicom_node.codes: every standard code exists in PS3.16 as written; private ones fit."""

from __future__ import annotations

import pydicom.sr._concepts_dict as ps316
import pytest
from pydicom.sr.coding import Code

from dicom_node import codes

#: SNOMED CT codes checked by hand (docs/views.md, PS3.16 CIDs); nothing else may appear.
VERIFIED_SCT = {"9964006", "24154002", "399067008", "52101004", "272519000", "260753009"}


def all_codes() -> list[Code]:
    found: list[Code] = []
    for value in vars(codes).values():
        if isinstance(value, Code):
            found.append(value)
        elif hasattr(value, "values") and not isinstance(value, type):
            found.extend(v for v in value.values() if isinstance(v, Code))
    return list(dict.fromkeys(found))  # a code both named and in a table counts once


def test_no_snomed_code_beyond_the_verified_ones() -> None:
    sct = {c.value for c in all_codes() if c.scheme_designator == "SCT"}
    assert sct <= VERIFIED_SCT


@pytest.mark.parametrize("code", [c for c in all_codes() if c.scheme_designator in ("SCT", "DCM")])
def test_standard_codes_are_in_ps3_16(code: Code) -> None:
    meanings = [
        entry[code.value][0].lower()
        for entry in ps316.concepts[code.scheme_designator].values()
        if code.value in entry
    ]
    assert meanings, f"{code} is not in PS3.16"
    assert any(m.startswith(code.meaning.lower()) for m in meanings), (code, meanings)


def test_private_codes_fit_short_string_and_long_string() -> None:
    private = [c for c in all_codes() if c.scheme_designator == codes.PRIVATE_SCHEME]
    assert len(private) >= 6 * 2 + 3 * 2
    assert len({c.value for c in private}) == len(private)
    for code in private:
        assert len(code.value) <= 16 and len(code.meaning) <= 64


def test_every_label_has_a_finding_and_a_probability_concept() -> None:
    assert list(codes.LABELS) == list(codes.PROBABILITIES)
    for key in codes.LABELS:
        assert codes.label_for(codes.LABELS[key].value) == key
        assert codes.label_for(codes.PROBABILITIES[key].value) == key
    assert codes.label_for("nope") is None
    scheme = codes.coding_scheme()
    assert scheme.CodingSchemeDesignator == codes.PRIVATE_SCHEME
    assert scheme is not codes.coding_scheme()
