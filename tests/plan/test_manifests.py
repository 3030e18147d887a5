"""Every Kubernetes object validates (strict) for the spec's version; InferenceService
predictors are checked as pods; broken objects are caught."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import yaml

from compiler.plan.manifests import (
    KubeObject,
    kubernetes_objects,
    manifest_files,
    predictor_pod,
    validate_objects,
)
from tests.conftest import CONFIGS
from tests.helpers import run_fresh_python


@pytest.mark.parametrize("which", ["prod", "variant"])
def test_all_manifests_pass_strict_validation(request, which):
    plan = request.getfixturevalue(which)
    objects = kubernetes_objects(plan)
    report = validate_objects(objects, plan.kubernetes_version)
    assert report.problems == []
    # the chargeback endpoint's InferenceService is two pods: predictor and feature transformer
    transformers = 1
    assert (
        report.objects + report.pod_templates + report.checked_on_apply
        == len(objects) + transformers
    )
    # the Kyverno pod-defaults policy; the fraud endpoint's PrometheusRule and ServiceMonitor
    assert report.checked_on_apply == 3
    assert report.pod_templates == (6 if which == "prod" else 5)
    kinds = {o.manifest["kind"] for o in objects}
    assert {"Namespace", "NetworkPolicy", "Role", "RoleBinding", "ServiceAccount"} <= kinds
    if which == "variant":
        assert {"Deployment", "Service", "HorizontalPodAutoscaler", "PodDisruptionBudget"} <= kinds


def test_manifest_files_are_the_recorded_objects(prod):
    objects = kubernetes_objects(prod)
    files = manifest_files(objects)
    assert len(files) == len(objects)
    namespace = yaml.safe_load(files["manifests/_cluster.namespace.team-fraud.yaml"])
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert "manifests/knative-serving.configmap.config-features.patch.yaml" in files
    assert "manifests/team-recsys.inferenceservice.ranker.yaml" in files


def _broken(obj: KubeObject, edit) -> KubeObject:
    manifest = copy.deepcopy(obj.manifest)
    edit(manifest)
    return KubeObject(obj.path, manifest, obj.resource, obj.patch)


def test_misspelled_fields_and_bad_pod_templates_are_caught(prod):
    objects = {o.path: o for o in kubernetes_objects(prod)}
    policy = objects["manifests/team-fraud.networkpolicy.default-deny.yaml"]
    isvc = objects["manifests/team-recsys.inferenceservice.ranker.yaml"]
    broken = [
        _broken(policy, lambda m: m["spec"].update(podSelectr={})),
        _broken(isvc, lambda m: m["spec"]["predictor"]["model"].update(securityContxt={})),
        _broken(isvc, lambda m: m["spec"]["predictor"].update(nodeSelector="gpu-t4")),
    ]
    report = validate_objects(broken, prod.kubernetes_version)
    found = sorted((p.path, p.where) for p in report.problems)
    assert found == [
        ("manifests/team-fraud.networkpolicy.default-deny.yaml", "spec"),
        ("manifests/team-recsys.inferenceservice.ranker.yaml", "spec.containers.0"),
        ("manifests/team-recsys.inferenceservice.ranker.yaml", "spec.nodeSelector"),
    ]
    assert any("podSelectr" in p.message for p in report.problems)


def test_predictor_pod_keeps_pod_fields_and_drops_kserve_ones(prod):
    isvc = next(o for o in kubernetes_objects(prod) if o.manifest["kind"] == "InferenceService")
    pod = predictor_pod(isvc.manifest)
    assert pod["kind"] == "Pod" and "minReplicas" not in pod["spec"]
    (container,) = pod["spec"]["containers"]
    assert container["name"] == "kserve-container" and "storageUri" not in container
    assert pod["spec"]["serviceAccountName"].endswith("-workload")


def test_reused_validators_agree_with_kubernetes_validate(prod):
    """The per-kind validators give kubernetes-validate's own verdict, object by object."""
    import kubernetes_validate

    from compiler.plan.manifests import CHECKED_ON_APPLY, POD_TEMPLATES, validation_problems

    version = prod.kubernetes_version
    manifests = [
        o.manifest
        for o in kubernetes_objects(prod)
        if (o.manifest["apiVersion"], o.manifest["kind"]) not in POD_TEMPLATES
        and (o.manifest["apiVersion"], o.manifest["kind"]) not in CHECKED_ON_APPLY
    ]
    broken = []
    for manifest in manifests[:12]:
        bad = copy.deepcopy(manifest)
        bad.setdefault("metadata", {})["labelz"] = {"x": "y"}  # unknown field (strict)
        broken.append(bad)
        worse = copy.deepcopy(manifest)
        worse["spec"] = "not an object"
        broken.append(worse)
    for manifest in [*manifests, *broken]:
        try:
            kubernetes_validate.validate(manifest, version, strict=True)
            expected: list[tuple[str, str]] = []
        except kubernetes_validate.ValidationError as exc:
            expected = [(".".join(str(p) for p in exc.absolute_path), exc.message)]
        assert validation_problems(manifest, version) == expected, manifest["kind"]
    assert sum(bool(validation_problems(m, version)) for m in broken) == len(broken)


PARALLEL_VALIDATION = """
import copy, json, os, sys
from compiler.frontend import load_platform
from compiler.plan import manifests
from compiler.plan.sharded import plan_program
from compiler.workers import fork_safe

ir = load_platform(sys.argv[1], ["env=prod"]).ir
plan = plan_program(ir, jobs=2)  # Pulumi runs in a worker: this process can still fork
objects = manifests.kubernetes_objects(plan)
policy = next(o for o in objects if o.path.endswith("networkpolicy.default-deny.yaml"))
broken = copy.deepcopy(policy.manifest)
broken["spec"]["podSelectr"] = {}
objects.append(manifests.KubeObject(policy.path, broken, policy.resource, policy.patch))
manifests.PARALLEL_MIN_OBJECTS = 2
parent, seen = os.getpid(), set()
check = manifests._problems_in_worker
def with_pid(index):
    seen_file.write(f"{os.getpid()}\\n"); seen_file.flush()
    return check(index)
seen_file = open(sys.argv[2], "a")
manifests._problems_in_worker = with_pid
forked = fork_safe()
parallel = manifests.validate_objects(objects, plan.kubernetes_version, jobs=2)
manifests._problems_in_worker = check
sequential = manifests.validate_objects(objects, plan.kubernetes_version, jobs=1)
pids = set(open(sys.argv[2]).read().split())
open(sys.argv[2], "w").close()
dump = manifests._dump_group
def dump_with_pid(team):
    seen_file.write(f"{os.getpid()}\\n"); seen_file.flush()
    return dump(team)
manifests._dump_group = dump_with_pid
texts = manifests.manifest_files(objects, jobs=2)
dump_pids = set(open(sys.argv[2]).read().split())
manifests._dump_group = dump
print(json.dumps({"forked": forked and str(parent) not in pids and len(pids) >= 1,
                  "same": parallel == sequential, "problems": len(parallel.problems),
                  "texts forked": str(parent) not in dump_pids and len(dump_pids) >= 1,
                  "same texts": texts == manifests.manifest_files(objects, jobs=1)}))
"""


def test_validation_on_workers_matches_one_process(tmp_path):
    out = run_fresh_python(PARALLEL_VALIDATION, str(CONFIGS), str(tmp_path / "pids"))
    assert out == {
        "forked": True,
        "same": True,
        "problems": 1,
        "texts forked": True,
        "same texts": True,
    }


def test_cached_texts_and_verdicts_match_fresh_ones_and_follow_changes(prod, tmp_path):
    """One cache entry per team and stage; a changed object re-validates and re-renders its
    team, never served stale."""
    from compiler.cache import BuildCache

    cache = BuildCache(tmp_path / "cache")
    objects = kubernetes_objects(prod)
    fresh_files = manifest_files(objects)
    fresh_report = validate_objects(objects, prod.kubernetes_version)
    for _ in range(2):  # fills the cache, then reads it
        assert manifest_files(objects, cache) == fresh_files
        assert validate_objects(objects, prod.kubernetes_version, cache) == fresh_report
    teams = {o.resource.spec.team or "" for o in objects}
    assert cache.entries("manifests") == cache.entries("k8s-validate") == len(teams) == 6
    assert cache.entries() == 2 * len(teams)

    path = "manifests/team-fraud.networkpolicy.default-deny.yaml"
    changed = [
        _broken(o, lambda m: m["spec"].update(podSelectr={})) if o.path == path else o
        for o in objects
    ]
    report = validate_objects(changed, prod.kubernetes_version, cache)
    assert [(p.path, p.where) for p in report.problems] == [(path, "spec")]
    assert "podSelectr" in manifest_files(changed, cache)[path]
    assert validate_objects(objects, prod.kubernetes_version, cache) == fresh_report


def test_a_feature_transformer_is_checked_as_a_pod_of_its_own(prod):
    from compiler.plan.manifests import inference_service_pods

    (isvc,) = [
        o
        for o in kubernetes_objects(prod)
        if o.manifest["kind"] == "InferenceService"
        and o.manifest["metadata"]["name"] == "chargeback-scorer"
    ]
    pods = dict(inference_service_pods(isvc.manifest))
    assert sorted(pods) == ["predictor", "transformer"]
    transformer = pods["transformer"]
    assert transformer["metadata"]["name"] == "chargeback-scorer-transformer"
    assert "minReplicas" not in transformer["spec"]  # a KServe field, not a pod's
    bad = copy.deepcopy(isvc.manifest)
    bad["spec"]["transformer"]["containers"][0]["imagePullPolice"] = "Always"
    report = validate_objects([dataclasses.replace(isvc, manifest=bad)], "1.31")
    assert [(p.path, p.where) for p in report.problems] == [
        (f"{isvc.path} (transformer)", "spec.containers.0")
    ]
