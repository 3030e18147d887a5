"""Identity under mocks: IRSA trust scoped to one service account, least-privilege bucket access."""

from __future__ import annotations

import pytest

from platform_iac.identity import READ_ACTIONS, WRITE_ACTIONS, bucket_access_policy
from schemas.team import BucketAccess
from tests.platform_iac.planning import document, ir_for, one, statements

ROLE = "aws:iam/role:Role"
TEAMS = ["fraud", "recsys", "search"]


@pytest.mark.parametrize("team", TEAMS)
def test_workload_role_trusts_exactly_the_team_service_account(prod, team):
    role = one(prod, ROLE, f"{team}-workload")
    assert role.inputs["name"] == f"acme-prod-{team}-workload"
    (trust,) = statements(role.inputs["assumeRolePolicy"])
    oidc = one(prod, "aws:iam/openIdConnectProvider:OpenIdConnectProvider", "acme-prod")
    issuer = oidc.inputs["url"].removeprefix("https://")
    assert trust["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert trust["Principal"] == {"Federated": f"arn:aws:iam::123456789012:oidc-provider/{issuer}"}
    assert trust["Condition"] == {
        "StringEquals": {
            f"{issuer}:sub": f"system:serviceaccount:team-{team}:{team}-workload",
            f"{issuer}:aud": "sts.amazonaws.com",
        }
    }


@pytest.mark.parametrize("team", TEAMS)
def test_workload_policy_grants_only_the_team_prefixes(prod, team):
    spec = ir_for("prod").teams[team]
    policy = statements(
        one(prod, "aws:iam/rolePolicy:RolePolicy", f"{team}-workload-buckets").inputs["policy"]
    )
    granted = {g.bucket for g in spec.bucket_access}
    for statement in policy:
        assert statement["Effect"] == "Allow"
        assert "*" not in str(statement["Action"]).replace("s3:prefix", "")
        resource = statement["Resource"]
        assert resource != "*"
        if statement["Action"] == "s3:ListBucket":
            bucket = resource.removeprefix("arn:aws:s3:::acme-prod-")
            assert bucket in granted
            prefixes = {g.prefix for g in spec.bucket_access if g.bucket == bucket}
            if "" in prefixes:  # a grant on the whole bucket
                assert "Condition" not in statement
            else:
                assert set(statement["Condition"]["StringLike"]["s3:prefix"]) <= {
                    p for prefix in prefixes for p in (prefix, f"{prefix}*")
                }
        elif statement["Sid"] == "UseBucketKeyThroughS3":
            assert statement["Condition"] == {
                "StringEquals": {"kms:ViaService": "s3.eu-west-1.amazonaws.com"}
            }
        else:
            bucket, _, prefix = resource.removeprefix("arn:aws:s3:::acme-prod-").partition("/")
            assert bucket in granted and f"{prefix[:-1]}" in {
                g.prefix for g in spec.bucket_access if g.bucket == bucket
            }


def test_read_grants_cannot_write():
    grants = [
        BucketAccess(bucket="transactions", prefix="", access="read"),
        BucketAccess(bucket="models", prefix="fraud/", access="write"),
    ]
    arns = {"transactions": "arn:aws:s3:::t", "models": "arn:aws:s3:::m"}
    policy = statements(bucket_access_policy(grants, arns, "arn:kms", frozenset(arns), "eu-west-1"))
    by_sid = {s["Sid"]: s for s in policy}
    assert by_sid["ReadTransactions"]["Action"] == sorted(READ_ACTIONS)
    assert by_sid["ReadTransactions"]["Resource"] == "arn:aws:s3:::t/*"
    assert "Condition" not in by_sid["ListTransactions"]
    assert by_sid["WriteModelsFraud"]["Action"] == sorted([*READ_ACTIONS, *WRITE_ACTIONS])
    assert by_sid["WriteModelsFraud"]["Resource"] == "arn:aws:s3:::m/fraud/*"
    assert by_sid["UseBucketKeyThroughS3"]["Action"] == ["kms:Decrypt", "kms:GenerateDataKey"]
    read_only = statements(
        bucket_access_policy(grants[:1], arns, "arn:kms", frozenset(arns), "eu-west-1")
    )
    assert [s["Action"] for s in read_only if s["Sid"] == "UseBucketKeyThroughS3"] == [
        ["kms:Decrypt"]
    ]


@pytest.mark.parametrize("team", TEAMS)
def test_service_account_is_annotated_with_the_role(prod, team):
    account = one(prod, "kubernetes:core/v1:ServiceAccount", f"team-{team}/{team}-workload")
    annotations = account.inputs["metadata"]["annotations"]
    assert annotations["eks.amazonaws.com/role-arn"] == (
        f"arn:aws:iam::123456789012:role/acme-prod-{team}-workload"
    )
    namespace = one(prod, "kubernetes:core/v1:Namespace", f"team-{team}")
    assert namespace.key in account.dependencies


def test_people_reach_their_namespace_through_an_mfa_role_and_access_entry(prod):
    role = one(prod, ROLE, "fraud-developer")
    (trust,) = statements(role.inputs["assumeRolePolicy"])
    assert trust["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert trust["Condition"] == {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    entry = one(prod, "aws:eks/accessEntry:AccessEntry", "fraud-developer")
    assert (
        entry.inputs["principalArn"] == "arn:aws:iam::123456789012:role/acme-prod-fraud-developer"
    )
    assert entry.inputs["kubernetesGroups"] == ["mlplat-team-fraud"]
    assert entry.inputs["type"] == "STANDARD"
    assert document(role.inputs["assumeRolePolicy"])["Version"] == "2012-10-17"
