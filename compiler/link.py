"""Link validated specs into the Platform IR: resolve references, check them, apply defaults.

Checks that need more than one object live here: unique names, references that must
resolve (node pools, buckets, models, steps, outputs, parameters), cycles between steps,
GPU placement, quotas against workloads and against cluster capacity, credentials pasted
inline. Every problem is collected; the IR is returned only when there is no error.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any, TypeVar

from compiler import link_features
from compiler.cache import BuildCache, digest, file_digest
from compiler.config_layout import TEAMS_DIR
from compiler.diagnostics import Diagnostic, Span, did_you_mean, error, has_errors, warning
from compiler.ir import (
    GPU_MODEL_LABEL,
    GPU_TAINT_KEY,
    NODE_POOL_LABEL,
    Bucket,
    Endpoint,
    Model,
    NodePool,
    Pipeline,
    Platform,
    PlatformIR,
    Pulumi,
    ResolvedResources,
    Schedule,
    Step,
    StepInput,
    Team,
    team_namespace,
    team_service_account,
)
from compiler.ir_features import FeatureStore, feature_store_yaml
from compiler.link_monitoring import link_monitoring
from compiler.secrets_scan import credential_in_env, credentials_in_tree
from compiler.team_packages import outside_team_code
from compiler.training_link import check_tuning, link_distributed
from compiler.validate import ParsedSpec
from compiler.yaml_source import Locator, Path_
from schemas.catalog import INSTANCE_TYPES
from schemas.pipeline import (
    ParamRef,
    PipelineSpec,
    StepOutputRef,
    StepSpec,
    placeholders,
    value_matches,
)
from schemas.platform import NodePoolSpec, RootSpec, Taint
from schemas.resources import Resources
from schemas.serving import EndpointSpec, ModelSpec
from schemas.team import TeamSpec
from schemas.types import format_cpu, format_memory

# Which serving runtimes can load which model frameworks.
RUNTIME_FRAMEWORKS: dict[str, set[str]] = {
    "sklearn": {"sklearn"},
    "xgboost": {"xgboost"},
    "lightgbm": {"lightgbm"},
    "pytorch": {"pytorch"},
    "tensorflow": {"tensorflow"},
    "onnx": {"onnx"},
    "triton": {"onnx", "pytorch", "tensorflow"},
    "huggingface": {"huggingface", "pytorch"},
    "custom": {
        "sklearn",
        "xgboost",
        "lightgbm",
        "pytorch",
        "tensorflow",
        "onnx",
        "huggingface",
        "custom",
    },
}


@dataclass
class _Linker:
    spec: ParsedSpec
    diags: list[Diagnostic] = field(default_factory=list)
    cache: BuildCache | None = None
    """The build's cache (facts read from files, e.g. a source file's columns)."""

    @property
    def sources(self) -> Locator:
        return self.spec.composed.sources

    def at(self, *path: str | int, key: bool = False) -> Span:
        return (
            self.sources.locate(tuple(path), at_key=key)
            or self.sources.locate(())
            or Span("<config>")
        )

    def err(
        self,
        code: str,
        message: str,
        path: Path_,
        hint: str | None = None,
        *,
        key: bool = False,
        notes: Iterable[str] = (),
    ) -> None:
        self.diags.append(error(code, message, self.at(*path, key=key), hint, *notes))

    def warn(self, code: str, message: str, path: Path_, hint: str | None = None) -> None:
        self.diags.append(warning(code, message, self.at(*path, key=True), hint))


def _gpus(count: int) -> str:
    return f"{count} GPU{'s' * (count != 1)}"


def _resolve_pool(ln: _Linker, name: str, spec: NodePoolSpec) -> NodePool | None:
    base: Path_ = ("node_pools", name)
    types = []
    for index, type_name in enumerate(spec.instance_types):
        info = INSTANCE_TYPES.get(type_name)
        if info is None:
            ln.err(
                "E207",
                f"unknown instance type '{type_name}' in node pool '{name}'",
                (*base, "instance_types", index),
                did_you_mean(type_name, INSTANCE_TYPES),
            )
        else:
            types.append(info)
    if len(types) != len(spec.instance_types):
        return None
    shapes = {(t.gpu_model, t.gpu_count) for t in types}
    if len(shapes) > 1:
        described = ", ".join(
            f"{t.name} has {_gpus(t.gpu_count)}" + (f" ({t.gpu_model})" if t.gpu_model else "")
            for t in types
        )
        ln.err(
            "E208",
            f"instance types of node pool '{name}' differ in GPUs: {described}",
            (*base, "instance_types"),
            "use instance types with the same GPU model and count in one pool",
        )
        return None
    gpu_model, gpu_count = types[0].gpu_model, types[0].gpu_count
    if spec.gpu is not None and (spec.gpu.model, spec.gpu.count) != (gpu_model, gpu_count):
        actual = f"{gpu_count} x {gpu_model}" if gpu_model else "no GPU"
        ln.err(
            "E208",
            f"node pool '{name}' declares {spec.gpu.count} x {spec.gpu.model} per node, "
            f"but {types[0].name} has {actual}",
            (*base, "gpu"),
            f"set gpu: {{model: {gpu_model}, count: {gpu_count}}}"
            if gpu_model
            else "remove 'gpu' or pick a GPU instance type",
        )
        return None
    labels = dict(spec.labels)
    for reserved in (NODE_POOL_LABEL, GPU_MODEL_LABEL):
        if reserved in labels:
            ln.err(
                "E100",
                f"label '{reserved}' is set by mlplat and cannot be set in a spec",
                (*base, "labels", reserved),
                "remove it",
                key=True,
            )
    labels[NODE_POOL_LABEL] = name
    taints = list(spec.taints)
    if gpu_model:
        labels[GPU_MODEL_LABEL] = gpu_model
        if not any(t.key == GPU_TAINT_KEY for t in taints):
            taints.append(Taint(key=GPU_TAINT_KEY, value="present", effect="NoSchedule"))
    return NodePool(
        name=name,
        description=spec.description,
        instance_types=tuple(spec.instance_types),
        capacity_type=spec.capacity_type,
        min_size=spec.min_size,
        desired_size=spec.desired_size if spec.desired_size is not None else spec.min_size,
        max_size=spec.max_size,
        disk_size_gb=spec.disk_size_gb,
        labels=dict(sorted(labels.items())),
        taints=tuple(taints),
        gpu_model=gpu_model,
        gpus_per_node=gpu_count,
        vcpu_per_node=min(t.vcpu for t in types),
        memory_gib_per_node=min(t.memory_gib for t in types),
        hourly_usd_per_node=max(t.hourly_usd for t in types),
    )


def _resources(root: RootSpec, spec: Resources, pool: NodePool | None) -> ResolvedResources:
    default = root.platform.defaults.step_resources
    cpu = spec.cpu or default.cpu or 500
    memory = spec.memory or default.memory or 1024**3
    return ResolvedResources.trusted(
        cpu=cpu,
        memory=memory,
        cpu_limit=spec.cpu_limit or max(cpu, default.cpu_limit or 0),
        memory_limit=spec.memory_limit or max(memory, default.memory_limit or 0),
        gpu=spec.gpu,
        gpu_model=(spec.gpu_type or (pool.gpu_model if pool else None)) if spec.gpu else None,
    )


def _place(
    ln: _Linker,
    what: str,
    path: Path_,
    pool_name: str | None,
    explicit: bool,
    pools: dict[str, NodePool],
    resources: Resources,
    root: RootSpec,
) -> tuple[NodePool | None, ResolvedResources]:
    """Resolve the node pool of a workload and check that it fits there."""
    pool = pools.get(pool_name or "")
    if pool is None:
        declared = ln.spec.root.node_pools  # type: ignore[union-attr]
        if explicit and pool_name not in declared:
            ln.err(
                "E202",
                f"{what} uses node pool '{pool_name}', which does not exist",
                (*path, "node_pool"),
                did_you_mean(str(pool_name), declared),  # also pools with errors of their own
            )
        return None, _resources(root, resources, None)
    resolved = _resources(root, resources, pool)
    where = (*path, "node_pool") if explicit else (*path, "resources")
    gpu_pools = sorted(n for n, p in pools.items() if p.has_gpu)
    if resources.gpu and not pool.has_gpu:
        hint = (
            f"use a GPU node pool: {', '.join(gpu_pools)}" if gpu_pools else "add a GPU node pool"
        )
        if not explicit:
            hint = f"set node_pool (the default '{pool.name}' has no GPUs); {hint}"
        ln.err(
            "E204",
            f"{what} requests {_gpus(resources.gpu)} but node pool '{pool.name}' has no GPUs",
            where,
            hint,
        )
    elif resources.gpu and resources.gpu > pool.gpus_per_node:
        ln.err(
            "E204",
            f"{what} requests {_gpus(resources.gpu)} but nodes of pool '{pool.name}' have "
            f"{pool.gpus_per_node}",
            (*path, "resources", "gpu"),
            f"request at most {pool.gpus_per_node}, or use a pool with larger nodes",
        )
    elif resources.gpu and resources.gpu_type and resources.gpu_type != pool.gpu_model:
        ln.err(
            "E204",
            f"{what} requests {resources.gpu_type} but node pool '{pool.name}' has {pool.gpu_model}",
            (*path, "resources", "gpu_type"),
            did_you_mean(
                resources.gpu_type,
                [p.name for p in pools.values() if p.gpu_model == resources.gpu_type],
            )
            if any(p.gpu_model == resources.gpu_type for p in pools.values())
            else f"use gpu_type: {pool.gpu_model}",
        )
    elif not resources.gpu and pool.has_gpu:
        ln.warn(
            "W302",
            f"{what} requests no GPU but runs on GPU node pool '{pool.name}'",
            where,
            "run CPU work on a CPU pool so GPU nodes can scale down",
        )
    if (
        resolved.cpu > pool.vcpu_per_node * 1000
        or resolved.memory > pool.memory_gib_per_node * 1024**3
    ):
        ln.err(
            "E204",
            f"{what} requests {format_cpu(resolved.cpu)} CPU and {format_memory(resolved.memory)} "
            f"memory, more than a node of pool '{pool.name}' has ({pool.vcpu_per_node} vCPU, "
            f"{pool.memory_gib_per_node}Gi)",
            (*path, "resources"),
            "lower the request or use a pool with larger instance types",
        )
    return pool, resolved


def _check_quota(
    ln: _Linker,
    team: str,
    spec: TeamSpec,
    what: str,
    need: ResolvedResources,
    path: Path_,
    times: int = 1,
) -> None:
    quota = spec.quotas
    qpath = (TEAMS_DIR, team, "quotas")
    for label, amount, limit, fmt in (
        ("GPUs", need.gpu * times, quota.gpus, str),
        ("CPU", need.cpu * times, quota.cpu, format_cpu),
        ("memory", need.memory * times, quota.memory, format_memory),
    ):
        if amount > limit:
            ln.err(
                "E205",
                f"{what} needs {fmt(amount)} {label}, above team '{team}' quota of {fmt(limit)}",
                path,
                f"lower the request, or raise quotas in the team file ({ln.at(*qpath)})",
            )


def _link_pipeline(
    ln: _Linker,
    team: str,
    tspec: TeamSpec,
    name: str,
    spec: PipelineSpec,
    pools: dict[str, NodePool],
    root: RootSpec,
    store: FeatureStore | None = None,
) -> Pipeline | None:
    base: Path_ = (TEAMS_DIR, team, "pipelines", name)
    before = len([d for d in ln.diags if d.is_error])
    steps: dict[str, Step] = {}
    for step_name, step in spec.steps.items():
        built = _link_step(ln, team, tspec, name, spec, step_name, step, pools, root)
        if built is not None:
            steps[step_name] = built
    order = _topological_order(ln, base, spec, steps)
    tuning = check_tuning(ln, name, spec, base)
    schedule = None
    if spec.schedule is not None:
        spath = (*base, "schedule", "parameters")
        for pname, value in spec.schedule.parameters.items():
            param = spec.parameters.get(pname)
            if param is None:
                ln.err(
                    "E202",
                    f"schedule sets parameter '{pname}', which pipeline '{name}' does not have",
                    (*spath, pname),
                    did_you_mean(pname, spec.parameters),
                    key=True,
                )
            elif not value_matches(param.type, value):
                ln.err(
                    "E103",
                    f"schedule parameter '{pname}' must be of type {param.type}, got {value!r}",
                    (*spath, pname),
                )
        for pname, param in spec.parameters.items():
            if param.default is None and pname not in spec.schedule.parameters:
                ln.err(
                    "E102",
                    f"scheduled pipeline '{name}' needs a value for parameter '{pname}' (it has no default)",
                    (*base, "schedule"),
                    f"add parameters: {{{pname}: ...}} to the schedule",
                    key=True,
                )
        s = spec.schedule
        schedule = Schedule(
            cron=s.cron,
            enabled=s.enabled,
            max_concurrency=s.max_concurrency,
            parameters=dict(s.parameters),
        )
    if len([d for d in ln.diags if d.is_error]) > before or order is None:
        return None
    if store is not None and any(s.features for s in spec.steps.values()):
        steps, order = link_features.add_join_steps(
            team, tspec, spec, steps, order, store, feature_store_yaml(store)
        )
    if store is not None:
        steps, order = link_features.add_publish_steps(team, tspec, name, steps, order, store)
    return Pipeline.trusted(
        name=name,
        team=team,
        namespace=team_namespace(team),
        service_account=team_service_account(team),
        description=spec.description,
        parameters=dict(spec.parameters),
        steps=steps,
        order=tuple(order),
        schedule=schedule,
        tuning=tuning,
    )


def _link_step(
    ln: _Linker,
    team: str,
    tspec: TeamSpec,
    pipeline: str,
    pspec: PipelineSpec,
    name: str,
    spec: StepSpec,
    pools: dict[str, NodePool],
    root: RootSpec,
) -> Step | None:
    base: Path_ = (TEAMS_DIR, team, "pipelines", pipeline, "steps", name)
    what = f"step '{name}' of pipeline '{pipeline}'"
    inputs: dict[str, StepInput] = {}
    producers: list[str] = []
    for input_name, value in spec.inputs.items():
        ipath = (*base, "inputs", input_name)
        if isinstance(value, ParamRef):
            param = pspec.parameters.get(value.param)
            if param is None:
                ln.err(
                    "E202",
                    f"input '{input_name}' of {what} reads parameter '{value.param}', which the pipeline "
                    "does not declare",
                    (*ipath, "param"),
                    did_you_mean(value.param, pspec.parameters),
                )
                continue
            inputs[input_name] = StepInput.trusted(
                source="param", type=param.type, param=value.param
            )
        elif isinstance(value, StepOutputRef):
            upstream = pspec.steps.get(value.step)
            if upstream is None:
                ln.err(
                    "E202",
                    f"input '{input_name}' of {what} reads step '{value.step}', which does not exist",
                    (*ipath, "step"),
                    did_you_mean(value.step, [s for s in pspec.steps if s != name]),
                )
                continue
            if value.step == name:
                ln.err(
                    "E203",
                    f"{what} reads its own output '{value.output}'",
                    (*ipath, "step"),
                    "a step cannot consume what it produces; split it in two",
                )
                continue
            out_type = upstream.outputs.get(value.output)
            if out_type is None:
                ln.err(
                    "E202",
                    f"input '{input_name}' of {what} reads output '{value.output}' of step "
                    f"'{value.step}', which has no such output",
                    (*ipath, "output"),
                    did_you_mean(value.output, upstream.outputs),
                )
                continue
            inputs[input_name] = StepInput.trusted(
                source="step", type=out_type, step=value.step, output=value.output
            )
            producers.append(value.step)
        else:
            type_name = next(
                t for t in ("bool", "int", "float", "str", "list") if value_matches(t, value)
            )
            inputs[input_name] = StepInput.trusted(source="value", type=type_name, value=value)
    if spec.features is not None:
        link_features.frame_input(ln, team, tspec, pipeline, pspec, name, spec)
    for index, dep in enumerate(spec.after):
        if dep == name:
            ln.err("E203", f"{what} lists itself in 'after'", (*base, "after", index), "remove it")
        elif dep not in pspec.steps:
            ln.err(
                "E202",
                f"{what} runs after step '{dep}', which does not exist",
                (*base, "after", index),
                did_you_mean(dep, [s for s in pspec.steps if s != name]),
            )
    if spec.python is not None:
        outside = outside_team_code(team, spec.python.function)
        if outside is not None:
            ln.err("E225", f"{what}: {outside[0]}", (*base, "python", "function"), outside[1])
    if spec.container is not None:
        for part in ("command", "args"):
            for index, text in enumerate(getattr(spec.container, part)):
                for kind, ref in placeholders(text):
                    declared = spec.inputs if kind == "inputs" else spec.outputs
                    if ref not in declared:
                        ln.err(
                            "E202",
                            f"container {part} of {what} use {{{{{kind}.{ref}}}}}, which is not "
                            f"declared in {kind}",
                            (*base, "container", part, index),
                            did_you_mean(ref, declared),
                        )
    for var, value in spec.env.items():
        found = credential_in_env(var, value)
        if found:
            ln.err(
                "E209",
                f"env var {var} of {what} holds {found}",
                (*base, "env", var),
                f"store it in a Kubernetes Secret and reference it: "
                f"secrets: [{{secret: NAME, env: {{{var}: KEY}}}}]",
            )
    pool, resources = _place(
        ln,
        what,
        base,
        spec.node_pool or root.platform.default_node_pool,
        spec.node_pool is not None,
        pools,
        spec.resources,
        root,
    )
    target = root.environment.target
    distributed = link_distributed(ln, what, base, spec, pool, resources, target)
    workers = distributed.max_workers if distributed else 1
    job = f"{what} ({workers} workers)" if distributed else what
    _check_quota(ln, team, tspec, job, resources, (*base, "resources"), times=workers)
    depends = [*spec.after, *producers]
    return Step.trusted(
        name=name,
        description=spec.description,
        kind="python" if spec.python else "container",
        python=(
            spec.python.model_copy(
                update={"base_image": spec.python.base_image or root.platform.defaults.python_image}
            )
            if spec.python
            else None
        ),
        container=spec.container,
        inputs=inputs,
        outputs=dict(spec.outputs),
        after=tuple(spec.after),
        depends_on=tuple(s for s in pspec.steps if s in depends),
        resources=resources,
        node_pool=pool.name if pool else (spec.node_pool or root.platform.default_node_pool),
        retry=spec.retry,
        caching=spec.caching,
        timeout_seconds=spec.timeout or root.platform.defaults.step_timeout,
        env=dict(spec.env),
        secrets=tuple(spec.secrets),
        distributed=distributed,
    )


def _topological_order(
    ln: _Linker, base: Path_, spec: PipelineSpec, steps: dict[str, Step]
) -> list[str] | None:
    deps: dict[str, list[str]] = {}
    for name, step in spec.steps.items():
        producers = [v.step for v in step.inputs.values() if isinstance(v, StepOutputRef)]
        producers += [step.features.entities.step] if step.features else []
        deps[name] = [d for d in spec.steps if d != name and (d in step.after or d in producers)]
    # Depth-first search with colours; the first back edge gives the cycle to print.
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in deps[node]:
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state and (cycle := visit(dep)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for name in spec.steps:
        if name not in state and (cycle := visit(name)):
            path = " -> ".join(cycle)
            ln.err(
                "E203",
                f"steps of pipeline '{base[-1]}' form a cycle: {path} (each waits for the next)",
                (*base, "steps", cycle[0]),
                "remove one of these dependencies (an 'after' entry or an input)",
                key=True,
            )
            return None
    order: list[str] = []
    placed: set[str] = set()
    while len(order) < len(spec.steps):
        for name in spec.steps:
            if name not in placed and all(d in placed for d in deps[name]):
                order.append(name)
                placed.add(name)
                break
    return order


def _link_model(ln: _Linker, team: str, tspec: TeamSpec, name: str, spec: ModelSpec) -> Model:
    base: Path_ = (TEAMS_DIR, team, "models", name)
    if spec.source is not None:
        src = spec.source
        pipeline = tspec.pipelines.get(src.pipeline)
        if pipeline is None:
            ln.err(
                "E202",
                f"model '{name}' comes from pipeline '{src.pipeline}', which team '{team}' does not have",
                (*base, "source", "pipeline"),
                did_you_mean(src.pipeline, tspec.pipelines),
            )
        elif (step := pipeline.steps.get(src.step)) is None:
            ln.err(
                "E202",
                f"model '{name}' comes from step '{src.step}', which pipeline '{src.pipeline}' does not "
                "have",
                (*base, "source", "step"),
                did_you_mean(src.step, pipeline.steps),
            )
        elif (out_type := step.outputs.get(src.output)) is None:
            ln.err(
                "E202",
                f"model '{name}' comes from output '{src.output}', which step '{src.step}' does not have",
                (*base, "source", "output"),
                did_you_mean(src.output, step.outputs),
            )
        elif out_type != "Model":
            ln.err(
                "E210",
                f"model '{name}' comes from output '{src.output}' of type {out_type}, not Model",
                (*base, "source", "output"),
                "point at an output declared as 'Model'",
            )
    return Model(
        name=name,
        team=team,
        description=spec.description,
        framework=spec.framework,
        registry_name=spec.registry_name or f"{team}.{name}",
        stage=spec.stage,
        source=spec.source,
        card=spec.card,
    )


def _link_endpoint(
    ln: _Linker,
    team: str,
    tspec: TeamSpec,
    name: str,
    spec: EndpointSpec,
    models: dict[str, Model],
    pools: dict[str, NodePool],
    root: RootSpec,
    unresolved_ok: set[str],
) -> Endpoint | None:
    base: Path_ = (TEAMS_DIR, team, "endpoints", name)
    what = f"endpoint '{name}'"
    model = models.get(spec.model)
    if model is None and spec.model not in unresolved_ok:
        ln.err(
            "E202",
            f"{what} serves model '{spec.model}', which no team declares",
            (*base, "model"),
            did_you_mean(spec.model, {*models, *unresolved_ok}),  # also models of invalid teams
        )
    if model is not None and model.framework not in RUNTIME_FRAMEWORKS[spec.runtime]:
        fitting = sorted(
            r for r, fws in RUNTIME_FRAMEWORKS.items() if model.framework in fws and r != "custom"
        )
        ln.err(
            "E100",
            f"runtime '{spec.runtime}' of {what} cannot serve model '{model.name}' "
            f"(framework {model.framework})",
            (*base, "runtime"),
            f"use runtime: {fitting[0]}" if fitting else "use runtime: custom with your own image",
        )
    pool, resources = _place(
        ln,
        what,
        base,
        spec.node_pool or root.platform.default_node_pool,
        spec.node_pool is not None,
        pools,
        spec.resources,
        root,
    )
    if model is None or pool is None:
        return None
    return Endpoint(
        name=name,
        team=team,
        namespace=team_namespace(team),
        service_account=team_service_account(team),
        description=spec.description,
        model=model.name,
        model_team=model.team,
        registry_name=model.registry_name,
        framework=model.framework,
        version=spec.version,
        runtime=spec.runtime,
        image=spec.image,
        port=spec.port,
        min_replicas=spec.min_replicas,
        max_replicas=spec.max_replicas,
        autoscaling=spec.autoscaling,
        resources=resources,
        node_pool=pool.name,
        canary=spec.canary,
        latency_objective=spec.latency_objective,
        monitoring=link_monitoring(ln, team, name, spec, model, ln.spec.teams, root),
    )


def _check_endpoint_quota(
    ln: _Linker, team: str, tspec: TeamSpec, endpoints: dict[str, Endpoint]
) -> None:
    totals = {"gpu": 0, "cpu": 0, "memory": 0}
    quota = tspec.quotas
    limits = {"gpu": quota.gpus, "cpu": quota.cpu, "memory": quota.memory}
    fmt = {
        "gpu": lambda n: _gpus(n),
        "cpu": lambda n: f"{format_cpu(n)} CPU",
        "memory": lambda n: f"{format_memory(n)} memory",
    }
    reported: set[str] = set()
    for name, ep in endpoints.items():
        replicas = ep.max_replicas * (2 if ep.canary else 1)
        for res in totals:
            totals[res] += getattr(ep.resources, res) * replicas
            if totals[res] > limits[res] and res not in reported:
                reported.add(res)
                ln.err(
                    "E205",
                    f"endpoints of team '{team}' need {fmt[res](totals[res])} at max_replicas "
                    f"(up to endpoint '{name}'), above the quota of {fmt[res](limits[res])}",
                    (TEAMS_DIR, team, "endpoints", name, "max_replicas"),
                    "lower max_replicas or resources, or raise the team's quotas",
                    notes=[f"quota set at {ln.at(TEAMS_DIR, team, 'quotas')}"],
                )


def _check_capacity(ln: _Linker, teams: dict[str, TeamSpec], pools: dict[str, NodePool]) -> None:
    capacity = {
        "gpus": sum(p.max_size * p.gpus_per_node for p in pools.values()),
        "cpu": sum(p.max_size * p.vcpu_per_node * 1000 for p in pools.values()),
        "memory": sum(p.max_size * p.memory_gib_per_node * 1024**3 for p in pools.values()),
    }
    show = {
        "gpus": lambda n: _gpus(n),
        "cpu": lambda n: f"{format_cpu(n)} CPU",
        "memory": lambda n: f"{format_memory(n)} memory",
    }
    totals = dict.fromkeys(capacity, 0)
    for team, spec in teams.items():
        for res in capacity:
            amount = getattr(spec.quotas, res)
            totals[res] += amount
            if amount > capacity[res]:
                ln.err(
                    "E206",
                    f"team '{team}' quota of {show[res](amount)} exceeds what the node pools can "
                    f"provide at max_size ({show[res](capacity[res])})",
                    (TEAMS_DIR, team, "quotas", res),
                    "lower the quota, or raise max_size of a node pool",
                )
    for res, total in totals.items():
        if total > capacity[res]:
            ln.warn(
                "W301",
                f"team quotas add up to {show[res](total)}, more than the node pools provide at "
                f"max_size ({show[res](capacity[res])})",
                ("node_pools",),
                "fine if teams rarely peak together; otherwise raise max_size",
            )


def _check_inline_credentials(ln: _Linker) -> None:
    """Credentials pasted anywhere in a spec (descriptions, args, defaults...) are errors.

    Environment variables are checked per step, with their names, by `_link_step`.
    """
    composed = ln.spec.composed
    trees: list[tuple[Path_, object]] = [((), composed.root)]
    trees += [
        ((TEAMS_DIR, name), tree)
        for name, tree in composed.teams.items()
        if name not in composed.credentials
    ]
    found = [(prefix, hit) for prefix, tree in trees for hit in credentials_in_tree(tree, prefix)]
    found += [
        ((TEAMS_DIR, name), hit) for name, hits in composed.credentials.items() for hit in hits
    ]
    for prefix, (path, what) in found:
        if len(path) > 2 and path[-2] == "env":
            continue
        shown = "".join(
            f"[{p}]" if isinstance(p, int) else f".{p}" for p in path[len(prefix) :]
        ).lstrip(".")
        ln.err(
            "E209",
            f"{shown} holds {what}",
            path,
            "store it in a Kubernetes Secret and reference it by name, never inline",
        )


def _raw_names(spec: ParsedSpec, section: str) -> set[str]:
    """Names declared by teams that failed validation: references to them are not reported twice."""
    names: set[str] = set()
    for team in spec.invalid_teams:
        tree: Any = spec.composed.teams.get(team)
        if isinstance(tree, dict) and isinstance(tree.get(section), dict):
            names.update(str(k) for k in tree[section])
    return names


def _context_key(spec: ParsedSpec) -> str:
    """What a team's linking reads besides the team: the root spec and the files outside
    teams/ (an environment overlay places diagnostics of the teams it overrides)."""
    composed = spec.composed
    team_files = {rel for files in composed.team_files.values() for rel in files}
    shared = sorted(composed.configs_dir / rel for rel in composed.files if rel not in team_files)
    root = spec.root.model_dump(mode="json") if spec.root is not None else None
    return digest("link-context", root, file_digest(shared))


T = TypeVar("T")


def _remembered(
    ln: _Linker,
    memo: BuildCache | None,
    stage: str,
    owners: object | tuple[object, ...],
    key: Hashable,
    link_one: Callable[[_Linker], T],
) -> T:
    """`link_one` on its own linker, remembered by a resident process (`memo.recall`: the
    same spec objects and key give the same result); its diagnostics are replayed."""

    def compute() -> tuple[T, list[Diagnostic]]:
        own = _Linker(ln.spec, cache=ln.cache)
        return link_one(own), own.diags

    if memo is None:
        return link_one(ln)
    made, diags = memo.recall(stage, owners, key, compute)
    ln.diags.extend(diags)
    return made


@dataclass(frozen=True)
class _TeamContext:
    """What linking a team reads besides the team itself."""

    memo: BuildCache | None
    key: str
    """`_context_key` in a resident process: the root spec and the files outside teams/."""
    root: RootSpec
    pools: dict[str, NodePool]
    models: dict[str, Model]
    models_by_team: dict[str, dict[str, Model]]
    unresolved_ok: set[str]
    org: str
    env: str
    specs: dict[str, TeamSpec] = field(default_factory=dict)
    store: FeatureStore | None = None


def _link_team(ln: _Linker, ctx: _TeamContext, team: str, tspec: TeamSpec) -> Team:
    root, pools, models = ctx.root, ctx.pools, ctx.models
    org, env, unresolved_ok = ctx.org, ctx.env, ctx.unresolved_ok
    for index, grant in enumerate(tspec.bucket_access):
        if grant.bucket not in root.buckets:
            ln.err(
                "E202",
                f"team '{team}' is granted bucket '{grant.bucket}', which does not exist",
                (TEAMS_DIR, team, "bucket_access", index, "bucket"),
                did_you_mean(grant.bucket, root.buckets),
            )
    features = (
        link_features.link_team_features(ln, team, tspec, ctx.specs, ctx.store)
        if ctx.store is not None
        else None
    )
    pipelines = {}
    for name, pspec in tspec.pipelines.items():
        pipeline = _remembered(
            ln,
            ctx.memo,
            "link-pipeline",
            tspec,
            (team, name, ctx.key),
            partial(
                _link_pipeline,
                team=team,
                tspec=tspec,
                name=name,
                spec=pspec,
                pools=pools,
                root=root,
                store=ctx.store,
            ),
        )
        if pipeline is not None:
            pipelines[name] = pipeline
    endpoints = {}
    for name, espec in tspec.endpoints.items():
        endpoint = _link_endpoint(ln, team, tspec, name, espec, models, pools, root, unresolved_ok)
        if endpoint is not None:
            endpoints[name] = endpoint
    _check_endpoint_quota(ln, team, tspec, endpoints)
    role = f"{org}-{env}-{team}-workload"
    if len(role) > 64:
        ln.err(
            "E105",
            f"IAM role name '{role}' is longer than 64 characters",
            (TEAMS_DIR, team),
            "shorten the team or organisation name",
            key=True,
        )
    return Team(
        name=team,
        description=tspec.description,
        owners=tuple(tspec.owners),
        cost_center=tspec.cost_center,
        quotas=tspec.quotas,
        namespace=team_namespace(team),
        service_account=team_service_account(team),
        iam_role_name=role,
        bucket_access=tuple(tspec.bucket_access),
        pipelines=pipelines,
        models=ctx.models_by_team.get(team, {}),
        endpoints=endpoints,
        source_files=ln.spec.composed.team_files.get(team, ()),
        **(
            {
                "entities": features.entities,
                "sources": features.sources,
                "feature_views": features.views,
                "feature_services": features.services,
                "on_demand_views": features.on_demand,
            }
            if features is not None
            else {}
        ),
    )


def _remembered_team(ln: _Linker, ctx: _TeamContext, team: str, tspec: TeamSpec) -> Team:
    """`_link_team`, remembered by a resident process: the same Team object (so what is
    derived from it can be remembered too) while the team's spec and models are the same
    objects and what its endpoints read of other teams' models is unchanged."""
    served = []
    for espec in tspec.endpoints.values():
        model = ctx.models.get(espec.model)
        served.append(
            (espec.model, espec.model in ctx.unresolved_ok, tuple(sorted(ctx.models)))
            if model is None
            else (espec.model, model.name, model.team, model.registry_name, model.framework)
        )
    own_models = tuple(ctx.models_by_team.get(team, {}).items())
    files = ln.spec.composed.team_files.get(team, ())
    shared = tuple(
        (
            s.team,
            s.view,
            ctx.specs[s.team].feature_views.get(s.view) if s.team in ctx.specs else None,
        )
        for svc in tspec.feature_services.values()
        for s in svc.features
        if s.team not in (None, team)
    )
    key = (team, ctx.key, tuple(served), tuple(name for name, _ in own_models), files, shared)
    owners = (tspec, *(model for _, model in own_models))
    return _remembered(
        ln, ctx.memo, "link-team", owners, key, partial(_link_team, ctx=ctx, team=team, tspec=tspec)
    )


def link(
    spec: ParsedSpec, memo: BuildCache | None = None, *, incomplete: bool = False
) -> tuple[PlatformIR | None, list[Diagnostic]]:
    """The IR of a validated spec. `memo`: a resident process's cache (`mlplat watch`), from
    which unchanged teams' pipelines are reused. `incomplete`: with errors, the IR of what did
    link (objects with errors left out) rather than None, so that checks of the objects that
    are fine still run; it must never be built or deployed from."""
    ln = _Linker(spec, cache=memo)
    memo = memo if memo is not None and memo.resident else None
    context = _context_key(spec) if memo is not None else ""
    root = spec.root
    if root is None:
        return None, ln.diags
    env = spec.environment
    org = root.platform.organisation
    pools: dict[str, NodePool] = {}
    for name, pool_spec in root.node_pools.items():
        pool = _resolve_pool(ln, name, pool_spec)
        if pool is not None:
            pools[name] = pool
    default_pool = root.platform.default_node_pool
    if default_pool not in root.node_pools:
        ln.err(
            "E202",
            f"default_node_pool '{default_pool}' does not exist",
            ("platform", "default_node_pool"),
            did_you_mean(default_pool, root.node_pools),
        )
    elif default_pool in pools and pools[default_pool].has_gpu:
        ln.err(
            "E204",
            f"default_node_pool '{default_pool}' is a GPU pool",
            ("platform", "default_node_pool"),
            "the default pool runs CPU work; name a CPU pool",
        )

    buckets: dict[str, Bucket] = {}
    for name, b in root.buckets.items():
        physical = f"{org}-{env}-{name}"
        if len(physical) > 63:
            ln.err(
                "E105",
                f"bucket name '{physical}' is longer than S3's 63 characters",
                ("buckets", name),
                "shorten the bucket or organisation name",
                key=True,
            )
        buckets[name] = Bucket(
            name=name,
            physical_name=physical,
            description=b.description,
            purpose=b.purpose,
            classification=b.classification,
            versioning=b.versioning,
            lifecycle=b.lifecycle,
            protect=b.protect,
            replicate_to=b.replicate_to,
        )

    models: dict[str, Model] = {}
    registry_names: dict[str, tuple[str, str]] = {}
    for team, tspec in spec.teams.items():
        for name, mspec in tspec.models.items():
            path = (TEAMS_DIR, team, "models", name)
            if name in models:
                first = models[name]
                ln.err(
                    "E201",
                    f"model '{name}' is declared by team '{team}' and by team '{first.team}'",
                    path,
                    f"model names are global; rename one (first at {ln.at(TEAMS_DIR, first.team, 'models', name, key=True)})",
                    key=True,
                )
                continue
            model = _remembered(
                ln,
                memo,
                "link-model",
                tspec,
                (team, name, context),
                partial(_link_model, team=team, tspec=tspec, name=name, spec=mspec),
            )
            if model.registry_name in registry_names:
                other_team, other = registry_names[model.registry_name]
                ln.err(
                    "E201",
                    f"registry name '{model.registry_name}' of model '{name}' is already used by model "
                    f"'{other}' of team '{other_team}'",
                    path,
                    "set a distinct registry_name",
                    key=True,
                )
            registry_names[model.registry_name] = (team, name)
            models[name] = model

    unresolved_ok = _raw_names(spec, "models")
    models_by_team: dict[str, dict[str, Model]] = {}
    for name, model in models.items():
        models_by_team.setdefault(model.team, {})[name] = model
    teams: dict[str, Team] = {}
    store = None
    if any(
        t.entities or t.sources or t.feature_views or t.feature_services
        for t in spec.teams.values()
    ):
        store = link_features.store_settings(
            root, env, {name: b.physical_name for name, b in buckets.items()}
        )
    ctx = _TeamContext(
        memo, context, root, pools, models, models_by_team, unresolved_ok, org, env,
        dict(spec.teams), store,
    )  # fmt: skip
    link_team = _link_team if memo is None else _remembered_team
    for team, tspec in spec.teams.items():
        teams[team] = link_team(ln, ctx, team, tspec)
    teams = link_features.check_endpoints(ln, spec.teams, teams, models)
    _check_capacity(ln, spec.teams, pools)
    _check_inline_credentials(ln)

    if (has_errors(ln.diags) or spec.invalid_teams) and not incomplete:
        return None, ln.diags
    cluster = root.platform.cluster
    ir = PlatformIR(
        environment=env,
        target=root.environment.target,
        platform=Platform(
            organisation=org,
            owners=tuple(root.platform.owners),
            cloud=root.platform.cloud,
            region=root.platform.region,
            kubernetes_version=root.platform.kubernetes_version,
            cluster_name=cluster.name or f"{org}-{env}",
            cluster=cluster,
            pulumi=Pulumi(
                backend_url=root.platform.pulumi.backend_url,
                stack=root.platform.pulumi.stack or env,
                project=f"{org}-platform",
            ),
            kfp=root.platform.kfp,
            default_node_pool=default_pool,
        ),
        node_pools=pools,
        buckets=buckets,
        teams=teams,
        policies=root.policies,
        feature_store=store,
    )
    return ir, ln.diags
