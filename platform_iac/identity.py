"""Identity, per team: the workload service account bound to an IAM role through IRSA, and
the IAM role that the team's people assume to reach their namespace.

The workload role trusts exactly one service account (both the `:sub` and the `:aud`
conditions of the cluster's OIDC issuer) and may touch only the buckets and prefixes the
team's spec grants, with the access granted ('read', or 'write' which includes read), plus
the KMS key of those buckets through S3 only. The developer role is assumable from this
account with MFA and maps, through an EKS access entry, to the team's Kubernetes group.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from compiler.ir import Team
from platform_iac.kube import Manifest, object_meta, register_object
from platform_iac.naming import IRSA_ANNOTATION, TEAM_IDENTITY, TEAM_LABEL
from platform_iac.storage import bucket_sid
from schemas.team import BucketAccess

READ_ACTIONS = ("s3:GetObject", "s3:GetObjectVersion")
WRITE_ACTIONS = (
    "s3:AbortMultipartUpload",
    "s3:DeleteObject",
    "s3:ListMultipartUploadParts",
    "s3:PutObject",
)


def irsa_trust_policy(provider_arn: str, issuer: str, namespace: str, account: str) -> str:
    """Only `system:serviceaccount:<namespace>:<account>`, only for the STS audience."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": {
                        "StringEquals": {
                            f"{issuer}:aud": "sts.amazonaws.com",
                            f"{issuer}:sub": f"system:serviceaccount:{namespace}:{account}",
                        }
                    },
                }
            ],
        },
        sort_keys=True,
    )


def bucket_access_policy(
    grants: Sequence[BucketAccess],
    bucket_arns: Mapping[str, str],
    kms_key_arn: str | None,
    encrypted: frozenset[str],
    region: str,
) -> str:
    """Least privilege: list within the prefix, read (and write) objects under it, use the key
    only through S3 in this region."""
    statements: list[dict[str, Any]] = []
    decrypt, encrypt = False, False
    seen: set[str] = set()
    for grant in grants:
        arn = bucket_arns[grant.bucket]
        # Ids from what is granted, not from the position: removing one grant leaves the
        # others' statements unchanged in the plan.
        sid = bucket_sid(grant.bucket) + bucket_sid(grant.prefix)
        while sid in seen:
            sid += "X"
        seen.add(sid)
        listing: dict[str, Any] = {
            "Sid": f"List{sid}",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": arn,
        }
        if grant.prefix:
            listing["Condition"] = {"StringLike": {"s3:prefix": [grant.prefix, f"{grant.prefix}*"]}}
        actions = [*READ_ACTIONS, *(WRITE_ACTIONS if grant.access == "write" else ())]
        statements += [
            listing,
            {
                "Sid": f"{grant.access.capitalize()}{sid}",
                "Effect": "Allow",
                "Action": sorted(actions),
                "Resource": f"{arn}/{grant.prefix}*",
            },
        ]
        if grant.bucket in encrypted:
            decrypt = True
            encrypt = encrypt or grant.access == "write"
    if decrypt and kms_key_arn:
        statements.append(
            {
                "Sid": "UseBucketKeyThroughS3",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", *(["kms:GenerateDataKey"] if encrypt else [])],
                "Resource": kms_key_arn,
                "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"}},
            }
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


def developer_trust_policy(account_id: str) -> str:
    """People of this account, signed in with MFA; who may assume it is decided in IAM."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                    "Action": "sts:AssumeRole",
                    "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}},
                }
            ],
        },
        sort_keys=True,
    )


def service_account_manifest(team: Team, role_arn: pulumi.Input[str]) -> Manifest:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": object_meta(
            team.service_account,
            team.namespace,
            {TEAM_LABEL: team.name},
            {IRSA_ANNOTATION: role_arn, "eks.amazonaws.com/sts-regional-endpoints": "true"},
        ),
    }


@dataclass(frozen=True)
class TeamIdentityArgs:
    team: Team
    developer_role_name: str
    group: str
    cluster_name: pulumi.Input[str]
    oidc_provider_arn: pulumi.Input[str]
    oidc_issuer: pulumi.Input[str]
    bucket_arns: Mapping[str, pulumi.Input[str]]
    encrypted_buckets: frozenset[str]
    kms_key_arn: pulumi.Input[str]
    region: str
    account_id: pulumi.Input[str]
    namespace: pulumi.Resource
    tags: Mapping[str, str]


class TeamIdentity(pulumi.ComponentResource):
    """The team's workload identity (IRSA) and its people's way into the cluster."""

    role_arn: pulumi.Output[str]

    def __init__(
        self, name: str, args: TeamIdentityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(TEAM_IDENTITY, name, None, opts)
        team, tags = args.team, dict(args.tags)
        child = pulumi.ResourceOptions(parent=self)
        role = aws.iam.Role(
            f"{team.name}-workload",
            name=team.iam_role_name,
            description=f"Workloads of team {team.name} ({team.namespace}/{team.service_account})",
            assume_role_policy=pulumi.Output.all(args.oidc_provider_arn, args.oidc_issuer).apply(
                lambda v: irsa_trust_policy(v[0], v[1], team.namespace, team.service_account)
            ),
            max_session_duration=3600,
            tags=tags,
            opts=child,
        )
        self.role_arn = role.arn
        grants = [g for g in team.bucket_access if g.bucket in args.bucket_arns]
        if grants:
            names = sorted({g.bucket for g in grants})
            aws.iam.RolePolicy(
                f"{team.name}-workload-buckets",
                name="bucket-access",
                role=role.id,
                policy=pulumi.Output.all(
                    args.kms_key_arn, *(args.bucket_arns[n] for n in names)
                ).apply(
                    lambda v: bucket_access_policy(
                        grants,
                        dict(zip(names, v[1:], strict=True)),
                        v[0],
                        args.encrypted_buckets,
                        args.region,
                    )
                ),
                opts=child,
            )
        register_object(
            service_account_manifest(team, role.arn),
            pulumi.ResourceOptions(parent=self, depends_on=[args.namespace]),
        )

        developer = aws.iam.Role(
            f"{team.name}-developer",
            name=args.developer_role_name,
            description=f"People of team {team.name}: Kubernetes group {args.group}",
            assume_role_policy=pulumi.Output.from_input(args.account_id).apply(
                developer_trust_policy
            ),
            max_session_duration=3600,
            tags=tags,
            opts=child,
        )
        aws.eks.AccessEntry(
            f"{team.name}-developer",
            cluster_name=args.cluster_name,
            principal_arn=developer.arn,
            kubernetes_groups=[args.group],
            type="STANDARD",
            tags=tags,
            opts=child,
        )
        self.register_outputs({"role_arn": self.role_arn})
