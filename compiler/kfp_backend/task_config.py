"""Per-step Kubernetes settings of a task: resources, GPUs, placement, retries, secrets, security.

Everything here is expressed through kfp's `PipelineTask` methods and kfp-kubernetes, so
it lands in the compiled pipeline spec (resources, retry and caching in the task and
executor specs; the rest in the Kubernetes platform spec).
"""

from __future__ import annotations

from kfp import dsl, kubernetes

from compiler.ir import GPU_MODEL_LABEL, NODE_POOL_LABEL, NodePool, Pipeline, Step
from compiler.kfp_backend import kubernetes_batch
from schemas.pipeline import SecretRef
from schemas.types import format_cpu, format_memory

GPU_RESOURCE = "nvidia.com/gpu"
"""The accelerator type of GPU steps. Kubeflow's Kubernetes driver requests the accelerator
type as an extended resource, so it is the device plugin's resource name; the GPU model
(e.g. nvidia-a10g) is chosen by node labels, not by this string."""

RUN_AS_USER = 1000
RUN_AS_GROUP = 1000
"""Every step runs as this non-root UID/GID (runAsNonRoot). Images must work as that user."""

TEAM_LABEL = "mlplat.io/team"
PIPELINE_LABEL = "mlplat.io/pipeline"

PYTHON_STEP_HOME = "/tmp"
"""HOME of python steps: their `pip install` falls back to a per-user install (under
$HOME/.local) when running as the non-root user, so HOME must be writable."""


def _duration(seconds: int) -> str:
    return f"{seconds}s"


def apply_resources(task: dsl.PipelineTask, step: Step) -> None:
    res = step.resources
    task.set_cpu_request(format_cpu(res.cpu))
    task.set_cpu_limit(format_cpu(res.cpu_limit))
    task.set_memory_request(format_memory(res.memory))
    task.set_memory_limit(format_memory(res.memory_limit))
    if res.gpu:
        task.set_accelerator_type(GPU_RESOURCE)
        task.set_accelerator_limit(res.gpu)


def apply_placement(task: dsl.PipelineTask, step: Step, pool: NodePool | None) -> None:
    """Pin the task to its node pool (and GPU model) and tolerate the pool's taints."""
    kubernetes.add_node_selector(task, NODE_POOL_LABEL, step.node_pool)
    if step.resources.gpu_model:
        kubernetes.add_node_selector(task, GPU_MODEL_LABEL, step.resources.gpu_model)
    for taint in pool.taints if pool else ():
        kubernetes.add_toleration(
            task,
            key=taint.key,
            operator="Equal" if taint.value else "Exists",
            value=taint.value or None,
            effect=taint.effect,
        )


def apply_execution(task: dsl.PipelineTask, step: Step) -> None:
    """Retries with exponential backoff, caching and the pod's deadline."""
    task.set_caching_options(enable_caching=step.caching)
    retry = step.retry
    if retry.attempts:
        task.set_retry(
            num_retries=retry.attempts,
            backoff_duration=_duration(retry.backoff),
            backoff_factor=retry.backoff_factor,
            backoff_max_duration=_duration(retry.max_backoff),
        )
    kubernetes.set_timeout(task, step.timeout_seconds)


def _secret_env_batches(ref: SecretRef) -> list[dict[str, str]]:
    """kfp maps secret key → env var; split the step's VAR → key map where keys repeat."""
    batches: list[dict[str, str]] = []
    for var, key in sorted(ref.env.items()):
        batch = next((b for b in batches if key not in b), None)
        if batch is None:
            batch = {}
            batches.append(batch)
        batch[key] = var
    return batches


def apply_environment(
    task: dsl.PipelineTask, step: Step, tracking: dict[str, str] | None = None
) -> None:
    """Plain env vars, then secrets by name (as env vars or mounted files), never values.
    `tracking`: the MLflow variables of the environment (a step's own env wins)."""
    env = {**(tracking or {}), **step.env}
    if step.kind == "python":
        env.setdefault("HOME", PYTHON_STEP_HOME)
    for name, value in sorted(env.items()):
        task.set_env_variable(name, value)
    for ref in step.secrets:
        for batch in _secret_env_batches(ref):
            kubernetes.use_secret_as_env(task, secret_name=ref.secret, secret_key_to_env=batch)
        if ref.mount_path:
            kubernetes.use_secret_as_volume(task, secret_name=ref.secret, mount_path=ref.mount_path)


def apply_identity(task: dsl.PipelineTask, pipeline: Pipeline) -> None:
    """Non-root security context and the labels that tie the pod to its team."""
    kubernetes.set_security_context(
        task, run_as_user=RUN_AS_USER, run_as_group=RUN_AS_GROUP, run_as_non_root=True
    )
    kubernetes.add_pod_label(task, TEAM_LABEL, pipeline.team)
    kubernetes.add_pod_label(task, PIPELINE_LABEL, pipeline.name)


def tracking_env(tracking_uri: str | None, pipeline: Pipeline) -> dict[str, str]:
    """MLflow's variables for the steps of `pipeline` (none without a tracking server): runs
    group under the experiment `<team>/<pipeline>`, as the local registry groups them."""
    if tracking_uri is None:
        return {}
    return {
        "MLFLOW_TRACKING_URI": tracking_uri,
        "MLFLOW_EXPERIMENT_NAME": f"{pipeline.team}/{pipeline.name}",
    }


def configure_task(
    task: dsl.PipelineTask,
    pipeline: Pipeline,
    step: Step,
    pool: NodePool | None,
    tracking_uri: str | None = None,
) -> None:
    with kubernetes_batch.batched(task):
        apply_resources(task, step)
        apply_placement(task, step, pool)
        apply_execution(task, step)
        apply_environment(task, step, tracking_env(tracking_uri, pipeline))
        apply_identity(task, pipeline)
