"""Assembly settings: rules validated at load, a site's rules before the built-in ones."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cervi.assembler import assembly_config
from cervi.settings import AssemblySettings, SettingsError, load_settings
from dicom_node.assembly_rules import DEFAULT_ACCEPT_RULES, DEFAULT_VIEW_RULES


def _load(tmp_path: Path, assembly: dict) -> AssemblySettings:
    path = tmp_path / "cervi.yaml"
    path.write_text(yaml.safe_dump({"assembly": assembly}))
    return load_settings(path).assembly


def test_unknown_rule_field_stops_the_start_naming_key_and_rule(tmp_path: Path) -> None:
    rule = {"name": "mine", "field": "SeriesDescriptoin", "pattern": "x", "view": "flexion"}
    with pytest.raises(SettingsError, match=r"assembly\.view_rules\.0.*'mine'.*unknown field"):
        _load(tmp_path, {"view_rules": [rule]})


def test_invalid_pattern_stops_the_start(tmp_path: Path) -> None:
    rule = {"name": "bad", "field": "Modality", "pattern": "(", "group": "modality"}
    with pytest.raises(SettingsError, match=r"assembly\.accept\.0.*invalid pattern"):
        _load(tmp_path, {"accept": [rule]})


def test_site_rules_come_first_and_defaults_can_be_left_out(tmp_path: Path) -> None:
    rule = {"name": "mine", "field": "ImageComments", "pattern": "^B$", "view": "flexion"}
    config = assembly_config(_load(tmp_path, {"view_rules": [rule], "quiet_seconds": 2}))
    assert config.view_rules[0].name == "mine"
    assert config.view_rules[1:] == DEFAULT_VIEW_RULES
    assert config.accept_rules == DEFAULT_ACCEPT_RULES
    assert config.quiet_seconds == 2
    only = assembly_config(_load(tmp_path, {"view_rules": [rule], "default_view_rules": False}))
    assert [r.name for r in only.view_rules] == ["mine"]
