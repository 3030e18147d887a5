"""The recorded plan: complete, deterministic, every resource tied to the spec object it serves."""

from __future__ import annotations

from collections import Counter

from compiler.plan.mocks import resource_key, run_program
from compiler.plan.model import Plan
from tests.platform_iac.planning import ir_for


def test_plan_json_is_byte_identical_across_runs(prod):
    again = run_program(ir_for("prod"))
    assert again.to_json() == prod.to_json()


def test_plan_json_round_trips(prod):
    assert Plan.from_json(prod.to_json()) == prod


def test_keys_are_unique_and_references_resolve(prod):
    keys = Counter(r.key for r in prod.resources)
    assert max(keys.values()) == 1
    for resource in prod.resources:
        assert resource.parent is None or resource.parent in keys, resource.key
        assert resource.provider is None or resource.provider in keys, resource.key
        assert all(d in keys for d in resource.dependencies), resource.key
        if resource.parent:
            assert resource.key.startswith(resource.parent.split("::", 1)[0] + "$")


def test_every_resource_is_tied_to_a_spec_object(prod):
    ir = ir_for("prod")
    owners = Counter((r.spec.kind, r.spec.team, r.spec.name) for r in prod.managed())
    assert ("node_pool", None, "gpu-a10g") in owners
    assert ("bucket", None, "transactions") in owners
    assert ("team", "fraud", "fraud") in owners
    assert ("endpoint", "recsys", "ranker") in owners
    assert {k for k in owners if k[0] == "platform"} == {
        ("platform", None, "cluster"),
        ("platform", None, "storage"),
        ("platform", None, "services"),
        ("platform", None, "providers"),
        ("platform", None, "training"),
    }
    assert {k[2] for k in owners if k[0] == "team"} == set(ir.teams)


def test_protection_and_ignored_fields_are_recorded(prod):
    protected = sorted(r.name for r in prod.resources if r.protect)
    buckets = [n for n, b in ir_for("prod").buckets.items() if b.protect]
    cluster = ["acme-prod", "acme-prod-control-plane", "acme-prod-secrets"]
    tables = [v.feast_name for v in ir_for("prod").feature_views() if v.online]
    assert (
        protected == sorted(["acme-prod-s3", *cluster, *buckets, *tables])
        and "transactions" in buckets
    )
    assert all(r.retain_on_delete for r in prod.resources if r.protect)


def test_real_urns_map_to_plan_keys():
    urn = "urn:pulumi:prod::acme-platform::mlplat:platform:NodePool$aws:eks/nodeGroup:NodeGroup::gpu-t4"
    assert resource_key(urn) == "mlplat:platform:NodePool$aws:eks/nodeGroup:NodeGroup::gpu-t4"


def test_the_local_environment_is_planned_too():
    local = run_program(ir_for("local"))
    assert local.target == "local"
    assert len(local.managed()) > 100
