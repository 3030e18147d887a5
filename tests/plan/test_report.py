"""report.md: ready to paste into a pull request, whatever the size of the change."""

from __future__ import annotations

from compiler.plan.diff import diff_plans
from compiler.plan.manifests import ValidationReport
from compiler.plan.model import Plan, PlannedResource
from compiler.plan.report import MARKER, Baseline, PolicyFinding, render_report
from platform_iac.naming import SpecRef
from tests.platform_iac.planning import ir_for


def _resource(index: int, team: str, *, bucket: str, size: int, protect: bool) -> PlannedResource:
    type_ = "aws:s3/bucket:Bucket" if index % 10 == 0 else "aws:iam/rolePolicy:RolePolicy"
    return PlannedResource(
        key=f"{type_}::r{index}",
        type=type_,
        name=f"r{index}",
        kind="resource",
        parent=None,
        provider=None,
        inputs={"bucket": bucket, "policy": "x" * size, "tags": {"n": str(size)}},
        dependencies=(),
        protect=protect,
        retain_on_delete=protect,
        delete_before_replace=False,
        ignore_changes=(),
        spec=SpecRef("team", team, team),
    )


def test_a_huge_change_set_stays_under_the_comment_limit():
    base = [
        _resource(i, f"team-{i % 300}", bucket=f"b{i}", size=400, protect=True) for i in range(6000)
    ]
    head = [
        _resource(
            i,
            f"team-{i % 300}",
            bucket=f"b{i}-renamed" if i % 3 == 0 else f"b{i}",
            size=500,
            protect=True,
        )
        for i in range(3000)
    ]
    diff = diff_plans(
        Plan("prod", "aws", "p", "prod", "1.31", tuple(base)),
        Plan("prod", "aws", "p", "prod", "1.31", tuple(head)),
    )
    assert len(diff.changes) == 6000 and len(diff.destructive) > 3000
    findings = [PolicyFinding("error", "g", "m" * 200, f"r{i}") for i in range(500)]
    report = render_report(
        Plan("prod", "aws", "p", "prod", "1.31", tuple(head)),
        ir_for("prod"),
        diff,
        Baseline("`main` (abc1234)", None, ir_for("dev")),
        ValidationReport("1.31"),
        findings,
    )
    assert len(report) < 65_000
    assert report.startswith(MARKER)
    assert report.index("### Destructive changes") < report.index("### Changes")
    assert "more in changes.json" in report
    assert "are not shown here (the comment would be too long)" in report
    assert "### Monthly cost estimate" in report and "### Policy findings" in report
    assert report.count("<details>") == report.count("</details>")


def test_policy_findings_and_manifest_problems_are_reported(prod):
    validation = ValidationReport("1.31", objects=3)
    from compiler.plan.manifests import ManifestProblem

    validation.problems.append(ManifestProblem("manifests/x.yaml", "spec", "bad"))
    report = render_report(
        prod,
        ir_for("prod"),
        diff_plans(prod, prod),
        Baseline("`main` (abc1234)", prod, ir_for("prod")),
        validation,
        [PolicyFinding("warning", "G112", "too few replicas", "fraud/fraud-scorer")],
    )
    assert "no changes" in report and "nothing destructive" in report
    assert "| warning | G112 | fraud/fraud-scorer | too few replicas |" in report
    assert "- `manifests/x.yaml`: `spec`: bad" in report
    assert "> [!WARNING]" in report
    assert "```mermaid\nflowchart LR\n" in report
    assert '  subgraph team_fraud["team fraud"]' in report
    assert "  endpoint_recsys_ranker --> pool_gpu_t4" in report
    assert "  team_fraud -. write .-> bucket_models" in report
