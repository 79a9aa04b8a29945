"""Unit tests of the pure study assembly (dicom_node.assembly): no I/O, the clock passed in."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydicom import Dataset

from dicom_node.assembly import (
    AssemblyConfig,
    GroupCandidate,
    Member,
    Step,
    acquired_at,
    after_arrival,
    assess,
    choose_group,
    decide_instance,
    identify_view,
    on_quiet_timer,
    patient_conflict,
    study_datetime,
)
from dicom_node.assembly_rules import (
    DEFAULT_VIEW_RULES,
    AcceptRule,
    RuleError,
    View,
    ViewRule,
)
from dicom_node.instance import InstanceMeta

DX = "1.2.840.10008.5.1.4.1.1.1.1"
CR = "1.2.840.10008.5.1.4.1.1.1"
SC = "1.2.840.10008.5.1.4.1.1.7"
COMPREHENSIVE_3D_SR = "1.2.840.10008.5.1.4.1.1.88.34"
T0 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
CONFIG = AssemblyConfig()


def meta(
    sop: str = "1.2.3.1",
    series: str = "1.2.3.100",
    sop_class: str = DX,
    patient: str = "P1",
    **header: Any,
) -> InstanceMeta:
    fields = {"Modality": "DX", "BodyPartExamined": "CSPINE"} | header
    fields = {k: v for k, v in fields.items() if v is not None}
    return InstanceMeta(
        study_uid="1.2.3",
        series_uid=series,
        sop_instance_uid=sop,
        sop_class_uid=sop_class,
        patient_id=patient,
        modality=fields.get("Modality"),
        header=fields,
    )


def code(value: str, meaning: str, modifier: bool = False) -> dict[str, Any]:
    item: dict[str, Any] = {"value": value, "scheme": "SCT", "meaning": meaning}
    return item | {"modifier": True} if modifier else item


def member(sop: str, view: View, minute: int = 0, acquired: str | None = None) -> Member:
    return Member(sop, view, T0 + timedelta(minutes=minute), minute, acquired)


# --- view rules, one family at a time --------------------------------------------------------


@pytest.mark.parametrize(
    ("codes", "view", "rule"),
    [
        ([code("399348003", "lateral"), code("9964006", "Flexion", True)], View.FLEXION,
         "view_modifier_code_flexion"),
        ([code("399348003", "lateral"), code("24154002", "Extension", True)], View.EXTENSION,
         "view_modifier_code_extension"),
        ([code("9964006", "flexion")], View.FLEXION, "view_code_flexion"),
        ([code("24154002", "extension")], View.EXTENSION, "view_code_extension"),
    ],
)  # fmt: skip
def test_view_codes_decide(codes: list[dict[str, Any]], view: View, rule: str) -> None:
    assert identify_view(meta(ViewCodeSequence=codes), DEFAULT_VIEW_RULES) == (view, rule)


def test_view_code_read_from_a_real_header() -> None:
    ds = Dataset()
    ds.update({"PatientID": "P1", "StudyInstanceUID": "1.2.3", "SeriesInstanceUID": "1.2.3.4"})
    ds.SOPInstanceUID, ds.SOPClassUID, ds.Modality, ds.BodyPartExamined = (
        "1.2.3.4.5",
        DX,
        "DX",
        "CSPINE",
    )
    view_item, modifier = Dataset(), Dataset()
    view_item.CodeValue, view_item.CodingSchemeDesignator, view_item.CodeMeaning = (
        "399348003", "SCT", "lateral",
    )  # fmt: skip
    modifier.CodeValue, modifier.CodingSchemeDesignator, modifier.CodeMeaning = (
        "24154002", "SCT", "Extension",
    )  # fmt: skip
    view_item.ViewModifierCodeSequence = [modifier]
    ds.ViewCodeSequence = [view_item]
    decision = decide_instance(InstanceMeta.from_dataset(ds), CONFIG)
    assert decision.accepted
    assert (decision.view, decision.rule) == (View.EXTENSION, "view_modifier_code_extension")


@pytest.mark.parametrize("field", ["SeriesDescription", "ProtocolName", "ImageComments",
                                   "AcquisitionDeviceProcessingDescription"])  # fmt: skip
@pytest.mark.parametrize(
    ("text", "view"),
    [
        ("C-SPINE LAT FLEX", View.FLEXION),
        ("HWS seitlich Flexion", View.FLEXION),
        ("HWS Anteflexion", View.FLEXION),
        ("HWS Inklination", View.FLEXION),
        ("CS lat EXT", View.EXTENSION),
        ("Extension", View.EXTENSION),
        ("HWS Retroflexion", View.EXTENSION),
        ("HWS Retro-Flexion", View.EXTENSION),
        ("HWS Reklination", View.EXTENSION),
        ("C-Spine NEUT", View.NEUTRAL),
        ("HWS Neutralstellung", View.NEUTRAL),
        ("C-spine lateral", View.NEUTRAL),
        ("HWS seitl.", View.NEUTRAL),
    ],
)
def test_text_spellings(field: str, text: str, view: View) -> None:
    found, rule = identify_view(meta(**{field: text}), DEFAULT_VIEW_RULES)
    assert found == view
    assert rule is not None


def test_words_inside_other_words_do_not_match() -> None:
    for text in ("Next image", "Flexible detector", "External", "Latex", "Neutron"):
        assert identify_view(meta(SeriesDescription=text), DEFAULT_VIEW_RULES)[0] == View.UNKNOWN


def test_flexion_and_extension_together_decide_nothing() -> None:
    assert identify_view(meta(SeriesDescription="HWS Flex/Ext"), DEFAULT_VIEW_RULES) == (
        View.UNKNOWN,
        None,
    )


def test_per_image_comment_beats_series_description() -> None:
    m = meta(SeriesDescription="HWS lateral", ImageComments="Reklination")
    assert identify_view(m, DEFAULT_VIEW_RULES) == (View.EXTENSION, "image_comments_extension")


def test_no_rule_leaves_the_view_unknown() -> None:
    decision = decide_instance(meta(SeriesDescription="HWS"), CONFIG)
    assert decision.accepted
    assert (decision.view, decision.rule) == (View.UNKNOWN, None)


def test_site_rule_first_wins_and_is_recorded() -> None:
    site = ViewRule("site_beugung", "ImageComments", r"^B$", view=View.FLEXION)
    config = AssemblyConfig(view_rules=(site, *DEFAULT_VIEW_RULES))
    decision = decide_instance(meta(ImageComments="B", SeriesDescription="lateral"), config)
    assert (decision.view, decision.rule) == (View.FLEXION, "site_beugung")


def test_case_sensitive_rule() -> None:
    rule = ViewRule("exact", "ImageComments", "^F$", view=View.FLEXION, case_sensitive=True)
    assert identify_view(meta(ImageComments="f"), [rule])[0] == View.UNKNOWN
    assert identify_view(meta(ImageComments="F"), [rule])[0] == View.FLEXION


def test_bad_rules_fail_fast_with_their_name() -> None:
    with pytest.raises(RuleError, match="'typo'.*unknown field"):
        ViewRule("typo", "SeriesDescriptoin", "x", view=View.FLEXION)
    with pytest.raises(RuleError, match="'broken'.*invalid pattern"):
        AcceptRule("broken", "Modality", "(")


# --- what enters --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        {"Modality": "CT"},
        {"Modality": "DX", "BodyPartExamined": "CHEST"},
        {"Modality": "CR", "BodyPartExamined": "LSPINE", "StudyDescription": "HWS BWS LWS"},
        {"Modality": "DX", "BodyPartExamined": None, "SeriesDescription": "Thorax pa"},
        {"Modality": "MR", "BodyPartExamined": "CSPINE"},
    ],
)
def test_non_cervical_radiographs_are_ignored(header: dict[str, Any]) -> None:
    decision = decide_instance(meta(**header), CONFIG)
    assert not decision.accepted
    assert decision.reason and decision.reason.startswith("not taken")


@pytest.mark.parametrize(
    "header",
    [
        {"Modality": "CR", "BodyPartExamined": "CSPINE"},
        {"Modality": "DX", "BodyPartExamined": "HWS"},
        {"Modality": "DX", "BodyPartExamined": None, "StudyDescription": "Röntgen HWS 3 Eb."},
        {"Modality": "DX", "BodyPartExamined": "SPINE", "SeriesDescription": "C-Spine flex"},
        {"Modality": "DX", "BodyPartExamined": None,
         "AnatomicRegionSequence": [code("122494005", "Cervical spine")]},
    ],
)  # fmt: skip
def test_cervical_radiographs_are_taken(header: dict[str, Any]) -> None:
    assert decide_instance(meta(sop_class=CR, **header), CONFIG).accepted


def test_site_accept_rule_extends_the_defaults() -> None:
    m = meta(BodyPartExamined="NACKEN")
    assert not decide_instance(m, CONFIG).accepted
    site = AcceptRule("site_nacken", "BodyPartExamined", "^nacken$")
    config = AssemblyConfig(accept_rules=(site, *CONFIG.accept_rules))
    assert decide_instance(m, config).accepted


def test_cervi_own_sr_is_ignored() -> None:
    sr = meta(sop_class=COMPREHENSIVE_3D_SR, Modality="SR", Manufacturer="Cervi")
    decision = decide_instance(sr, CONFIG)
    assert (decision.accepted, decision.reason) == (False, "Cervi's own structured report")


def test_cervi_own_key_image_is_ignored_even_if_it_looks_cervical() -> None:
    key = meta(sop_class=SC, Modality="DX", Manufacturer="CERVI ", SeriesDescription="HWS flex")
    decision = decide_instance(key, CONFIG)
    assert (decision.accepted, decision.reason) == (False, "Cervi's own key image")


def test_other_structured_reports_are_ignored() -> None:
    decision = decide_instance(meta(sop_class="1.2.840.10008.5.1.4.1.1.88.11"), CONFIG)
    assert decision.reason == "a structured report"


def test_patient_conflict() -> None:
    assert patient_conflict(meta(patient="P1"), "P1") is None
    assert patient_conflict(meta(patient="P2"), "P1") is not None


# --- studies: series layouts, repeats, completeness, the quiet timer --------------------------


def _members(metas: list[InstanceMeta]) -> list[Member]:
    tentative = {r.name for r in CONFIG.view_rules if r.tentative}
    result = []
    for minute, m in enumerate(metas):
        decision = decide_instance(m, CONFIG)
        assert decision.accepted
        result.append(
            replace(
                member(m.sop_instance_uid, decision.view, minute),
                tentative=decision.rule in tentative,
            )
        )
    return result


def test_three_series_study_is_complete_and_dispatched_at_once() -> None:
    metas = [
        meta("1.1", "1.10", SeriesDescription="HWS Reklination"),
        meta("1.2", "1.20", SeriesDescription="HWS neutral"),
        meta("1.3", "1.30", SeriesDescription="HWS Inklination"),
    ]
    assessment = assess(_members(metas))
    assert assessment.complete
    assert assessment.chosen == {View.EXTENSION: "1.1", View.NEUTRAL: "1.2", View.FLEXION: "1.3"}
    assert after_arrival(assessment, T0, CONFIG).step == Step.DISPATCH


def test_one_series_study_told_apart_by_image_comments() -> None:
    metas = [
        meta(f"1.{i}", "1.10", SeriesDescription="HWS lateral Funktion", ImageComments=text)
        for i, text in enumerate(["EXT", "NEUTRAL", "FLEX"])
    ]
    assessment = assess(_members(metas))
    assert assessment.complete
    assert set(assessment.chosen.values()) == {"1.0", "1.1", "1.2"}


def test_bare_lateral_on_every_image_leaves_the_views_to_the_images() -> None:
    """A site that calls all three dynamic views "C-spine lat": no repeats of one neutral view."""
    metas = [meta(f"1.{i}", f"1.{i}0", SeriesDescription="C-Spine lat") for i in range(3)]
    assert decide_instance(metas[0], CONFIG).view == View.NEUTRAL  # alone, lateral means neutral
    one = assess(_members(metas[:1]))
    assert one.chosen == {View.NEUTRAL: "1.0"}
    assert after_arrival(one, T0, CONFIG).step == Step.WAIT
    two = assess(_members(metas[:2]))
    assert (two.chosen, two.superseded, two.unknown) == ({}, frozenset(), ("1.0", "1.1"))
    assert after_arrival(two, T0, CONFIG).step == Step.WAIT
    three = assess(_members(metas))
    assert three.unknown == ("1.0", "1.1", "1.2") and not three.superseded
    plan = after_arrival(three, T0, CONFIG)
    assert (plan.step, plan.partial) == (Step.DISPATCH, False)
    assert plan.reason == "3 image(s) of unknown view for the model to place"


def test_bare_lateral_beside_named_views_fills_the_one_they_miss() -> None:
    named = [
        meta("1.1", "1.10", SeriesDescription="HWS Reklination"),
        meta("1.2", "1.20", SeriesDescription="HWS lat"),
        meta("1.3", "1.30", SeriesDescription="HWS lat"),
    ]
    assessment = assess(_members(named))
    assert assessment.chosen == {View.EXTENSION: "1.1"}
    assert assessment.unknown == ("1.2", "1.3")
    assert after_arrival(assessment, T0, CONFIG).step == Step.DISPATCH
    complete = [*named[:2], meta("1.3", "1.30", SeriesDescription="HWS Inklination")]
    complete.append(meta("1.4", "1.20", SeriesDescription="HWS lat"))  # a repeat of neutral
    assessment = assess(_members(complete))
    assert assessment.chosen[View.NEUTRAL] == "1.4"
    assert (assessment.superseded, assessment.unknown) == ({"1.2"}, ())


def test_unknown_images_wait_unless_they_fill_the_missing_views_exactly() -> None:
    one_for_two = assess([member("1.1", View.NEUTRAL), member("1.2", View.UNKNOWN, 1)])
    assert after_arrival(one_for_two, T0, CONFIG).step == Step.WAIT
    named = [member("1.1", View.NEUTRAL), member("1.2", View.FLEXION, 1)]
    one_for_one = assess([*named, member("1.3", View.UNKNOWN, 2)])
    assert after_arrival(one_for_one, T0, CONFIG).step == Step.DISPATCH
    two_for_one = assess([*named, member("1.3", View.UNKNOWN, 2), member("1.4", View.UNKNOWN, 3)])
    assert after_arrival(two_for_one, T0, CONFIG).step == Step.WAIT  # the timer, then the images


def test_repeat_exposure_latest_wins_by_acquisition_time() -> None:
    late_arrival_early_exposure = member("1.1", View.FLEXION, 5, acquired="20261127101000.000000")
    early_arrival_late_exposure = member("1.2", View.FLEXION, 1, acquired="20261127101500.000000")
    assessment = assess([late_arrival_early_exposure, early_arrival_late_exposure])
    assert assessment.chosen[View.FLEXION] == "1.2"
    assert assessment.superseded == {"1.1"}


def test_repeat_exposure_without_times_latest_arrival_wins() -> None:
    assessment = assess([member("1.2", View.NEUTRAL, 3), member("1.1", View.NEUTRAL, 1)])
    assert (assessment.chosen[View.NEUTRAL], assessment.superseded) == ("1.2", {"1.1"})


def test_missing_views_wait_then_partial() -> None:
    config = AssemblyConfig(quiet_seconds=2, min_views=2)
    assessment = assess([member("1.1", View.EXTENSION), member("1.2", View.FLEXION, 1)])
    waiting = after_arrival(assessment, T0, config)
    assert (waiting.step, waiting.due_at) == (Step.WAIT, T0 + timedelta(seconds=2))
    fired = on_quiet_timer(assessment, config)
    assert (fired.step, fired.partial, fired.reason) == (
        Step.DISPATCH,
        True,
        "partial: missing neutral",
    )


def test_too_few_views_are_not_analysed() -> None:
    assessment = assess([member("1.1", View.NEUTRAL)])
    fired = on_quiet_timer(assessment, AssemblyConfig(min_views=2))
    assert (fired.step, fired.reason) == (
        Step.NOT_ANALYSED,
        "not analysed: missing extension, flexion",
    )


def test_on_timeout_not_analysed_never_analyses_a_partial_study() -> None:
    assessment = assess([member("1.1", View.NEUTRAL), member("1.2", View.FLEXION, 1)])
    config = AssemblyConfig(min_views=2, on_timeout="not_analysed")
    assert on_quiet_timer(assessment, config).step == Step.NOT_ANALYSED


def test_unknown_instances_may_fill_missing_views_at_the_timer() -> None:
    assessment = assess([member("1.1", View.NEUTRAL), member("1.2", View.UNKNOWN, 1)])
    assert not assessment.complete
    assert assessment.unknown == ("1.2",)
    fired = on_quiet_timer(assessment, AssemblyConfig(min_views=2))
    assert fired.partial
    assert fired.reason == (
        "partial: missing extension, flexion; 1 image(s) of unknown view for the model to place"
    )
    assert on_quiet_timer(assessment, AssemblyConfig(min_views=3)).step == Step.NOT_ANALYSED


def test_a_study_with_nothing_taken_is_ignored() -> None:
    assert after_arrival(assess([]), T0, CONFIG).step == Step.IGNORE


# --- grouping ---------------------------------------------------------------------------------


def test_study_key_default_never_groups_across_studies() -> None:
    near = [GroupCandidate(7, datetime(2026, 11, 27, 10, 0))]
    assert choose_group(datetime(2026, 11, 27, 10, 5), near, CONFIG) is None


def test_patient_window_joins_the_closest_group_inside_the_window() -> None:
    config = AssemblyConfig(study_key="patient_window", patient_window=timedelta(hours=1))
    candidates = [
        GroupCandidate(1, datetime(2026, 11, 27, 8, 0)),
        GroupCandidate(2, datetime(2026, 11, 27, 10, 0)),
        GroupCandidate(3, datetime(2026, 11, 27, 10, 20)),
    ]
    assert choose_group(datetime(2026, 11, 27, 10, 15), candidates, config) == 3
    assert choose_group(datetime(2026, 11, 27, 13, 0), candidates, config) is None


def test_header_times() -> None:
    assert study_datetime({"StudyDate": "20261127", "StudyTime": "101502.123"}) == datetime(
        2026, 11, 27, 10, 15, 2
    )
    assert study_datetime({"StudyDate": "2026"}) is None
    assert acquired_at({"AcquisitionDateTime": "20261127101502.5+0100"}) == "20261127101502.500000"
    assert acquired_at({"ContentDate": "20261127", "ContentTime": "1015"}) == (
        "20261127101500.000000"
    )
    assert acquired_at({}) is None
