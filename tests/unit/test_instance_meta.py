import pytest

from dicom_node.instance import InstanceMeta, MissingIdentifier
from tests.support.dicom import make_dx


def test_identifiers_and_rule_fields_are_read() -> None:
    ds = make_dx(description="HWS seitlich Inklination")
    meta = InstanceMeta.from_dataset(ds)
    assert meta.study_uid == ds.StudyInstanceUID
    assert meta.sop_instance_uid == ds.SOPInstanceUID
    assert meta.patient_id == "CERVI-TEST-1"
    assert meta.header["SeriesDescription"] == "HWS seitlich Inklination"
    assert meta.header["BodyPartExamined"] == "CSPINE"


@pytest.mark.parametrize(
    ("keyword", "value", "named"),
    [
        ("PatientID", "", "PatientID"),
        ("StudyInstanceUID", "1.2.abc", "StudyInstanceUID"),
        ("SeriesInstanceUID", "", "SeriesInstanceUID"),
        ("SOPInstanceUID", "1." * 40, "SOPInstanceUID"),
    ],
)
def test_bad_identifiers_are_named(keyword: str, value: str, named: str) -> None:
    ds = make_dx()
    setattr(ds, keyword, value)
    with pytest.raises(MissingIdentifier, match=named):
        InstanceMeta.from_dataset(ds)


def test_view_codes_are_kept_with_their_modifiers() -> None:
    from pydicom import Dataset

    ds = make_dx()
    view = Dataset()
    view.CodeValue, view.CodingSchemeDesignator, view.CodeMeaning = "R-10206", "SRT", "lateral"
    modifier = Dataset()
    modifier.CodeValue, modifier.CodingSchemeDesignator, modifier.CodeMeaning = (
        "9964006",
        "SCT",
        "Flexion",
    )
    view.ViewModifierCodeSequence = [modifier]
    ds.ViewCodeSequence = [view]
    codes = InstanceMeta.from_dataset(ds).header["ViewCodeSequence"]
    assert codes[1] == {"value": "9964006", "scheme": "SCT", "meaning": "Flexion", "modifier": True}
