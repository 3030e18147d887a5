"""What a compiled pipeline says about the pods of its tasks: the facts the security
baseline checks (compiler/policy/pods.py) - each task's executor, security context and
resources.

They are read from the compiled documents. The kfp backend derives them from the documents
it has just dumped, while it compiles on every core, and stores them in the build cache
under the digest of the compiled text (`facts_key`): the baseline then looks them up instead
of parsing tens of megabytes of YAML again. Text the cache does not know (no cache, or
files compiled elsewhere) is parsed (`facts_of_text`); both give the same facts
(tests/test_pod_facts.py).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import yaml

from compiler.cache import code_fingerprint, digest, versions
from compiler.policy.plan_view import dig

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

STAGE = "policy"
"""The cache stage of pipeline facts."""


def facts_key(text: str | bytes) -> str:
    """The cache key of a compiled pipeline's facts: the digest of its text and of the code
    that reads them from it."""
    return digest(
        "kfp-pod-facts",
        text if isinstance(text, str) else text.decode(),
        code_fingerprint("compiler/pod_facts.py", "compiler/policy/plan_view.py"),
        versions("PyYAML"),
    )


def _executors(spec: dict[str, Any], dag: dict[str, Any]) -> Iterator[tuple[str, str]]:
    """(task name, executor label) of every task, through sub-DAGs."""
    components = spec.get("components") or {}
    for task, body in (dag.get("tasks") or {}).items():
        component = components.get(dig(body, "componentRef", "name")) or {}
        if "dag" in component:
            yield from _executors(spec, component["dag"])
        elif component.get("executorLabel"):
            yield str(task), str(component["executorLabel"])


def facts_of_documents(documents: Sequence[Any]) -> dict[str, Any]:
    """The facts of a compiled pipeline's YAML documents (the pipeline spec, then the
    platform spec kfp-kubernetes writes, if any)."""
    docs = [d for d in documents if isinstance(d, dict)]
    spec = docs[0] if docs else {}
    platform = next((d for d in docs[1:] if "platforms" in d), {})
    kubernetes = dig(platform, "platforms", "kubernetes", "deploymentSpec", "executors") or {}
    executors = dig(spec, "deploymentSpec", "executors") or {}
    return {
        "tasks": dict(_executors(spec, dig(spec, "root", "dag") or {})),
        "security": {label: dig(kubernetes, label, "securityContext") or {} for label in executors},
        "resources": {
            label: dig(executors, label, "container", "resources") or {} for label in executors
        },
    }


def facts_of_text(text: str | bytes) -> dict[str, Any]:
    """The facts of a compiled pipeline file, parsed."""
    return facts_of_documents(list(yaml.load_all(text, Loader=_Loader)))
