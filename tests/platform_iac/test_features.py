"""The feature store under mocks: protected, encrypted online tables; least-privilege access
per team (shared views readable only by the teams they are shared with); the feature server
and the materialization job with the restricted pod security of the platform."""

from __future__ import annotations

import pytest

from compiler.frontend import load_platform
from compiler.plan.mocks import run_program
from platform_iac.features import READ_TABLE, WRITE_TABLE, team_manifests
from tests.helpers import apply_edits
from tests.platform_iac.planning import ir_for, of_type, one, statements

TABLE = "aws:dynamodb/table:Table"
VIEWS = ["chargeback__card_activity", "chargeback__card_chargebacks", "chargeback__card_profile"]


def test_each_online_view_has_an_encrypted_protected_table(prod):
    tables = {t.name: t for t in of_type(prod, TABLE)}
    assert sorted(tables) == VIEWS
    buckets = one(prod, "aws:iam/rolePolicy:RolePolicy", "chargeback-workload-buckets")
    (use_key,) = [s for s in statements(buckets.inputs["policy"]) if s["Sid"].startswith("Use")]
    key = use_key["Resource"]  # the platform's key, as the buckets use it
    assert key.startswith("arn:aws:kms:eu-west-1:123456789012:key/")
    for name, table in tables.items():
        assert table.inputs["name"] == f"acme_prod.{name}"  # Feast's DynamoDB table name
        assert table.inputs["hashKey"] == "entity_id"
        assert table.inputs["serverSideEncryption"] == {"enabled": True, "kmsKeyArn": key}
        assert table.inputs["pointInTimeRecovery"] == {"enabled": True}
        assert table.inputs["deletionProtectionEnabled"] is True
        assert table.protect and table.retain_on_delete


def test_the_team_may_read_and_write_only_its_own_tables(prod):
    policy = statements(
        one(prod, "aws:iam/rolePolicy:RolePolicy", "chargeback-workload-features").inputs["policy"]
    )
    by_sid = {s["Sid"]: s for s in policy}
    arns = [f"arn:aws:dynamodb:eu-west-1:123456789012:table/acme_prod.{v}" for v in VIEWS]
    assert by_sid["ReadOnlineFeatures"]["Action"] == sorted(READ_TABLE)
    assert by_sid["ReadOnlineFeatures"]["Resource"] == arns
    assert by_sid["MaterializeOwnViews"]["Action"] == sorted(WRITE_TABLE)
    assert by_sid["MaterializeOwnViews"]["Resource"] == arns
    assert by_sid["ReadRegistry"]["Resource"] == (
        "arn:aws:s3:::acme-prod-artifacts/feature-store/registry.db"
    )
    assert all("*" not in str(s["Resource"]) for s in policy)
    assert all(not a.endswith("*") for s in policy for a in s["Action"])


def test_a_shared_view_is_readable_not_writable_by_the_team_it_is_shared_with(configs):
    apply_edits(
        configs,
        {
            "replace": {
                "file": "teams/chargeback.yaml",
                "old": "shared_with: [fraud]",
                "new": "shared_with: [fraud, fraud-features]",
            },
            "write": {
                "file": "teams/fraud-features.yaml",
                "text": "owners: [alice.martin@acme.example]\ncost_center: CC-1043\n"
                "quotas: {cpu: '2', memory: 4Gi}\nfeature_services:\n  card-facts:\n"
                "    features:\n      - {view: card-profile, team: chargeback}\n",
            },
        },
    )
    result = load_platform(configs, ["env=prod"])
    assert result.ok and result.ir is not None, [d.render() for d in result.diagnostics]
    plan = run_program(result.ir)
    policy = statements(
        one(plan, "aws:iam/rolePolicy:RolePolicy", "fraud-features-workload-features").inputs[
            "policy"
        ]
    )
    by_sid = {s["Sid"]: s for s in policy}
    assert by_sid["ReadOnlineFeatures"]["Resource"] == [
        "arn:aws:dynamodb:eu-west-1:123456789012:table/acme_prod.chargeback__card_profile"
    ]
    assert "MaterializeOwnViews" not in by_sid
    assert by_sid["ReadSources"]["Resource"] == [
        "arn:aws:s3:::acme-prod-datasets/chargeback/features/card_profiles.parquet"
    ]
    assert not [r for r in plan.resources if r.name.startswith("team-fraud-features/feature")]


@pytest.mark.parametrize("kind", ["Deployment", "CronJob"])
def test_feast_pods_run_restricted(kind):
    ir = ir_for("prod")
    manifest = next(
        m for m in team_manifests(ir.feature_store, ir.teams["chargeback"]) if m["kind"] == kind
    )
    template = (
        manifest["spec"]["template"]
        if kind == "Deployment"
        else (manifest["spec"]["jobTemplate"]["spec"]["template"])
    )
    pod = template["spec"]
    assert pod["serviceAccountName"] == "chargeback-workload"
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    assert container["image"] == ir.feature_store.server_image and "@sha256:" in container["image"]
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["resources"]["limits"] and container["resources"]["requests"]
    if kind == "Deployment":
        assert container["readinessProbe"]["httpGet"]["path"] == "/health"
        assert container["command"][:4] == ["feast", "-c", "/feature_repo", "serve"]
        assert container["command"][-2:] == ["--max-requests", "0"]  # no periodic restarts
    else:
        assert (
            "materialize-incremental --views chargeback__card_activity" in (container["command"][2])
        )
        assert manifest["spec"]["concurrencyPolicy"] == "Forbid"


def test_the_feature_server_is_reachable_only_from_the_team(prod):
    policy = one(
        prod,
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "team-chargeback/feature-server-from-team",
    )
    (rule,) = policy.inputs["spec"]["ingress"]
    assert rule["from"] == [{"podSelector": {}}]  # pods of the same namespace only
    assert rule["ports"] == [{"protocol": "TCP", "port": 6566}]


def test_the_cloud_uploads_the_repositorys_source_files(prod):
    objects = {
        r.name: r for r in prod.resources if r.type == "aws:s3/bucketObjectv2:BucketObjectv2"
    }
    assert sorted(objects) == ["chargeback__card_activity-rows", "chargeback__card_profiles-rows"]
    activity = objects["chargeback__card_activity-rows"].inputs
    assert activity["bucket"] == "acme-prod-datasets"
    assert activity["key"] == "chargeback/features/card_activity.parquet"
    assert activity["serverSideEncryption"] == "aws:kms" and activity["kmsKeyId"]
    import hashlib
    from pathlib import Path

    data = Path(__file__).resolve().parents[2] / "components/chargeback/data/card_activity.parquet"

    assert activity["source"] == {
        "file": "components/chargeback/data/card_activity.parquet",
        "sha256": hashlib.sha256(data.read_bytes()).hexdigest(),
    }
