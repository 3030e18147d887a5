"""Storage: one S3 bucket per spec bucket, hardened the same way, plus the customer KMS key.

Every bucket blocks public access, disables ACLs (bucket owner enforced), is encrypted with
the platform's customer-managed KMS key (rotation on, S3 bucket keys on), versioned as the
spec says, expires objects and aborts incomplete uploads per its lifecycle, refuses plain
HTTP and TLS below 1.2, and logs access to the log bucket. Buckets holding data are
protected from deletion in Pulumi and retained in the account if removed from the spec.

The one exception is the log bucket itself: S3 server access logging can only deliver to a
bucket encrypted with S3-managed keys (SSE-S3), so the log target uses AES256 and does not
log itself. It is the spec's bucket with purpose 'logs' (the first by name), or a platform
bucket `<org>-<env>-access-logs` when the spec has none.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from compiler.ir import Bucket
from platform_iac.naming import DATA_BUCKET, STORAGE
from schemas.platform import LifecycleSpec

ACCESS_LOG_BUCKET = "access-logs"
MIN_TLS_VERSION = "1.2"


@dataclass(frozen=True)
class Replica:
    """Where a bucket replicates to: another region's provider and customer key."""

    region: str
    provider: pulumi.ProviderResource
    kms_key_arn: pulumi.Input[str]
    log_bucket: pulumi.Input[str]
    """Access-log bucket in that region: S3 delivers access logs only within a region."""


@dataclass(frozen=True)
class DataBucketArgs:
    bucket: Bucket
    kms_key_arn: pulumi.Input[str] | None
    """Customer key for SSE-KMS; None only for the access-log target (SSE-S3)."""
    log_target: pulumi.Input[str] | None
    """Bucket receiving this bucket's access logs; None for the log target itself."""
    account_id: pulumi.Input[str]
    tags: Mapping[str, str]
    replica: Replica | None = None
    region: str = ""
    """Region of the bucket (for the replication role's KMS conditions)."""
    after: Sequence[pulumi.Resource] = ()
    """What the bucket's logging waits for (the log target's policy)."""


def lifecycle_rules(lifecycle: LifecycleSpec) -> list[dict[str, Any]]:
    """The spec's lifecycle as S3 rules; aborting incomplete uploads is always on."""
    whole_bucket = {"prefix": ""}
    rules: list[dict[str, Any]] = [
        {
            "id": "abort-incomplete-uploads",
            "status": "Enabled",
            "filter": whole_bucket,
            "abort_incomplete_multipart_upload": {
                "days_after_initiation": lifecycle.abort_incomplete_uploads_after_days
            },
        },
        {
            "id": "expire-noncurrent-versions",
            "status": "Enabled",
            "filter": whole_bucket,
            "noncurrent_version_expiration": {
                "noncurrent_days": lifecycle.noncurrent_versions_expire_after_days
            },
        },
    ]
    if lifecycle.transition_to_infrequent_access_after_days is not None:
        rules.append(
            {
                "id": "transition-to-infrequent-access",
                "status": "Enabled",
                "filter": whole_bucket,
                "transitions": [
                    {
                        "days": lifecycle.transition_to_infrequent_access_after_days,
                        "storage_class": "STANDARD_IA",
                    }
                ],
            }
        )
    if lifecycle.expire_after_days is not None:
        rules.append(
            {
                "id": "expire-objects",
                "status": "Enabled",
                "filter": whole_bucket,
                "expiration": {"days": lifecycle.expire_after_days},
            }
        )
    return rules


def _sid(text: str) -> str:
    return "".join(part.capitalize() for part in re.split(r"[^A-Za-z0-9]+", text) if part)


def bucket_policy(bucket_arn: str, account_id: str, *, log_target: bool) -> str:
    """TLS-only access; the log target also lets the S3 logging service of this account write."""
    resources = [bucket_arn, f"{bucket_arn}/*"]
    statements: list[dict[str, Any]] = [
        {
            "Sid": "DenyInsecureTransport",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": resources,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        },
        {
            "Sid": "DenyOutdatedTls",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": resources,
            "Condition": {"NumericLessThan": {"s3:TlsVersion": MIN_TLS_VERSION}},
        },
    ]
    if log_target:
        statements.append(
            {
                "Sid": "AllowServerAccessLogsFromThisAccount",
                "Effect": "Allow",
                "Principal": {"Service": "logging.s3.amazonaws.com"},
                "Action": "s3:PutObject",
                "Resource": f"{bucket_arn}/*",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        )
    return json.dumps({"Version": "2012-10-17", "Statement": statements}, sort_keys=True)


def replication_policy(
    source: str, replica: str, source_key: str, replica_key: str, regions: tuple[str, str]
) -> str:
    """What S3 needs to copy new object versions (and delete markers) to the replica."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "ReadReplicationConfiguration",
                    "Effect": "Allow",
                    "Action": ["s3:GetReplicationConfiguration", "s3:ListBucket"],
                    "Resource": source,
                },
                {
                    "Sid": "ReadSourceVersions",
                    "Effect": "Allow",
                    "Action": [
                        "s3:GetObjectVersionAcl",
                        "s3:GetObjectVersionForReplication",
                        "s3:GetObjectVersionTagging",
                    ],
                    "Resource": f"{source}/*",
                },
                {
                    "Sid": "WriteReplica",
                    "Effect": "Allow",
                    "Action": ["s3:ReplicateDelete", "s3:ReplicateObject", "s3:ReplicateTags"],
                    "Resource": f"{replica}/*",
                },
                {
                    "Sid": "DecryptSource",
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": source_key,
                    "Condition": {
                        "StringEquals": {"kms:ViaService": f"s3.{regions[0]}.amazonaws.com"}
                    },
                },
                {
                    "Sid": "EncryptReplica",
                    "Effect": "Allow",
                    "Action": ["kms:Encrypt", "kms:GenerateDataKey"],
                    "Resource": replica_key,
                    "Condition": {
                        "StringEquals": {"kms:ViaService": f"s3.{regions[1]}.amazonaws.com"}
                    },
                },
            ],
        },
        sort_keys=True,
    )


def _assume_by_s3() -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "s3.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        },
        sort_keys=True,
    )


class DataBucket(pulumi.ComponentResource):
    """One hardened S3 bucket."""

    arn: pulumi.Output[str]
    bucket_id: pulumi.Output[str]
    policy: pulumi.CustomResource

    def __init__(
        self, name: str, args: DataBucketArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(DATA_BUCKET, name, None, opts)
        spec = args.bucket
        bucket, hardening = self._hardened(
            spec.name,
            spec,
            spec.physical_name,
            args.kms_key_arn,
            args.account_id,
            args.tags,
            log_target=args.log_target is None,
            # Replication needs versioning: a replicated bucket is always versioned.
            versioned=spec.versioning or args.replica is not None,
        )
        self.arn, self.bucket_id = bucket.arn, bucket.id
        self.policy = hardening[-1]
        if args.log_target is not None:
            aws.s3.BucketLogging(
                spec.name,
                bucket=bucket.id,
                target_bucket=args.log_target,
                target_prefix=f"{spec.physical_name}/",
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.after)),
            )
        if args.replica is not None:
            self._replicate(args, bucket, hardening)
        self.register_outputs({"arn": self.arn, "bucket": self.bucket_id})

    def _hardened(
        self,
        name: str,
        spec: Bucket,
        physical_name: str,
        kms_key_arn: pulumi.Input[str] | None,
        account_id: pulumi.Input[str],
        tags: Mapping[str, str],
        *,
        log_target: bool,
        versioned: bool,
        provider: pulumi.ProviderResource | None = None,
    ) -> tuple[aws.s3.Bucket, list[pulumi.CustomResource]]:
        """A bucket with every guard rail; returns it and its configuration, policy last."""
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        bucket = aws.s3.Bucket(
            name,
            bucket=physical_name,
            force_destroy=False,
            tags={
                **tags,
                "mlplat.io/bucket": spec.name,
                "mlplat.io/classification": spec.classification,
                "mlplat.io/purpose": spec.purpose,
            },
            opts=pulumi.ResourceOptions(
                parent=self,
                provider=provider,
                protect=spec.protect,
                retain_on_delete=spec.protect,
            ),
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            name,
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child,
        )
        ownership = aws.s3.BucketOwnershipControls(
            name,
            bucket=bucket.id,
            rule={"object_ownership": "BucketOwnerEnforced"},
            opts=child,
        )
        if kms_key_arn is not None:
            default: Any = {"sse_algorithm": "aws:kms", "kms_master_key_id": kms_key_arn}
        else:
            default = {"sse_algorithm": "AES256"}
        encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            name,
            bucket=bucket.id,
            rules=[
                {
                    "apply_server_side_encryption_by_default": default,
                    "bucket_key_enabled": kms_key_arn is not None,
                }
            ],
            opts=child,
        )
        versioning = aws.s3.BucketVersioning(
            name,
            bucket=bucket.id,
            versioning_configuration={"status": "Enabled" if versioned else "Suspended"},
            opts=child,
        )
        rules: Any = lifecycle_rules(spec.lifecycle)
        lifecycle = aws.s3.BucketLifecycleConfiguration(
            name, bucket=bucket.id, rules=rules, opts=child
        )
        policy = aws.s3.BucketPolicy(
            name,
            bucket=bucket.id,
            policy=pulumi.Output.all(bucket.arn, account_id).apply(
                lambda v: bucket_policy(v[0], v[1], log_target=log_target)
            ),
            opts=pulumi.ResourceOptions(parent=self, provider=provider, depends_on=[public_access]),
        )
        return bucket, [public_access, ownership, encryption, versioning, lifecycle, policy]

    def _replicate(
        self, args: DataBucketArgs, source: aws.s3.Bucket, hardening: list[pulumi.CustomResource]
    ) -> None:
        """A hardened replica in another region and the rule that copies every new version."""
        spec, replica = args.bucket, args.replica
        assert replica is not None and args.kms_key_arn is not None
        name = f"{spec.name}-replica"
        replica_name = f"{spec.physical_name}-{replica.region}"[:63]
        target, _ = self._hardened(
            name,
            spec,
            replica_name,
            replica.kms_key_arn,
            args.account_id,
            {**args.tags, "mlplat.io/replica-of": spec.physical_name},
            log_target=False,
            versioned=True,
            provider=replica.provider,
        )
        aws.s3.BucketLogging(
            name,
            bucket=target.id,
            target_bucket=replica.log_bucket,
            target_prefix=f"{replica_name}/",
            opts=pulumi.ResourceOptions(parent=self, provider=replica.provider),
        )
        role = aws.iam.Role(
            name,
            name=f"{spec.physical_name}-replication"[:64],
            assume_role_policy=_assume_by_s3(),
            tags=dict(args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.iam.RolePolicy(
            name,
            name="replicate",
            role=role.id,
            policy=pulumi.Output.all(
                source.arn, target.arn, args.kms_key_arn, replica.kms_key_arn
            ).apply(
                lambda v: replication_policy(v[0], v[1], v[2], v[3], (args.region, replica.region))
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        aws.s3.BucketReplicationConfig(
            spec.name,
            bucket=source.id,
            role=role.arn,
            rules=[
                {
                    "id": f"replicate-to-{replica.region}",
                    "status": "Enabled",
                    "filter": {"prefix": ""},
                    "delete_marker_replication": {"status": "Enabled"},
                    "source_selection_criteria": {
                        "sse_kms_encrypted_objects": {"status": "Enabled"}
                    },
                    "destination": {
                        "bucket": target.arn,
                        "storage_class": "STANDARD",
                        "encryption_configuration": {"replica_kms_key_id": replica.kms_key_arn},
                    },
                }
            ],
            opts=pulumi.ResourceOptions(parent=self, depends_on=hardening),
        )


@dataclass(frozen=True)
class StorageArgs:
    organisation: str
    environment: str
    buckets: Mapping[str, Bucket]
    account_id: pulumi.Input[str]
    tags: Mapping[str, str]
    region: str


def log_target_bucket(args: StorageArgs) -> Bucket:
    """The spec's first 'logs' bucket, or the platform's own access-log bucket."""
    for name in sorted(args.buckets):
        if args.buckets[name].purpose == "logs":
            return args.buckets[name]
    if ACCESS_LOG_BUCKET in args.buckets:
        raise ValueError(
            f"bucket '{ACCESS_LOG_BUCKET}' needs purpose 'logs': without a logs bucket in the "
            "spec, the platform creates its own access-log bucket under that name"
        )
    return Bucket(
        name=ACCESS_LOG_BUCKET,
        physical_name=f"{args.organisation}-{args.environment}-{ACCESS_LOG_BUCKET}",
        description="S3 server access logs of the platform's buckets",
        purpose="logs",
        classification="internal",
        versioning=True,
        lifecycle=LifecycleSpec(expire_after_days=400),
        protect=True,
        replicate_to=None,
    )


class Storage(pulumi.ComponentResource):
    """The S3 key and every bucket; the log target first, since the others log to it."""

    kms_key_arn: pulumi.Output[str]
    buckets: dict[str, DataBucket]
    log_bucket: str
    """Spec name of the access-log target."""

    def __init__(
        self, name: str, args: StorageArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(STORAGE, name, None, opts)
        prefix = f"{args.organisation}-{args.environment}"
        protected = any(b.protect for b in args.buckets.values())
        key = aws.kms.Key(
            f"{prefix}-s3",
            description=f"Server-side encryption of the {prefix} buckets",
            enable_key_rotation=True,
            deletion_window_in_days=30,
            tags=dict(args.tags),
            # Losing the key loses every object encrypted with it.
            opts=pulumi.ResourceOptions(parent=self, protect=protected, retain_on_delete=True),
        )
        aws.kms.Alias(
            f"{prefix}-s3",
            name=f"alias/{prefix}-s3",
            target_key_id=key.key_id,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.kms_key_arn = key.arn

        target = log_target_bucket(args)
        self.log_bucket = target.name
        log_bucket = DataBucket(
            target.name,
            DataBucketArgs(target, None, None, args.account_id, args.tags),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.buckets = {target.name: log_bucket}
        replicas = self._replica_regions(args, prefix)
        for bucket_name in sorted(args.buckets):
            if bucket_name == target.name:
                continue
            spec = args.buckets[bucket_name]
            self.buckets[bucket_name] = DataBucket(
                bucket_name,
                DataBucketArgs(
                    spec,
                    key.arn,
                    log_bucket.bucket_id,
                    args.account_id,
                    args.tags,
                    replicas.get(spec.replicate_to or ""),
                    args.region,
                    [log_bucket.policy],
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({"kms_key_arn": self.kms_key_arn})

    def _replica_regions(self, args: StorageArgs, prefix: str) -> dict[str, Replica]:
        """A provider and a customer key in every region buckets replicate to."""
        replicas: dict[str, Replica] = {}
        regions = {b.replicate_to for b in args.buckets.values() if b.replicate_to}
        for region in sorted(r for r in regions if r):
            provider = aws.Provider(
                f"aws-{region}", region=region, opts=pulumi.ResourceOptions(parent=self)
            )
            key = aws.kms.Key(
                f"{prefix}-s3-{region}",
                description=f"Server-side encryption of the {prefix} replicas in {region}",
                enable_key_rotation=True,
                deletion_window_in_days=30,
                tags=dict(args.tags),
                opts=pulumi.ResourceOptions(
                    parent=self, provider=provider, protect=True, retain_on_delete=True
                ),
            )
            logs = log_target_bucket(args)
            regional_logs = logs.model_copy(
                update={
                    "name": f"{ACCESS_LOG_BUCKET}-{region}",
                    "physical_name": f"{prefix}-{ACCESS_LOG_BUCKET}-{region}"[:63],
                    "description": f"S3 server access logs of the replicas in {region}",
                    "replicate_to": None,
                }
            )
            log_bucket = DataBucket(
                regional_logs.name,
                DataBucketArgs(regional_logs, None, None, args.account_id, args.tags),
                opts=pulumi.ResourceOptions(parent=self, providers=[provider]),
            )
            replicas[region] = Replica(region, provider, key.arn, log_bucket.bucket_id)
        return replicas


def bucket_sid(name: str) -> str:
    """An IAM statement id fragment from a bucket name ('raw-data' → 'RawData')."""
    return _sid(name)
