"""S6xx: every pod the platform defines runs as non-root, without privilege escalation or
capabilities, under the RuntimeDefault seccomp profile, with requests and limits, and -
when it serves a model - with readiness and liveness probes.

Pod templates come from the plan's Kubernetes objects (Deployments and other workloads,
InferenceService predictors as KServe runs them, Kubeflow training jobs) and from the
compiled pipelines (`pipelines/<team>/<pipeline>.yaml`: one pod per step). A pipeline step
can only carry what kfp-kubernetes can write (user, group, runAsNonRoot, resources): its
other restricted fields come from the Kyverno policy that completes pods in team namespaces
(platform_iac/pod_security.py). So for steps the baseline checks runAsNonRoot and resources
in the compiled spec, and (S607) that the plan installs Kyverno, labels the team namespace
and holds a policy that fills in every other field Pod Security `restricted` requires.
What a compiled pipeline says about its pods comes from compiler/pod_facts.py (derived while
compiling, looked up here by the text's digest; parsed only when the cache lacks them).
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any

from compiler.cache import BuildCache
from compiler.ir import Pipeline, PlatformIR
from compiler.plan.manifests import inference_service_pods
from compiler.pod_facts import STAGE as FACTS_STAGE
from compiler.pod_facts import facts_key, facts_of_text
from compiler.policy.findings import Rule, Violation
from compiler.policy.plan_view import (
    HELM_RELEASE,
    KubeObject,
    PlanView,
    as_list,
    describe,
    dig,
    spec_path,
    subject,
)
from compiler.workers import SHARED, map_unordered
from compiler.yaml_source import Path_
from platform_iac.naming import ENDPOINT_LABEL

SECCOMP_PROFILES = frozenset({"RuntimeDefault", "Localhost"})
ALLOWED_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
RESOURCE_FIELDS = (
    ("requests", "cpu"),
    ("requests", "memory"),
    ("limits", "cpu"),
    ("limits", "memory"),
)
KFP_RESOURCES = {
    ("requests", "cpu"): ("resourceCpuRequest", "cpuRequest"),
    ("requests", "memory"): ("resourceMemoryRequest", "memoryRequest"),
    ("limits", "cpu"): ("resourceCpuLimit", "cpuLimit"),
    ("limits", "memory"): ("resourceMemoryLimit", "memoryLimit"),
}
WORKLOADS = frozenset({"Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "Job"})
KYVERNO_CHART = "kyverno"
KYVERNO_POLICIES = frozenset({("kyverno.io/v1", "ClusterPolicy"), ("kyverno.io/v1", "Policy")})
POD_DEFAULTS = (
    "pod runAsNonRoot: true",
    "pod seccompProfile: RuntimeDefault",
    "containers allowPrivilegeEscalation: false",
    "containers capabilities.drop: [ALL]",
    "initContainers allowPrivilegeEscalation: false",
    "initContainers capabilities.drop: [ALL]",
)

RULES = (
    Rule(
        "S601",
        "pod-non-root",
        "pod may run as root",
        "Every container runs with runAsNonRoot: true (pod or container level) and never "
        "as user 0; pipeline steps set it in the compiled pipeline.",
    ),
    Rule(
        "S602",
        "pod-no-privilege-escalation",
        "container may escalate privileges",
        "Every container sets allowPrivilegeEscalation: false and is not privileged.",
    ),
    Rule(
        "S603",
        "pod-drop-capabilities",
        "container keeps Linux capabilities",
        "Every container drops ALL capabilities and adds none but NET_BIND_SERVICE.",
    ),
    Rule(
        "S604",
        "pod-seccomp",
        "container without the RuntimeDefault seccomp profile",
        "Every container runs under the RuntimeDefault (or a Localhost) seccomp profile, set "
        "on the pod or the container.",
    ),
    Rule(
        "S605",
        "pod-resources",
        "container without resource requests and limits",
        "Every container requests CPU and memory and has CPU and memory limits, so the "
        "scheduler and the team quota account for it.",
    ),
    Rule(
        "S606",
        "serving-probes",
        "serving container without readiness and liveness probes",
        "Serving containers have a readiness probe (no traffic before the model is loaded) "
        "and a liveness probe (a hung server is restarted).",
    ),
    Rule(
        "S607",
        "pipeline-pod-defaults",
        "pipeline pods not completed to the restricted standard",
        "Pipeline pods (steps, Kubeflow's driver and launcher, Argo's init and wait "
        "containers) are completed to Pod Security restricted by the Kyverno policy of the "
        "plan: Kyverno is installed, the team namespace carries the policy's label, and the "
        "policy sets every field kfp-kubernetes cannot.",
    ),
)


@dataclass(frozen=True)
class PodTemplate:
    title: str
    who: str
    path: Path_
    resource: str
    spec: dict[str, Any]
    serving: bool


def check(
    view: PlanView,
    pipelines: Mapping[str, str | bytes] | None,
    cache: BuildCache | None = None,
    jobs: int = 1,
    facts: Mapping[str, dict[str, Any]] | None = None,
) -> Iterator[Violation]:
    """`facts`: `pipeline_facts` of `pipelines`, when the caller has them already."""
    for template in pod_templates(view):
        yield from _template(template)
    if pipelines is not None:
        if facts is None:
            facts = pipeline_facts(view.ir, pipelines, cache, jobs)
        for pipeline in view.ir.pipelines():
            text = pipelines.get(f"pipelines/{pipeline.team}/{pipeline.name}.yaml")
            # a pipeline's violations follow from it and its compiled text (facts included)
            yield from view.memo.recall(
                "pipeline-violations",
                (pipeline, text),
                None,
                partial(_violations_of, pipeline, pipelines, facts),
            )
    for name, team in sorted(view.ir.teams.items()):
        if team.pipelines:
            missing = pod_defaults_missing(view, team.namespace)
            if missing:
                yield Violation(
                    "S607",
                    f"team '{name}'",
                    f"its pipelines run in namespace '{team.namespace}', where {missing}",
                    ("teams", name, "pipelines"),
                    hint="the program installs Kyverno with platform_iac/pod_security.py and "
                    "labels team namespaces for it: report this to the platform team",
                )


# --- pod templates of Kubernetes objects --------------------------------------------------


def _pod_specs(obj: KubeObject) -> list[dict[str, Any]]:
    manifest, kind = obj.manifest, obj.kind
    if kind == "Pod":
        specs = [manifest.get("spec")]
    elif kind in WORKLOADS or obj.api_version.startswith("serving.knative.dev/"):
        specs = [dig(manifest, "spec", "template", "spec")]
    elif kind == "CronJob":
        specs = [dig(manifest, "spec", "jobTemplate", "spec", "template", "spec")]
    elif kind == "InferenceService":
        specs = [pod["spec"] for _component, pod in inference_service_pods(manifest)]
    elif obj.api_version.startswith("kubeflow.org/") and kind.endswith("Job"):
        specs = [
            dig(replica, "template", "spec")
            for field, replicas in (manifest.get("spec") or {}).items()
            if field.endswith("ReplicaSpecs") and isinstance(replicas, dict)
            for replica in replicas.values()
        ]
    else:
        return []
    return [s if isinstance(s, dict) else {} for s in specs]


def pod_templates(view: PlanView) -> Iterator[PodTemplate]:
    for obj in view.kube_objects:
        ref = obj.resource.spec
        serving = ref.kind == "endpoint" or ENDPOINT_LABEL in obj.labels
        for spec in _pod_specs(obj):
            yield PodTemplate(
                obj.title(), subject(ref), spec_path(ref), describe(obj.resource), spec, serving
            )


def _containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        c
        for field in ("initContainers", "containers")
        for c in as_list(spec.get(field))
        if isinstance(c, dict)
    ]


def _template(t: PodTemplate) -> Iterator[Violation]:
    pod = t.spec.get("securityContext") or {}
    found: dict[str, list[str]] = {}

    def flag(code: str, container: dict[str, Any], what: str) -> None:
        found.setdefault(code, []).append(f"'{container.get('name', '?')}' {what}")

    containers = _containers(t.spec)
    if not containers:
        flag("S605", {"name": "(none)"}, "is missing: the template defines no container")
    for c in containers:
        sc = c.get("securityContext") or {}
        non_root = sc.get("runAsNonRoot", pod.get("runAsNonRoot"))
        user = sc.get("runAsUser", pod.get("runAsUser"))
        if non_root is not True or str(user) == "0":
            flag("S601", c, "may run as root" if str(user) != "0" else "runs as user 0")
        if sc.get("allowPrivilegeEscalation") is not False or sc.get("privileged") is True:
            flag("S602", c, "does not set allowPrivilegeEscalation: false")
        capabilities = sc.get("capabilities") or {}
        added = set(as_list(capabilities.get("add"))) - ALLOWED_CAPABILITIES
        if "ALL" not in as_list(capabilities.get("drop")) or added:
            flag("S603", c, f"adds {', '.join(sorted(added))}" if added else "does not drop ALL")
        profile = dig(sc, "seccompProfile", "type") or dig(pod, "seccompProfile", "type")
        if profile not in SECCOMP_PROFILES:
            flag("S604", c, f"runs with seccomp profile {profile or 'unset'}")
        missing = [f"{a}.{b}" for a, b in RESOURCE_FIELDS if not dig(c, "resources", a, b)]
        if missing:
            flag("S605", c, f"has no {', '.join(missing)}")
    if t.serving:
        for c in as_list(t.spec.get("containers")):
            absent = [p for p in ("readinessProbe", "livenessProbe") if not dig(c, p)]
            if absent:
                flag("S606", c, f"has no {' and '.join(absent)}")
    for code, problems in found.items():
        yield Violation(
            code, t.who, f"{t.title}: container {'; '.join(problems)}", t.path, t.resource
        )


# --- pipeline steps (compiled KFP specs) --------------------------------------------------


PARALLEL_MIN_PIPELINES = 64
"""Below this many unparsed pipelines, forking workers costs more than it saves."""


def _facts_in_worker(relpath: str) -> tuple[str, dict[str, Any]]:
    return relpath, facts_of_text(SHARED["pod_pipelines"][relpath])


def pipeline_facts(
    ir: PlatformIR,
    pipelines: Mapping[str, str | bytes],
    cache: BuildCache | None = None,
    jobs: int = 1,
    known: Mapping[str, dict[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """The facts of every compiled pipeline of `ir`, by path: `known` ones (derived by the
    compile step of this build), cached ones, and the rest parsed on `jobs` cores (parsing
    thousands of large pipelines is the cost; facts are cached by file content)."""
    cache = cache or BuildCache(None)
    facts: dict[str, dict[str, Any]] = {}
    keys: dict[str, str] = {}
    for pipeline in ir.pipelines():
        relpath = f"pipelines/{pipeline.team}/{pipeline.name}.yaml"
        text = pipelines.get(relpath)
        if text is None:
            continue
        if known is not None and relpath in known:
            facts[relpath] = known[relpath]
            continue
        keys[relpath] = (
            cache.recall("facts-key", text, None, partial(facts_key, text)) if cache.enabled else ""
        )
        cached = cache.load(FACTS_STAGE, keys[relpath], json.loads)
        if cached is not None:
            facts[relpath] = dict(cached)
    todo = sorted(keys.keys() - facts.keys())
    SHARED["pod_pipelines"] = pipelines
    try:
        for relpath, found in map_unordered(
            _facts_in_worker, todo, jobs, min_batch=PARALLEL_MIN_PIPELINES
        ):
            facts[relpath] = found
            if cache.enabled:
                cache.put(FACTS_STAGE, keys[relpath], json.dumps(found, sort_keys=True).encode())
    finally:
        SHARED.pop("pod_pipelines", None)
    return facts


def _violations_of(
    pipeline: Pipeline, files: Mapping[str, str | bytes], facts_of: Mapping[str, dict[str, Any]]
) -> tuple[Violation, ...]:
    return tuple(_pipeline(pipeline, files, facts_of))


def _pipeline(
    pipeline: Pipeline, files: Mapping[str, str | bytes], facts_of: Mapping[str, dict[str, Any]]
) -> Iterator[Violation]:
    relpath = f"pipelines/{pipeline.team}/{pipeline.name}.yaml"
    base: Path_ = ("teams", pipeline.team, "pipelines", pipeline.name)
    text = files.get(relpath)
    if text is None:
        yield Violation(
            "S601",
            f"pipeline '{pipeline.team}/{pipeline.name}'",
            f"has no compiled pipeline ({relpath}) whose pods could be checked",
            base,
        )
        return
    facts = facts_of[relpath]
    tasks = facts["tasks"]
    for step in pipeline.order:
        label = tasks.get(step)
        if label is None:
            continue
        who = f"step '{step}' of pipeline '{pipeline.team}/{pipeline.name}'"
        path = (*base, "steps", step)
        sc = facts["security"].get(label) or {}
        if sc.get("runAsNonRoot") is not True or str(sc.get("runAsUser")) == "0":
            yield Violation(
                "S601",
                who,
                f"{relpath} does not set runAsNonRoot: true for {label}",
                path,
                relpath,
            )
        resources = facts["resources"].get(label) or {}
        missing = [
            f"{a}.{b}"
            for (a, b), keys in KFP_RESOURCES.items()
            if not any(resources.get(k) for k in keys)
        ]
        if missing:
            yield Violation(
                "S605", who, f"{relpath} sets no {', '.join(missing)} for {label}", path, relpath
            )


# --- the pod defaults policy (Kyverno) ----------------------------------------------------


def _anchor(key: Any) -> tuple[str, str]:
    """`+(x)` → (x, add); `(x)` → (x, condition); `x` → (x, set)."""
    text = str(key)
    if text.startswith("+(") and text.endswith(")"):
        return text[2:-1], "add"
    if text.startswith("(") and text.endswith(")"):
        return text[1:-1], "condition"
    return text, "set"


def _plain(value: Any) -> Any:
    """A patch without its anchors: conditions dropped, added or set values kept."""
    if isinstance(value, dict):
        plain = {}
        for key, item in value.items():
            name, anchor = _anchor(key)
            if anchor != "condition":
                plain[name] = _plain(item)
        return plain
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _container_defaults(entry: Any) -> set[str]:
    sc = _plain(dig(entry, "securityContext") or {})
    found = set()
    if sc.get("allowPrivilegeEscalation") is False:
        found.add("allowPrivilegeEscalation: false")
    if "ALL" in as_list(dig(sc, "capabilities", "drop")):
        found.add("capabilities.drop: [ALL]")
    return found


def _every_container(entry: Any, element: bool) -> bool:
    """Does a strategic-merge list entry address every container of the list?"""
    if not isinstance(entry, dict):
        return False
    names = {k: v for k, v in entry.items() if _anchor(k)[0] == "name"}
    if element:
        return any(str(v).replace(" ", "") == "{{element.name}}" for v in names.values())
    return any(_anchor(k)[1] == "condition" and v in ("*", "?*") for k, v in names.items())


def _rule_defaults(rule: dict[str, Any]) -> set[str]:
    mutate = rule.get("mutate") or {}
    provided = set()
    if not rule.get("preconditions"):
        patch = _plain(mutate.get("patchStrategicMerge") or {})
        pod = dig(patch, "spec", "securityContext") or {}
        if pod.get("runAsNonRoot") is True:
            provided.add("pod runAsNonRoot: true")
        if dig(pod, "seccompProfile", "type") == "RuntimeDefault":
            provided.add("pod seccompProfile: RuntimeDefault")
        raw = dig(mutate, "patchStrategicMerge", "spec") or {}
        for field in ("containers", "initContainers"):
            for entry in as_list(raw.get(field)):
                if _every_container(entry, element=False):
                    provided |= {f"{field} {d}" for d in _container_defaults(entry)}
    for loop in as_list(mutate.get("foreach")):
        listed = str(dig(loop, "list") or "").strip().strip("{}").strip()
        field = listed.removeprefix("request.object.spec.")
        if field not in ("containers", "initContainers") or field == listed:
            continue
        guards = [str(dig(p, "key")) for p in as_list(dig(rule, "preconditions", "all"))]
        if rule.get("preconditions") and (
            dig(rule, "preconditions", "any")
            or not all(f"request.object.spec.{field}" in g for g in guards)
        ):
            continue  # a condition beyond "the list is not empty": not every pod
        for entry in as_list(dig(loop, "patchStrategicMerge", "spec", field)):
            if _every_container(entry, element=True):
                provided |= {f"{field} {d}" for d in _container_defaults(entry)}
    return provided


def _selects(selector: Any, labels: dict[str, str]) -> bool:
    if not isinstance(selector, dict) or selector.get("matchExpressions"):
        return False  # expressions are not evaluated: not counted as coverage
    wanted = selector.get("matchLabels") or {}
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def _filter_matches(item: Any, namespace: str, labels: dict[str, str]) -> bool:
    if not isinstance(item, dict) or set(item) - {"resources"}:
        return False  # narrowed to some users, roles or subjects: not every pod
    resources = item.get("resources") or {}
    kinds = as_list(resources.get("kinds"))
    operations = as_list(resources.get("operations"))
    namespaces = as_list(resources.get("namespaces"))
    if not {"Pod", "v1/Pod", "*"} & set(kinds) or resources.get("selector"):
        return False
    if operations and "CREATE" not in operations:
        return False
    if namespaces and not any(fnmatch.fnmatchcase(namespace, str(n)) for n in namespaces):
        return False
    return "namespaceSelector" not in resources or _selects(resources["namespaceSelector"], labels)


def _rule_matches(rule: dict[str, Any], namespace: str, labels: dict[str, str]) -> bool:
    match = rule.get("match") or {}
    if rule.get("exclude"):
        return False
    if match.get("any"):
        return any(_filter_matches(i, namespace, labels) for i in as_list(match["any"]))
    if match.get("all"):
        return all(_filter_matches(i, namespace, labels) for i in as_list(match["all"]))
    return "resources" in match and _filter_matches(
        {"resources": match["resources"]}, namespace, labels
    )


def pod_defaults_missing(view: PlanView, namespace: str) -> str | None:
    """Why pods in `namespace` would not be completed to `restricted`; None when they are."""
    found = view.namespaces.get(namespace)
    if found is None:
        return "the namespace is not in the plan"
    candidates = [*view.kube("ClusterPolicy"), *view.kube("Policy", namespace)]
    # what the answer reads: the namespace, the policies, the Helm releases
    owners = (
        found.resource,
        *(obj.resource for obj in candidates),
        *view.of_type(HELM_RELEASE),
    )
    return view.memo.recall(
        "pod-defaults",
        owners,
        namespace,
        lambda: _pod_defaults_missing(view, namespace, found, candidates),
    )


def _pod_defaults_missing(
    view: PlanView, namespace: str, found: KubeObject, candidates: list[KubeObject]
) -> str | None:
    labels = {**found.labels, "kubernetes.io/metadata.name": namespace}
    if KYVERNO_CHART not in view.helm_charts():
        return "Kyverno, which applies the pod-security defaults, is not installed"
    provided: set[str] = set()
    for obj in candidates:
        if (obj.api_version, obj.kind) not in KYVERNO_POLICIES:
            continue
        spec = obj.manifest.get("spec") or {}
        if spec.get("admission") is False or (obj.kind == "Policy" and obj.namespace != namespace):
            continue
        for rule in as_list(spec.get("rules")):
            if isinstance(rule, dict) and _rule_matches(rule, namespace, labels):
                provided |= _rule_defaults(rule)
    missing = [d for d in POD_DEFAULTS if d not in provided]
    if not missing:
        return None
    return f"no Kyverno policy sets {', '.join(missing)}"
