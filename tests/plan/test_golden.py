"""Golden plan and report of a small organisation (tests/golden/plan/configs/), reported
against a baseline that differs in a node pool's instance type, a quota, a scratch bucket
and an endpoint. `make golden` (MLPLAT_UPDATE_GOLDEN=1) rewrites the expected files;
review them as a diff."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from compiler.frontend import load_platform
from compiler.plan.diff import diff_plans
from compiler.plan.manifests import kubernetes_objects, validate_objects
from compiler.plan.mocks import run_program
from compiler.plan.report import Baseline, render_report

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "plan"
UPDATE = os.environ.get("MLPLAT_UPDATE_GOLDEN") == "1"
BASELINE_OVERRIDES = [
    "node_pools.gpu.instance_types=[g5.xlarge]",
    "teams.ml.quotas.cpu=8",
    "~teams.ml.endpoints.custom-scorer",
    "+buckets.scratch.purpose=datasets",
    "+buckets.scratch.protect=false",
]

pytestmark = pytest.mark.golden


@pytest.fixture(scope="module")
def produced() -> dict[str, str]:
    head = load_platform(GOLDEN / "configs")
    base = load_platform(GOLDEN / "configs", BASELINE_OVERRIDES)
    assert head.ir is not None and base.ir is not None, [d.render() for d in head.diagnostics]
    plan, base_plan = run_program(head.ir), run_program(base.ir)
    validation = validate_objects(kubernetes_objects(plan), head.ir.platform.kubernetes_version)
    assert validation.problems == []
    report = render_report(
        plan,
        head.ir,
        diff_plans(base_plan, plan),
        Baseline("`golden baseline`", base_plan, base.ir),
        validation,
    )
    return {"plan.json": plan.to_json(), "report.md": report}


@pytest.mark.parametrize("name", ["plan.json", "report.md"])
def test_matches_golden(produced, name):
    expected = GOLDEN / f"expected.{name}"
    if UPDATE:
        expected.write_text(produced[name], encoding="utf-8")
    assert expected.is_file(), "run `make golden` to create the expected files"
    assert produced[name] == expected.read_text(encoding="utf-8"), (
        f"{expected} differs: run `make golden` and review the diff"
    )
