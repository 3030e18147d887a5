"""Acceptance: edit a copy of configs/ (a node pool's instance type, a bucket removed, an
endpoint added) and check that `mlplat plan --base <earlier build>` classifies each change."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from compiler.cli import main
from compiler.frontend import load_platform
from compiler.plan.outputs import plan_outputs
from compiler.plan.report import Baseline
from tests.helpers import apply_edits
from tests.platform_iac.planning import CONFIGS

NEW_ENDPOINT = """
  query-ranker:
    description: Second ranker for the query autocomplete box
    model: search-ranker
    runtime: sklearn
    min_replicas: 2
    max_replicas: 3
    resources: {cpu: 500m, memory: 1Gi}
    latency_objective: {percentile: 99, target_ms: 40}
"""
EDITS = {
    "replace": [
        {
            "file": "platform.yaml",
            "old": "    instance_types: [g4dn.xlarge]",
            "new": "    instance_types: [g4dn.2xlarge]",
        },
        {
            "file": "platform.yaml",
            "old": "  transactions:\n    description: Raw card transactions (personal data)\n"
            "    purpose: datasets\n    classification: pii\n    lifecycle:\n"
            "      expire_after_days: 730\n",
            "new": "",
        },
        {
            "file": "teams/fraud.yaml",
            "old": "  - {bucket: transactions, access: read}\n",
            "new": "",
        },
        {
            "file": "teams/search.yaml",
            "old": "    latency_objective: {percentile: 99, target_ms: 30}\n",
            "new": "    latency_objective: {percentile: 99, target_ms: 30}\n" + NEW_ENDPOINT,
        },
    ]
}


@pytest.fixture(scope="module")
def baseline_build(tmp_path_factory) -> Path:
    """An earlier build of the unchanged example organisation."""
    build = tmp_path_factory.mktemp("base-build")
    result = load_platform(CONFIGS, ["env=prod"])
    outcome = plan_outputs(result, Baseline("none", None, None), build)
    assert not outcome.diagnostics, [d.render() for d in outcome.diagnostics]
    return build / "prod"


@pytest.fixture(scope="module")
def planned(baseline_build, tmp_path_factory) -> dict:
    configs = tmp_path_factory.mktemp("edited") / "configs"
    import shutil

    shutil.copytree(CONFIGS, configs)
    apply_edits(configs, EDITS)
    build = tmp_path_factory.mktemp("head-build")
    code = main(
        [
            "plan",
            "--env",
            "prod",
            "--configs",
            str(configs),
            "--build-dir",
            str(build),
            "--base",
            str(baseline_build),
            "--no-color",
        ]
    )
    assert code == 0
    out = build / "prod"
    return {
        "changes": json.loads((out / "changes.json").read_text())["changes"],
        "report": (out / "report.md").read_text(),
        "dir": out,
    }


def _change(planned, type_: str, name: str) -> dict:
    (found,) = [c for c in planned["changes"] if c["type"] == type_ and c["name"] == name]
    return found


def test_instance_type_change_replaces_the_node_group_with_blast_radius(planned):
    change = _change(planned, "aws:eks/nodeGroup:NodeGroup", "gpu-t4")
    assert change["kind"] == "replace" and not change["destructive"]
    (field,) = [f for f in change["fields"] if f["forces_replacement"]]
    assert (field["path"], field["before"], field["after"]) == (
        "instanceTypes",
        ["g4dn.xlarge"],
        ["g4dn.2xlarge"],
    )
    assert "- **node pool gpu-t4** (replace): endpoints recsys/ranker" in planned["report"]


def test_deleting_a_protected_bucket_is_destructive_and_listed_first(planned):
    change = _change(planned, "aws:s3/bucket:Bucket", "transactions")
    assert change["kind"] == "delete" and change["destructive"] and change["protected"]
    assert "retain_on_delete" in change["reason"]
    report = planned["report"]
    destructive = report.index("### Destructive changes")
    assert destructive < report.index("### Summary by team and spec object")
    row = next(line for line in report.splitlines() if "`aws:s3:Bucket` `transactions`" in line)
    assert row.startswith("| **delete** |") and "bucket transactions" in row
    children = [
        c
        for c in planned["changes"]
        if c["spec"] == {"kind": "bucket", "name": "transactions", "team": None}
    ]
    assert {c["kind"] for c in children} == {"delete"} and len(children) == 8
    grant = _change(planned, "aws:iam/rolePolicy:RolePolicy", "fraud-workload-buckets")
    assert grant["kind"] == "update"


def test_a_new_endpoint_is_created(planned):
    change = _change(
        planned,
        "kubernetes:serving.kserve.io/v1beta1:InferenceService",
        "team-search/query-ranker",
    )
    assert change["kind"] == "create"
    assert change["spec"] == {"kind": "endpoint", "name": "query-ranker", "team": "search"}
    assert "| search | endpoint search/query-ranker | 1 |" in planned["report"]


def test_nothing_else_changes(planned):
    touched = {(c["spec"]["kind"], c["spec"]["name"]) for c in planned["changes"]}
    assert touched == {
        ("node_pool", "gpu-t4"),
        ("bucket", "transactions"),
        ("team", "fraud"),
        ("endpoint", "query-ranker"),
    }


def test_cost_delta_follows_the_changes(planned):
    report = planned["report"]
    (t4,) = [line for line in report.splitlines() if line.startswith("| node pools | gpu-t4 |")]
    # 2 to 8 nodes at $0.752 instead of $0.526 an hour
    assert "| $1,098 | $4,392 | +$330 | +$1,320 |" in t4
    (new,) = [line for line in report.splitlines() if "search/query-ranker" in line and "$" in line]
    assert "+$" in new
    assert len(report) < 65_000
    assert report.startswith("<!-- mlplat:plan-report -->")


def test_manifests_and_plan_are_written(planned):
    out = planned["dir"]
    assert (out / "manifests" / "team-search.inferenceservice.query-ranker.yaml").is_file()
    assert (out / "ir.json").is_file() and (out / "plan.json").is_file()
    assert sorted(p.name for p in (out / "pipelines").iterdir()) == [
        "chargeback",
        "forecast",
        "fraud",
        "recsys",
        "search",
    ]
