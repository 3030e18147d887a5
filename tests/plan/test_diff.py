"""Change classification, table-driven on small synthetic plans."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from compiler.plan.diff import compare, diff_plans, empty_baseline
from compiler.plan.model import Plan, PlannedResource
from platform_iac.naming import SpecRef

BUCKET = "aws:s3/bucket:Bucket"
NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
NAMESPACE = "kubernetes:core/v1:Namespace"
ROLE = "aws:iam/role:Role"


def resource(type_: str, name: str, inputs: dict, **options) -> PlannedResource:
    return PlannedResource(
        key=f"{type_}::{name}",
        type=type_,
        name=name,
        kind="resource",
        parent=None,
        provider=None,
        inputs=inputs,
        dependencies=(),
        protect=options.get("protect", False),
        retain_on_delete=options.get("protect", False),
        delete_before_replace=False,
        ignore_changes=tuple(options.get("ignore", ())),
        spec=options.get("spec", SpecRef("platform", "cluster")),
    )


def plan(*resources: PlannedResource) -> Plan:
    return Plan("prod", "aws", "acme-platform", "prod", "1.31", resources)


def policy(*actions: str) -> str:
    return json.dumps({"Statement": [{"Action": list(actions), "Effect": "Allow"}]})


CASES = [
    pytest.param(
        resource(BUCKET, "b", {"bucket": "acme-b", "tags": {"a": "1"}}, protect=True),
        resource(BUCKET, "b", {"bucket": "acme-b", "tags": {"a": "2"}}, protect=True),
        ("update", True, False, ["tags.a"]),
        id="tag-change-is-metadata-only",
    ),
    pytest.param(
        resource(BUCKET, "b", {"bucket": "acme-b"}, protect=True),
        resource(BUCKET, "b", {"bucket": "acme-c"}, protect=True),
        ("replace", False, True, ["bucket"]),
        id="bucket-rename-replaces-and-is-destructive",
    ),
    pytest.param(
        resource(
            NODE_GROUP, "g", {"instanceTypes": ["g4dn.xlarge"], "scalingConfig": {"maxSize": 4}}
        ),
        resource(
            NODE_GROUP, "g", {"instanceTypes": ["g4dn.2xlarge"], "scalingConfig": {"maxSize": 4}}
        ),
        ("replace", False, False, ["instanceTypes"]),
        id="instance-types-replace-a-node-group",
    ),
    pytest.param(
        resource(
            NODE_GROUP,
            "g",
            {"scalingConfig": {"maxSize": 4, "desiredSize": 1}},
            ignore=["scalingConfig.desiredSize"],
        ),
        resource(
            NODE_GROUP,
            "g",
            {"scalingConfig": {"maxSize": 8, "desiredSize": 2}},
            ignore=["scalingConfig.desiredSize"],
        ),
        ("update", False, False, ["scalingConfig.maxSize"]),
        id="scaling-updates-in-place-and-ignored-fields-stay-out",
    ),
    pytest.param(
        resource(
            NAMESPACE,
            "team-a",
            {
                "metadata": {
                    "name": "team-a",
                    "labels": {"pod-security.kubernetes.io/enforce": "restricted"},
                }
            },
        ),
        resource(
            NAMESPACE,
            "team-a",
            {
                "metadata": {
                    "name": "team-a",
                    "labels": {"pod-security.kubernetes.io/enforce": "baseline"},
                }
            },
        ),
        ("update", False, False, ["metadata.labels.pod-security.kubernetes.io/enforce"]),
        id="security-labels-are-not-metadata-only",
    ),
    pytest.param(
        resource(NAMESPACE, "team-a", {"metadata": {"name": "team-a"}}),
        resource(NAMESPACE, "team-a", {"metadata": {"name": "team-b"}}),
        ("replace", False, True, ["metadata.name"]),
        id="renaming-a-namespace-is-destructive",
    ),
    pytest.param(
        resource(ROLE, "r", {"name": "r", "assumeRolePolicy": policy("s3:GetObject")}),
        resource(
            ROLE, "r", {"name": "r", "assumeRolePolicy": policy("s3:GetObject", "s3:PutObject")}
        ),
        ("update", False, False, ["assumeRolePolicy.Statement"]),
        id="policy-documents-are-compared-as-documents",
    ),
    pytest.param(
        resource(BUCKET, "b", {"bucket": "acme-b"}, protect=True),
        resource(BUCKET, "b", {"bucket": "acme-b"}, protect=False),
        ("update", False, False, ["(protect)", "(retain_on_delete)"]),
        id="lifting-protection-is-an-update",
    ),
]


@pytest.mark.parametrize(("before", "after", "expected"), CASES)
def test_classification(before, after, expected):
    kind, metadata_only, destructive, fields = expected
    change = compare(before, after)
    assert change is not None
    assert (change.kind, change.metadata_only, change.destructive) == (
        kind,
        metadata_only,
        destructive,
    )
    assert [f.dotted() for f in change.fields] == fields


def test_unchanged_resources_are_not_changes():
    same = resource(BUCKET, "b", {"bucket": "acme-b"})
    assert compare(same, replace(same)) is None
    assert diff_plans(plan(same), plan(same)).unchanged == 1


def test_deletes_of_protected_or_stateful_resources_are_destructive_and_listed_first():
    kept = resource(ROLE, "kept", {"name": "kept"})
    base = plan(
        kept,
        resource(BUCKET, "data", {"bucket": "acme-data"}, protect=True),
        resource(ROLE, "gone", {"name": "gone"}),
    )
    head = plan(kept, resource(ROLE, "new", {"name": "new"}))
    diff = diff_plans(base, head)
    assert [(c.kind, c.name, c.destructive) for c in diff.changes] == [
        ("delete", "data", True),
        ("delete", "gone", False),
        ("create", "new", False),
    ]
    assert "protected" in diff.changes[0].reason and "retain_on_delete" in diff.changes[0].reason
    assert diff.unchanged == 1


def test_rolling_updates_are_flagged():
    before = resource(
        "aws:ec2/launchTemplate:LaunchTemplate",
        "t",
        {"metadataOptions": {"httpTokens": "optional"}},
    )
    after = resource(
        "aws:ec2/launchTemplate:LaunchTemplate",
        "t",
        {"metadataOptions": {"httpTokens": "required"}},
    )
    change = compare(before, after)
    assert change is not None and change.kind == "update" and change.rolling
    assert "rolling" in change.reason


def test_an_empty_baseline_creates_everything(prod):
    diff = diff_plans(empty_baseline(prod), prod)
    assert {c.kind for c in diff.changes} == {"create"}
    assert len(diff.changes) == len(prod.managed())


STATEFUL_CLUSTER_PARTS = [
    pytest.param("aws:eks/cluster:Cluster", "acme-prod", "name", id="cluster"),
    pytest.param("aws:kms/key:Key", "acme-prod-secrets", "keySpec", id="secrets-key"),
    pytest.param(
        "aws:cloudwatch/logGroup:LogGroup", "acme-prod-control-plane", "name", id="log-group"
    ),
]


@pytest.mark.parametrize(("type_", "name", "forcing"), STATEFUL_CLUSTER_PARTS)
def test_deleting_or_replacing_the_cluster_its_key_or_its_logs_is_destructive(
    prod, type_, name, forcing
):
    (part,) = [r for r in prod.managed() if r.type == type_ and r.name == name]
    assert part.protect and part.retain_on_delete
    others = tuple(r for r in prod.resources if r.key != part.key)
    deleted = diff_plans(prod, replace(prod, resources=others))
    (change,) = deleted.changes
    assert (change.kind, change.destructive, change.protected) == ("delete", True, True)
    assert "Pulumi refuses to delete it" in change.reason
    renamed = replace(part, inputs={**part.inputs, forcing: "changed"})
    change = compare(part, renamed)
    assert change is not None and (change.kind, change.destructive) == ("replace", True)
    unprotected = replace(part, protect=False, retain_on_delete=False)
    gone = diff_plans(plan(unprotected), plan())
    assert gone.changes[0].destructive  # stateful even without protection
