"""The registries of what a GO message names by wire id (policies, index and caption coders):
they refuse a second class with a taken name or id, and the GRC blocks offer exactly what they
hold."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lamigo.coding import INDEX_CODERS, TEXT_CODERS
from lamigo.registry import WireRegistry
from lamigo.errors import ConfigError
from lamigo.masking import PDM_PATTERNS, POLICIES, NoMasking, policy_from_options

GRC = Path(__file__).resolve().parents[2] / "grc"
# GRC parameter ids and the registry their enum must list.
ENUMS = {"policy": POLICIES, "pattern": PDM_PATTERNS, "coder": INDEX_CODERS, "text_coder": TEXT_CODERS}


@pytest.mark.parametrize("registry", [POLICIES, INDEX_CODERS, TEXT_CODERS], ids=lambda r: r.what)
def test_a_taken_wire_id_or_name_is_refused(registry):
    first = next(iter(registry.values()))
    before = dict(registry)
    clash_id = type("ClashingId", (first,), {"name": "clash", "wire_id": first.wire_id})
    with pytest.raises(ValueError, match=f"wire id {first.wire_id} of 'clash' is taken by '{first.name}'"):
        registry.register(clash_id)
    clash_name = type("ClashingName", (first,), {"wire_id": registry.max_wire_id})
    with pytest.raises(ValueError, match=f"name '{first.name}' is taken"):
        registry.register(clash_name)
    assert dict(registry) == before


def test_registration_and_lookup():
    registry = WireRegistry("thing", max_wire_id=3)

    @registry.register
    class Thing:
        name, wire_id = "thing", 3

    assert registry.lookup("thing") is Thing and registry.by_wire_id(3) is Thing
    assert registry.by_wire_id(2) is None and list(registry) == ["thing"]
    with pytest.raises(ConfigError, match="unknown thing 'other'; choose one of thing"):
        registry.lookup("other")
    with pytest.raises(ValueError, match="outside"):
        registry.register(type("Far", (), {"name": "far", "wire_id": 4}))


@pytest.mark.parametrize("options, expected", [
    ({"policy": "none", "ratio": 0.5}, "none"),
    ({"policy": "prm", "ratio": 0.3, "seed": 7, "pattern": "rows"}, "prm(ratio=0.300, seed=7)"),
    ({"policy": "pdm", "ratio": 0.9, "pattern": "3x3"}, "pdm(pattern=3x3)"),
    ({"policy": "ebm", "ratio": 0.4, "order": "highest"}, "ebm(ratio=0.400, order=highest)"),
    ({"policy": "ebm", "ratio": 0.4, "threshold": 0.2}, "ebm(threshold=0.2, order=lowest)"),
])
def test_a_policy_takes_the_options_it_has(options, expected):
    assert policy_from_options(**options).describe() == expected


def test_policy_options_are_checked():
    with pytest.raises(ConfigError, match="unknown masking policy 'lzw'"):
        policy_from_options("lzw")
    with pytest.raises(ConfigError, match="ratio must lie in"):
        policy_from_options("prm", ratio=2.0)
    assert isinstance(policy_from_options("none"), NoMasking)


def _enum_parameters() -> list[tuple[str, dict]]:
    found = []
    for path in sorted(GRC.glob("*.yml")):
        block = yaml.safe_load(path.read_text())
        found += [(path.name, parameter) for parameter in block.get("parameters", [])
                  if parameter.get("id") in ENUMS and parameter.get("dtype") == "enum"]
    return found


def test_the_grc_blocks_offer_exactly_the_registered_choices():
    parameters = _enum_parameters()
    assert {parameter["id"] for _, parameter in parameters} == set(ENUMS)  # the Image Source's
    for file, parameter in parameters:
        registry = ENUMS[parameter["id"]]
        assert sorted(map(str, parameter["options"])) == sorted(registry), (file, parameter["id"])
        assert str(parameter["default"]) in registry, (file, parameter["id"])
        labels = parameter.get("option_labels")
        assert labels is None or len(labels) == len(parameter["options"]), (file, parameter["id"])
