"""Rules of study assembly as data: which instances enter, which view each one shows.

A rule reads one *field* of the instance's header facts (``dicom_node.instance.header_fields``):

- a plain attribute keyword (``SeriesDescription``, ``Modality``, ...): its text value;
- a code sequence (``ViewCodeSequence``, ``ViewModifierCodeSequence``, ``AnatomicRegionSequence``):
  each code rendered as ``SCHEME:VALUE`` (e.g. ``SCT:9964006``);
- ``<sequence>.CodeMeaning``: the meanings of those codes, as text;
- ``SOPClassUID``.

Patterns are Python regular expressions, searched (not anchored), case-insensitive unless a rule
says otherwise. Rules are ordered and the first that decides wins; a site's own rules come before
the defaults below (``assembly.view_rules`` / ``assembly.accept`` in ``config.yaml``).

The default view rules go from the most specific field to the least: codes, then the per-image
texts (ImageComments, AcquisitionDeviceProcessingDescription, code meanings), then the per-series
texts (SeriesDescription, ProtocolName). Flexion and extension come before neutral everywhere, so
that "HWS lateral Inklination" is flexion, and the bare "lateral" spellings, which only say that
the image is a lateral view, are the last resort for neutral: tentative, since a site that labels
all three views "C-spine lat" leaves them to the image.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from inference.result import VIEWS, View


@dataclass(frozen=True)
class Code:
    """A coded concept as DICOM writes it (PS3.3 Table 8.8-1), with its meaning."""

    scheme: str
    value: str
    meaning: str

    @property
    def key(self) -> str:
        return f"{self.scheme}:{self.value}"


# Codes the default rules read (SNOMED CT). Flexion and Extension are the view modifiers that
# docs/views.md lists; 122494005 is "cervical vertebral column structure", the code DICOM's
# "Cervical spine" (body part CSPINE) stands for.
FLEXION = Code("SCT", "9964006", "Flexion")
EXTENSION = Code("SCT", "24154002", "Extension")
CERVICAL_SPINE = Code("SCT", "122494005", "Cervical spine")

SR_SOP_CLASS_PREFIX = "1.2.840.10008.5.1.4.1.1.88."
SECONDARY_CAPTURE_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.7"

CODE_FIELDS = ("ViewCodeSequence", "ViewModifierCodeSequence", "AnatomicRegionSequence")
MEANING_FIELDS = tuple(f"{name}.CodeMeaning" for name in CODE_FIELDS)
TEXT_FIELDS = (
    "Modality",
    "BodyPartExamined",
    "StudyDescription",
    "SeriesDescription",
    "ProtocolName",
    "ImageComments",
    "AcquisitionDeviceProcessingDescription",
    "ViewPosition",
    "PatientOrientation",
    "Manufacturer",
)
RULE_FIELDS = frozenset((*TEXT_FIELDS, *CODE_FIELDS, *MEANING_FIELDS, "SOPClassUID"))


class RuleError(ValueError):
    """A rule cannot be used: unknown field or invalid pattern; the message names the rule."""


@dataclass(frozen=True)
class _Rule:
    name: str
    field: str
    pattern: str
    case_sensitive: bool = False
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name:
            raise RuleError("a rule needs a name")
        if self.field not in RULE_FIELDS:
            known = ", ".join(sorted(RULE_FIELDS))
            raise RuleError(f"rule {self.name!r}: unknown field {self.field!r} (known: {known})")
        flags = 0 if self.case_sensitive else re.IGNORECASE
        try:
            compiled = re.compile(self.pattern, flags)
        except re.error as exc:
            raise RuleError(f"rule {self.name!r}: invalid pattern: {exc}") from None
        object.__setattr__(self, "regex", compiled)

    def matches(self, values: tuple[str, ...]) -> str | None:
        """The first of ``values`` the pattern is found in, or None."""
        return next((v for v in values if self.regex.search(v)), None)


@dataclass(frozen=True)
class ViewRule(_Rule):
    """If ``field`` matches ``pattern``, the instance shows ``view``.

    A ``tentative`` rule only says that the image is a lateral one (a bare "lateral" means
    neutral): its view holds while one image of the study claims it, but several such images in a
    study that lacks other views are left to the images to tell apart
    (``dicom_node.assembly.assess``).
    """

    view: View = View.UNKNOWN
    tentative: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.view not in VIEWS:
            raise RuleError(f"rule {self.name!r}: view must be extension, neutral or flexion")


@dataclass(frozen=True)
class AcceptRule(_Rule):
    """Within its ``group``, the first matching rule decides: take (``accept``) or ignore.

    An instance enters only when every group has a rule that matched and accepted it.
    """

    group: str = "region"
    accept: bool = True


# Spellings, English and German. The flexion pattern does not fire on "Retro-Flexion".
_FLEXION_WORDS = (
    r"(?<!retro-)(?<!retro )\b(ante-?)?flex(ion|ed|\.)?\b|\binklination\b|\binclination\b"
    r"|\bvorneigung\b|\bbeugung\b"
)
_EXTENSION_WORDS = (
    r"\bext(\.|ension|ended)?\b|\bhyper-?extension\b|\bretro-?flex(ion)?\b"
    r"|\breklination\b|\breclination\b|\brückneigung\b|\bstreckung\b"
)
_NEUTRAL_WORDS = r"\bneut(ral\w*)?\b|\bneutralstellung\b|\bmittelstellung\b|\bnullstellung\b"
_LATERAL_WORDS = r"\blat(\.|eral)?\b|\bseitl(ich|\.)?\b|\bseitlich\w*\b"


def _code_pattern(code: Code) -> str:
    return f"^{re.escape(code.key)}$"


_CODE_RULES = (
    ViewRule("view_modifier_code_flexion", "ViewModifierCodeSequence", _code_pattern(FLEXION),
             view=View.FLEXION),
    ViewRule("view_modifier_code_extension", "ViewModifierCodeSequence", _code_pattern(EXTENSION),
             view=View.EXTENSION),
    ViewRule("view_code_flexion", "ViewCodeSequence", _code_pattern(FLEXION), view=View.FLEXION),
    ViewRule("view_code_extension", "ViewCodeSequence", _code_pattern(EXTENSION),
             view=View.EXTENSION),
)  # fmt: skip

# Per-image texts first, then per-series texts (see the module docstring).
_TEXT_RULE_FIELDS = (
    ("image_comments", "ImageComments"),
    ("processing_description", "AcquisitionDeviceProcessingDescription"),
    ("view_modifier_meaning", "ViewModifierCodeSequence.CodeMeaning"),
    ("view_meaning", "ViewCodeSequence.CodeMeaning"),
    ("series_description", "SeriesDescription"),
    ("protocol_name", "ProtocolName"),
)


def _text_rules(
    words: str, suffix: str, view: View, tentative: bool = False
) -> tuple[ViewRule, ...]:
    return tuple(
        ViewRule(f"{prefix}_{suffix}", name, words, view=view, tentative=tentative)
        for prefix, name in _TEXT_RULE_FIELDS
    )


DEFAULT_VIEW_RULES: tuple[ViewRule, ...] = (
    *_CODE_RULES,
    *_text_rules(_EXTENSION_WORDS, "extension", View.EXTENSION),
    *_text_rules(_FLEXION_WORDS, "flexion", View.FLEXION),
    *_text_rules(_NEUTRAL_WORDS, "neutral", View.NEUTRAL),
    *_text_rules(_LATERAL_WORDS, "lateral_as_neutral", View.NEUTRAL, tentative=True),
)

# Body parts that say "somewhere in the spine or neck" without naming the cervical spine: they
# neither accept nor veto, the descriptions decide.
_GENERIC_BODY_PART = r"^(?!(spine|whole ?spine|wirbelsaeule|wirbelsäule|neck|head ?neck|hals)$)."
_CERVICAL_WORDS = (
    r"\bc-?spine\b|\bcspine\b|\bcervical\b|\bhws\b|\bhalswirbel\w*|\bzervikal\w*|\bcervikal\w*"
)

DEFAULT_ACCEPT_RULES: tuple[AcceptRule, ...] = (
    AcceptRule("radiograph_modality", "Modality", r"^(CR|DX|RG|DR)$", group="modality"),
    AcceptRule("body_part_cervical", "BodyPartExamined", r"^(c-?spine|cervical ?spine|hws)$"),
    AcceptRule("body_part_other", "BodyPartExamined", _GENERIC_BODY_PART, accept=False),
    AcceptRule("anatomic_region_cervical", "AnatomicRegionSequence", _code_pattern(CERVICAL_SPINE)),
    AcceptRule("study_description_cervical", "StudyDescription", _CERVICAL_WORDS),
    AcceptRule("series_description_cervical", "SeriesDescription", _CERVICAL_WORDS),
    AcceptRule("protocol_name_cervical", "ProtocolName", _CERVICAL_WORDS),
)
