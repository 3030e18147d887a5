"""S1xx: every S3 bucket of the plan is private, encrypted with a rotating customer key,
TLS-only, access-logged, and - when it holds data - versioned and protected from deletion.

One exception is written out rather than weakening a rule: the bucket that receives the
access logs of the others may use SSE-S3 (AES256) instead of SSE-KMS, because S3 server
access logging delivers only to buckets with S3-managed keys, and it does not log itself.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from compiler.ir import Bucket
from compiler.plan.model import PlannedResource
from compiler.policy.findings import Rule, Violation
from compiler.policy.plan_view import (
    BUCKET,
    KMS_KEY,
    PlanView,
    as_list,
    describe,
    dig,
    policy_statements,
    spec_path,
    subject,
)
from compiler.yaml_source import Path_

PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ENCRYPTION = (
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
)
VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
POLICY = "aws:s3/bucketPolicy:BucketPolicy"
LOGGING = "aws:s3/bucketLogging:BucketLogging"
ACL = "aws:s3/bucketAcl:BucketAcl"

PUBLIC_ACCESS_FLAGS = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)
PUBLIC_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
KMS_ALGORITHMS = frozenset({"aws:kms", "aws:kms:dsse"})
LOG_DELIVERY_ALGORITHM = "AES256"
DATA_PURPOSES = frozenset({"datasets", "models"})
DATA_CLASSIFICATIONS = frozenset({"confidential", "pii"})

RULES = (
    Rule(
        "S101",
        "bucket-public-access",
        "bucket public access not blocked",
        "Every bucket blocks public ACLs and policies (all four S3 Block Public Access "
        "settings) and grants nothing to anonymous principals. Data leaves only through "
        "the teams' IAM roles.",
    ),
    Rule(
        "S102",
        "bucket-kms-encryption",
        "bucket not encrypted with the platform's KMS key",
        "Buckets are encrypted by default with SSE-KMS and the platform's customer-managed "
        "key, so access to objects also needs access to the key. Exception: the access-log "
        "target uses SSE-S3, the only encryption S3 server access logging can deliver to.",
    ),
    Rule(
        "S103",
        "bucket-key-rotation",
        "bucket encryption key does not rotate",
        "The customer-managed key that encrypts a bucket is a KMS key of the plan with "
        "automatic rotation enabled.",
    ),
    Rule(
        "S104",
        "bucket-versioning",
        "data bucket not versioned",
        "Buckets holding datasets or models, or confidential or pii data, keep every object "
        "version, so an overwrite or delete can be undone.",
    ),
    Rule(
        "S105",
        "bucket-tls-only",
        "bucket policy allows plain HTTP",
        "Each bucket policy denies every request made without TLS (aws:SecureTransport "
        "false), for the bucket and its objects.",
    ),
    Rule(
        "S106",
        "bucket-access-logging",
        "bucket access not logged",
        "Every bucket sends S3 server access logs to the platform's log bucket (purpose "
        "'logs'); the log bucket itself is the one exception.",
    ),
    Rule(
        "S107",
        "bucket-deletion-protection",
        "data bucket not protected from deletion",
        "Buckets holding datasets or models, or confidential or pii data, are protected in "
        "Pulumi and retained in the account when removed from the spec.",
    ),
)


def _bucket_spec(view: PlanView, bucket: PlannedResource) -> Bucket | None:
    return view.ir.buckets.get(bucket.spec.name) if bucket.spec.kind == "bucket" else None


def _tag(bucket: PlannedResource, key: str) -> str:
    return str(dig(bucket.inputs, "tags", f"mlplat.io/{key}") or "")


def _purpose(view: PlanView, bucket: PlannedResource) -> str:
    spec = _bucket_spec(view, bucket)
    return spec.purpose if spec else _tag(bucket, "purpose")


def _is_data(view: PlanView, bucket: PlannedResource) -> bool:
    spec = _bucket_spec(view, bucket)
    classification = spec.classification if spec else _tag(bucket, "classification")
    return _purpose(view, bucket) in DATA_PURPOSES or classification in DATA_CLASSIFICATIONS


def _log_targets(view: PlanView) -> set[str]:
    """Names of the buckets that receive access logs and hold nothing but logs."""
    targets = {str(r.inputs.get("targetBucket")) for r in view.of_type(LOGGING)}
    return {
        name
        for bucket in view.of_type(BUCKET)
        if (name := str(bucket.inputs.get("bucket"))) in targets
        and _purpose(view, bucket) == "logs"
    }


def check(view: PlanView) -> Iterator[Violation]:
    log_targets = _log_targets(view)
    for bucket in view.of_type(BUCKET):
        name = str(bucket.inputs.get("bucket") or bucket.name)
        who = subject(bucket.spec)
        if bucket.name != bucket.spec.name:
            who = f"{who} (S3 bucket '{name}')"
        path = spec_path(bucket.spec)
        yield from _public_access(view, bucket, who, path)
        yield from _encryption(view, bucket, who, path, name in log_targets)
        yield from _tls_only(view, bucket, who, path)
        yield from _logging(view, bucket, who, path, name, log_targets)
        if _is_data(view, bucket):
            yield from _versioning(view, bucket, who, path)
            yield from _protection(bucket, who, path)


def _protection(bucket: PlannedResource, who: str, path: Path_) -> Iterator[Violation]:
    missing = [
        option
        for option, value in (
            ("protect", bucket.protect),
            ("retain_on_delete", bucket.retain_on_delete),
        )
        if not value
    ]
    if missing:
        yield Violation(
            "S107",
            who,
            f"holds data but is registered without {' and '.join(missing)}",
            (*path, "protect"),
            describe(bucket),
            "data buckets keep protect: true (the default) in the spec",
        )


def _is_public_principal(principal: Any) -> bool:
    if principal == "*":
        return True
    return isinstance(principal, dict) and "*" in as_list(principal.get("AWS"))


def _public_access(
    view: PlanView, bucket: PlannedResource, who: str, path: Path_
) -> Iterator[Violation]:
    blocks = view.configuring(PUBLIC_ACCESS_BLOCK, bucket)
    if not blocks:
        yield Violation("S101", who, "has no public access block", path, describe(bucket))
    for block in blocks:
        off = [flag for flag in PUBLIC_ACCESS_FLAGS if block.inputs.get(flag) is not True]
        if off:
            yield Violation(
                "S101",
                who,
                f"public access is not fully blocked: {', '.join(off)} not true",
                path,
                describe(block),
            )
    acls = [bucket.inputs.get("acl"), *(r.inputs.get("acl") for r in view.configuring(ACL, bucket))]
    for acl in acls:
        if acl in PUBLIC_ACLS:
            yield Violation("S101", who, f"has the public ACL '{acl}'", path, describe(bucket))
    for policy in view.configuring(POLICY, bucket):
        for statement in policy_statements(policy.inputs.get("policy")) or []:
            if statement.get("Effect") == "Allow" and _is_public_principal(
                statement.get("Principal")
            ):
                yield Violation(
                    "S101",
                    who,
                    f"its bucket policy allows anyone (statement '{statement.get('Sid', '?')}')",
                    path,
                    describe(policy),
                )


def _encryption(
    view: PlanView, bucket: PlannedResource, who: str, path: Path_, log_target: bool
) -> Iterator[Violation]:
    configs = view.configuring(ENCRYPTION, bucket)
    if not configs:
        yield Violation("S102", who, "has no default encryption", path, describe(bucket))
        return
    for config in configs:
        for rule in as_list(config.inputs.get("rules")):
            default = dig(rule, "applyServerSideEncryptionByDefault") or {}
            algorithm = default.get("sseAlgorithm")
            if algorithm in KMS_ALGORITHMS:
                yield from _kms_key(view, config, default, who, path)
            elif not (log_target and algorithm == LOG_DELIVERY_ALGORITHM):
                yield Violation(
                    "S102",
                    who,
                    f"is encrypted with {algorithm or 'nothing'}, not SSE-KMS (only the "
                    "access-log target may use SSE-S3, as log delivery requires)",
                    path,
                    describe(config),
                )


def _kms_key(
    view: PlanView, config: PlannedResource, default: dict[str, Any], who: str, path: Path_
) -> Iterator[Violation]:
    if not default.get("kmsMasterKeyId"):
        yield Violation(
            "S102",
            who,
            "uses SSE-KMS with the AWS-managed key instead of the platform's key",
            path,
            describe(config),
        )
        return
    keys = view.dependencies(config, KMS_KEY)
    if not keys:
        yield Violation(
            "S103",
            who,
            "is encrypted with a KMS key that the plan does not manage, so its rotation "
            "cannot be checked",
            path,
            describe(config),
        )
    for key in keys:
        if key.inputs.get("enableKeyRotation") is not True:
            yield Violation(
                "S103", who, f"its key '{key.name}' has rotation off", path, describe(key)
            )


def _versioning(
    view: PlanView, bucket: PlannedResource, who: str, path: Path_
) -> Iterator[Violation]:
    states = [
        dig(r.inputs, "versioningConfiguration", "status")
        for r in view.configuring(VERSIONING, bucket)
    ]
    if "Enabled" not in states:
        state = states[0] if states else "not configured"
        yield Violation(
            "S104",
            who,
            f"holds data but versioning is {state}",
            (*path, "versioning"),
            describe(bucket),
            "data buckets keep versioning: true (the default) in the spec",
        )


def _denies_plain_http(statement: dict[str, Any], arn: str) -> bool:
    secure = dig(statement, "Condition", "Bool", "aws:SecureTransport")
    actions = set(as_list(statement.get("Action")))
    return (
        statement.get("Effect") == "Deny"
        and _is_public_principal(statement.get("Principal"))
        and bool(actions & {"*", "s3:*"})
        and {arn, f"{arn}/*"} <= set(as_list(statement.get("Resource")))
        and str(secure).lower() == "false"
    )


def _tls_only(
    view: PlanView, bucket: PlannedResource, who: str, path: Path_
) -> Iterator[Violation]:
    arn = f"arn:aws:s3:::{bucket.inputs.get('bucket')}"
    policies = view.configuring(POLICY, bucket)
    if not any(
        _denies_plain_http(statement, arn)
        for policy in policies
        for statement in policy_statements(policy.inputs.get("policy")) or []
    ):
        yield Violation(
            "S105",
            who,
            "no bucket policy statement denies requests without TLS (aws:SecureTransport)",
            path,
            describe(policies[0] if policies else bucket),
        )


def _logging(
    view: PlanView,
    bucket: PlannedResource,
    who: str,
    path: Path_,
    name: str,
    log_targets: set[str],
) -> Iterator[Violation]:
    if name in log_targets:
        return  # the log target does not log to itself
    logs = view.configuring(LOGGING, bucket)
    if not logs:
        yield Violation("S106", who, "has no access logging", path, describe(bucket))
    for log in logs:
        target = str(log.inputs.get("targetBucket"))
        if target not in log_targets:
            yield Violation(
                "S106",
                who,
                f"logs access to '{target}', which is not the platform's log bucket",
                path,
                describe(log),
            )
