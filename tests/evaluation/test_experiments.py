"""The conditions of the evaluation's sweeps: a frozen type whose key, folder name and policy
every part of the harness and the report agree on."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from lamigo.errors import ConfigError
from lamigo.evaluation import experiments
from lamigo.evaluation.experiments import (CONDITION_FIELDS, EXPERIMENTS, Condition, cell_text, condition_key,
                                           parse_step_settings)


def test_a_condition_is_frozen_and_keyed_as_its_csv_row():
    condition = Condition(policy="prm", ratio=0.25, sampling="lami", setup=1, rate=0.2, tau=4, steps=8)
    with pytest.raises(dataclasses.FrozenInstanceError):
        condition.ratio = 0.35
    csv_row = {name: cell_text(value) for name, value in condition.as_row().items()}
    assert condition.key == condition_key(csv_row)
    assert condition.key == ("prm", "0.25", "", "lami-go", "lami", "1", "0.2", "4", "8", "", "")
    assert condition.slug(("setup", "rate", "tau", "steps")) == "setup-1_rate-0.2_tau-4_steps-8"
    assert tuple(condition.as_row()) == CONDITION_FIELDS


def test_a_condition_builds_its_policy():
    assert Condition(policy="prm", ratio=0.35).masking_policy(seed=7).describe() == "prm(ratio=0.350, seed=7)"
    assert Condition(policy="ebm", ratio=0.25, order="highest").masking_policy(0).describe() == \
        "ebm(ratio=0.250, order=highest)"
    assert Condition(policy="pdm", ratio=0.25).masking_policy(0).describe() == "pdm(pattern=2x2)"
    with pytest.raises(ConfigError, match="PDM"):
        Condition(policy="pdm", ratio=0.35)


@pytest.mark.parametrize("experiment", EXPERIMENTS.values(), ids=lambda e: e.name)
@pytest.mark.parametrize("quick", [True, False])
def test_every_sweep_is_distinct_conditions(experiment, quick):
    conditions = experiment.conditions(quick)
    assert conditions and all(isinstance(condition, Condition) for condition in conditions)
    assert len({condition.key for condition in conditions}) == len(conditions)
    assert len({condition.slug(experiment.keys) for condition in conditions}) == len(conditions)


def test_the_report_does_not_import_the_harness():
    """The harness writes the report; the report needs nothing of the harness (no import circle)."""
    folder = Path(experiments.__file__).parent
    for module in ("report", "experiments"):
        tree = ast.parse((folder / f"{module}.py").read_text())
        imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        assert "lamigo.evaluation.harness" not in imported, module


def test_steps_keep_lami_go_at_those_settings_and_every_baseline():
    per = EXPERIMENTS["per"]
    kept = per.conditions(False, parse_step_settings("4/8"))
    assert {(c.tau, c.steps) for c in kept if c.codec == "lami-go"} == {(4, 8)}
    baselines = [c for c in per.conditions(False) if c.codec != "lami-go"]
    assert [c for c in kept if c.codec != "lami-go"] == baselines
    assert len(kept) < len(per.conditions(False))
    assert parse_step_settings("4/8, 28/32,4/8") == ((4, 8), (28, 32))
    for bad in ("8", "9/8", "4/0", "a/b", ""):
        with pytest.raises(ConfigError, match="TAU/T"):
            parse_step_settings(bad)
