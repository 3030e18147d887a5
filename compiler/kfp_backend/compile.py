"""IR → compiled files: one KFP YAML per pipeline, plus a recurring-run file when scheduled."""

from __future__ import annotations

import functools
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kfp import compiler
from kfp.dsl.graph_component import GraphComponent

from compiler import pod_facts
from compiler.cache import BuildCache, code_fingerprint, digest, file_digest, versions
from compiler.diagnostics import Diagnostic
from compiler.ir import Pipeline, PlatformIR
from compiler.kfp_backend.pipeline import assemble, build_pipeline, pipeline_root, resolve_steps
from compiler.kfp_backend.pipeline_text import compiled_documents
from compiler.kfp_backend.problems import REPORT_HINT, Locate, Problem, pipeline_path
from compiler.kfp_backend.schedule import recurring_run_json, schedule_problems
from compiler.kfp_backend.training_files import training_files
from compiler.team_packages import code_root, forget_code_root
from compiler.workers import SHARED, map_unordered

Progress = Callable[[str], None]


def package_path(pipeline: Pipeline) -> str:
    """Where the compiled pipeline lands, relative to `build/<env>/`."""
    return f"pipelines/{pipeline.team}/{pipeline.name}.yaml"


def schedule_path(pipeline: Pipeline) -> str:
    return f"pipelines/{pipeline.team}/{pipeline.name}.schedule.json"


def to_yaml(graph: GraphComponent) -> str:
    """kfp's compiled YAML of a built pipeline (kfp writes only to files; see pipeline_text)."""
    return compiled(graph)[0]


def compiled(graph: GraphComponent) -> tuple[str, list[dict[str, Any]] | None]:
    """`to_yaml`, and the documents it dumps when they were in hand (not on kfp's stock path,
    which only writes a file)."""
    found = compiled_documents(graph)
    if found is not None:
        return found
    with tempfile.TemporaryDirectory(prefix="mlplat-kfp-") as folder:
        target = Path(folder) / "pipeline.yaml"
        compiler.Compiler().compile(pipeline_func=graph, package_path=str(target))
        return target.read_text(encoding="utf-8"), None


def compile_pipeline(ir: PlatformIR, pipeline: Pipeline) -> str:
    """The compiled KFP YAML of one pipeline; raises `PipelineError` on problems."""
    return to_yaml(build_pipeline(ir, pipeline))


@functools.lru_cache(maxsize=4096)
def _module_files(repo: str, module: str) -> tuple[str, ...]:
    """Source files of a module and of its packages. Remembered per process: `mlplat watch`
    calls `forget_code_layout` when Python files come or go."""
    files: list[str] = []
    parts = module.split(".")
    for end in range(1, len(parts) + 1):
        base = os.path.join(repo, *parts[:end])
        files.extend(
            p for p in (os.path.join(base, "__init__.py"), base + ".py") if os.path.isfile(p)
        )
    return tuple(files)


def forget_code_layout() -> None:
    _module_files.cache_clear()
    forget_code_root()


def team_code_files(pipeline: Pipeline) -> list[Path]:
    """Source files of the python step functions a pipeline ships (and their packages)."""
    return [Path(p) for p in _team_code_paths(pipeline)]


def _team_code_paths(pipeline: Pipeline) -> list[str]:
    """`team_code_files` as strings: keys of thousands of pipelines need no Path objects."""
    files: set[str] = set()
    for step in pipeline.steps.values():
        if step.python is not None:
            files.update(_module_files(str(code_root()), step.python.function.split(":", 1)[0]))
    return sorted(files)


def pipeline_key(ir: PlatformIR, pipeline: Pipeline, cache: BuildCache | None = None) -> str:
    """Everything a pipeline's compiled files depend on, hashed (see compiler/cache.py).

    A resident process (`cache.resident`) remembers the hash of the pipeline itself, which
    is the same object while its team is unchanged."""
    memo = cache or BuildCache(None)
    names = sorted({step.node_pool for step in pipeline.steps.values()})
    pools = tuple(
        (name, memo.dump_digest(pool))
        for name in names
        if (pool := ir.node_pools.get(name)) is not None
    )
    files = file_digest(_team_code_paths(pipeline))  # step code may change under a watch
    root = pipeline_root(ir, pipeline)

    def compute() -> str:
        return digest(
            "kfp-pipeline",
            pipeline.model_dump(mode="json"),
            pools,
            root,
            files,
            code_fingerprint("compiler/kfp_backend", "compiler/ir.py", "schemas"),
            versions("kfp", "kfp-kubernetes", "kfp-pipeline-spec", "PyYAML"),
        )

    return memo.recall("pipeline-key", pipeline, (pools, root, files), compute)


Facts = dict[str, dict[str, Any]]
"""Pod facts (compiler/pod_facts.py) by compiled pipeline path."""
Compiled = tuple[tuple[str, str], dict[str, str], list[Problem], Facts]


def _compile_one(pipeline: Pipeline) -> Compiled:
    """One pipeline's files and its pods' facts (none when kfp's stock path wrote the file),
    or its problems; runs in a worker (the IR comes from SHARED)."""
    ir: PlatformIR = SHARED["kfp_ir"]
    ident = (pipeline.team, pipeline.name)
    components, problems = resolve_steps(pipeline)
    problems = [*schedule_problems(pipeline), *problems]
    if problems:
        return ident, {}, problems, {}
    try:
        text, documents = compiled(assemble(ir, pipeline, components))
    except Exception as exc:
        rejected = Problem(
            "E212",
            f"Kubeflow Pipelines rejected pipeline '{pipeline.name}': {type(exc).__name__}: {exc}",
            pipeline_path(pipeline),
            REPORT_HINT,
        )
        return ident, {}, [rejected], {}
    files = {package_path(pipeline): text, **training_files(ir, pipeline)}
    if pipeline.schedule is not None:
        files[schedule_path(pipeline)] = recurring_run_json(pipeline, package_path(pipeline))
    facts = (
        {}
        if documents is None
        else {package_path(pipeline): pod_facts.facts_of_documents(documents)}
    )
    return ident, files, [], facts


def _store(cache: BuildCache, key: str, produced: dict[str, str], facts: Facts) -> None:
    """Cache a pipeline's files, and its pods' facts under its text's digest, where the
    security baseline looks them up (compiler/policy/pods.py)."""
    cache.put("kfp", key, json.dumps(produced).encode())
    for path, found in facts.items():
        data = json.dumps(found, sort_keys=True).encode()
        cache.put(pod_facts.STAGE, pod_facts.facts_key(produced[path]), data, found)


def compile_all(
    ir: PlatformIR,
    locate: Locate,
    progress: Progress = lambda _m: None,
    *,
    cache: BuildCache | None = None,
    jobs: int = 1,
    meanwhile: Callable[[], object] | None = None,
    facts: Facts | None = None,
) -> tuple[dict[str, str], list[Diagnostic]]:
    """Every pipeline of the IR, with diagnostics instead of raising.

    Pipelines whose inputs are unchanged come from `cache`; the rest compile on `jobs`
    worker processes, while this process runs `meanwhile` (see `workers.map_unordered`).
    The result is the same bytes whichever way a pipeline was produced. `facts`, when
    given, receives the pod facts of the pipelines compiled here, by path.
    """
    cache = cache or BuildCache(None)
    files: dict[str, str] = {}
    diagnostics: list[Diagnostic] = []
    pipelines = sorted(ir.pipelines(), key=lambda p: (p.team, p.name))
    keys = {(p.team, p.name): pipeline_key(ir, p, cache) for p in pipelines} if cache.folder else {}
    todo: list[Pipeline] = []
    for pipeline in pipelines:
        key = keys.get((pipeline.team, pipeline.name))
        cached = cache.load("kfp", key, json.loads) if key else None
        if cached is None:
            todo.append(pipeline)
        else:
            files.update(cached)
    if len(pipelines) > len(todo):
        progress(f"{len(pipelines) - len(todo)} of {len(pipelines)} pipelines unchanged (cached)")
    SHARED["kfp_ir"] = ir
    try:
        results = map_unordered(_compile_one, todo, jobs, min_batch=8, meanwhile=meanwhile)
        for done, (ident, produced, problems, found) in enumerate(results, start=1):
            progress(f"compiling pipeline {ident[0]}/{ident[1]} ({done}/{len(todo)})")
            diagnostics.extend(problem.diagnostic(locate) for problem in problems)
            files.update(produced)
            if facts is not None:
                facts.update(found)
            if ident in keys and produced:
                _store(cache, keys[ident], produced, found)
    finally:
        SHARED.pop("kfp_ir", None)
    diagnostics.sort(key=lambda d: (d.span.file, d.span.line, d.span.col, d.code))
    return dict(sorted(files.items())), diagnostics
