"""Storage under mocks: every bucket private, encrypted, versioned, expiring, TLS-only, logged
and - when it holds data - protected."""

from __future__ import annotations

import pytest

from tests.platform_iac.planning import ir_for, of_type, one, statements

S3 = "aws:s3/"
BUCKET = "aws:s3/bucket:Bucket"
SPEC_BUCKETS = ["artifacts", "datasets", "logs", "models", "transactions"]


@pytest.mark.parametrize("name", SPEC_BUCKETS)
def test_every_bucket_blocks_public_access_and_disables_acls(prod, name):
    block = one(prod, f"{S3}bucketPublicAccessBlock:BucketPublicAccessBlock", name).inputs
    assert block == {
        "bucket": f"acme-prod-{name}",
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }
    ownership = one(prod, f"{S3}bucketOwnershipControls:BucketOwnershipControls", name).inputs
    assert ownership["rule"] == {"objectOwnership": "BucketOwnerEnforced"}


@pytest.mark.parametrize("name", ["artifacts", "datasets", "models", "transactions"])
def test_data_buckets_use_the_rotating_customer_key_and_log_access(prod, name):
    sse = one(
        prod,
        f"{S3}bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        name,
    )
    (rule,) = sse.inputs["rules"]
    key = one(prod, "aws:kms/key:Key", "acme-prod-s3")
    assert rule["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "aws:kms"
    assert rule["applyServerSideEncryptionByDefault"]["kmsMasterKeyId"].startswith("arn:aws:kms:")
    assert rule["bucketKeyEnabled"] is True
    assert key.key in sse.dependencies and key.inputs["enableKeyRotation"] is True
    logging = one(prod, f"{S3}bucketLogging:BucketLogging", name).inputs
    assert logging["targetBucket"] == "acme-prod-logs"
    assert logging["targetPrefix"] == f"acme-prod-{name}/"


def test_the_log_bucket_takes_server_access_logs_with_s3_managed_keys(prod):
    sse = one(
        prod,
        f"{S3}bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "logs",
    )
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "AES256"
    }
    assert [r for r in of_type(prod, f"{S3}bucketLogging:BucketLogging") if r.name == "logs"] == []
    policy = one(prod, f"{S3}bucketPolicy:BucketPolicy", "logs")
    (grant,) = [s for s in statements(policy.inputs["policy"]) if s["Effect"] == "Allow"]
    assert grant["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert grant["Condition"] == {"StringEquals": {"aws:SourceAccount": "123456789012"}}


@pytest.mark.parametrize("name", SPEC_BUCKETS)
def test_every_bucket_refuses_plain_http_and_old_tls(prod, name):
    policy = one(prod, f"{S3}bucketPolicy:BucketPolicy", name)
    denies = {s["Sid"]: s for s in statements(policy.inputs["policy"]) if s["Effect"] == "Deny"}
    assert denies["DenyInsecureTransport"]["Condition"] == {
        "Bool": {"aws:SecureTransport": "false"}
    }
    assert denies["DenyOutdatedTls"]["Condition"] == {"NumericLessThan": {"s3:TlsVersion": "1.2"}}
    assert denies["DenyInsecureTransport"]["Resource"] == [
        f"arn:aws:s3:::acme-prod-{name}",
        f"arn:aws:s3:::acme-prod-{name}/*",
    ]


def test_versioning_and_lifecycle_follow_the_spec(prod):
    ir = ir_for("prod")
    for name, spec in ir.buckets.items():
        versioning = one(prod, f"{S3}bucketVersioning:BucketVersioning", name).inputs
        assert versioning["versioningConfiguration"]["status"] == (
            "Enabled" if spec.versioning else "Suspended"
        )
        rules = {
            r["id"]: r
            for r in one(
                prod, f"{S3}bucketLifecycleConfiguration:BucketLifecycleConfiguration", name
            ).inputs["rules"]
        }
        assert rules["abort-incomplete-uploads"]["abortIncompleteMultipartUpload"] == {
            "daysAfterInitiation": spec.lifecycle.abort_incomplete_uploads_after_days
        }
        expire = spec.lifecycle.expire_after_days
        assert (rules.get("expire-objects", {}).get("expiration") or None) == (
            {"days": expire} if expire else None
        )
    transition = one(
        prod, f"{S3}bucketLifecycleConfiguration:BucketLifecycleConfiguration", "datasets"
    )
    (ia,) = [r for r in transition.inputs["rules"] if r["id"] == "transition-to-infrequent-access"]
    assert ia["transitions"] == [{"days": 90, "storageClass": "STANDARD_IA"}]


def test_data_buckets_are_protected_and_retained_scratch_is_not(prod, dev):
    for bucket in of_type(prod, BUCKET):
        assert bucket.protect and bucket.retain_on_delete, bucket.name
        assert bucket.inputs["forceDestroy"] is False
    scratch = one(dev, BUCKET, "artifacts")
    assert not scratch.protect and not scratch.retain_on_delete
    key = one(prod, "aws:kms/key:Key", "acme-prod-s3")
    assert key.protect and key.retain_on_delete


def test_replicated_bucket_gets_a_hardened_replica_in_the_other_region(variant):
    replica = one(variant, BUCKET, "artifacts-replica")
    assert replica.inputs["bucket"] == "acme-dev-artifacts-eu-central-1"
    assert replica.provider and replica.provider.endswith("pulumi:providers:aws::aws-eu-central-1")
    for kind in ("bucketPublicAccessBlock:BucketPublicAccessBlock", "bucketPolicy:BucketPolicy"):
        assert one(variant, f"{S3}{kind}", "artifacts-replica").provider == replica.provider
    sse = one(
        variant,
        f"{S3}bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "artifacts-replica",
    )
    assert sse.inputs["rules"][0]["applyServerSideEncryptionByDefault"][
        "kmsMasterKeyId"
    ].startswith("arn:aws:kms:eu-central-1:")
    config = one(variant, f"{S3}bucketReplicationConfig:BucketReplicationConfig", "artifacts")
    (rule,) = config.inputs["rules"]
    assert rule["destination"]["bucket"] == "arn:aws:s3:::acme-dev-artifacts-eu-central-1"
    assert rule["sourceSelectionCriteria"] == {"sseKmsEncryptedObjects": {"status": "Enabled"}}
    versioning = one(variant, f"{S3}bucketVersioning:BucketVersioning", "artifacts")
    assert versioning.key in config.dependencies
    role_policy = one(variant, "aws:iam/rolePolicy:RolePolicy", "artifacts-replica")
    assert all(s["Resource"] != "*" for s in statements(role_policy.inputs["policy"]))
