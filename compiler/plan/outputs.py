"""`build/<env>/` of a plan: the compile outputs plus plan.json, changes.json, manifests/
and report.md, written atomically only when nothing failed."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from compiler.build import BuildOptions, CompileOutcome, compile_files
from compiler.buildout import StagedTree, refresh_tree, refreshable, update_tree, write_tree
from compiler.config_layout import CLI_FILE
from compiler.diagnostics import Diagnostic, Span, error, has_errors
from compiler.frontend import FrontendResult
from compiler.plan.diff import PlanDiff, diff_plans, empty_baseline
from compiler.plan.features import feature_changes
from compiler.plan.manifests import (
    ValidationReport,
    kubernetes_objects,
    manifest_files,
    validate_objects,
)
from compiler.plan.model import Plan
from compiler.plan.report import Baseline, PolicyFinding, render_report
from compiler.plan.sharded import lookup, plan_or_failure, prefetch
from compiler.policy.pods import pipeline_facts
from compiler.policy.security import baseline_findings, is_policy_finding
from compiler.workers import fork_safe

Progress = Callable[[str], None]


@dataclass
class PlanOutcome:
    target: Path
    files: dict[str, bytes | str] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)
    plan: Plan | None = None
    diff: PlanDiff | None = None
    validation: ValidationReport | None = None
    security: list[Diagnostic] = field(default_factory=list)
    """Security baseline findings (S codes): in the report, and errors for the command, but
    they do not stop the review from being written."""
    seconds: dict[str, float] = field(default_factory=dict)

    def summary(self) -> str:
        if self.plan is None or self.diff is None:
            return "no plan"
        counts = self.diff.counts()
        changes = ", ".join(
            f"{counts.get(k, 0)} to {k}" for k in ("create", "update", "replace", "delete")
        )
        destructive = len(self.diff.destructive)
        return (
            f"{len(self.plan.managed())} resources; {changes}; "
            f"{destructive} destructive; {len(self.files)} files"
        )

    def timings(self) -> str:
        """Where the time went, for CI logs: 'compile 25.1s, program 38.0s, ...'."""
        return ", ".join(f"{stage} {seconds:.1f}s" for stage, seconds in self.seconds.items())


def policy_findings(diagnostics: Sequence[Diagnostic]) -> list[PolicyFinding]:
    """Organisation policy (G) and security baseline (S) results, for the report."""
    return [
        PolicyFinding(d.severity.value, d.code, d.message, str(d.span))
        for d in diagnostics
        if is_policy_finding(d)
    ]


def plan_files(
    result: FrontendResult,
    baseline: Baseline,
    progress: Progress = lambda _m: None,
    options: BuildOptions | None = None,
    early: Callable[[Mapping[str, bytes | str]], None] | None = None,
) -> PlanOutcome:
    """Compile, run the program under mocks, check manifests, diff and report, in memory.

    When the program has a few teams to plan on top of cached fragments (a pull request's
    change), it runs on a forked worker while this process compiles. Otherwise the pipelines
    compile first. While the program runs on the workers this process reads the compiled pipelines' pod facts
    (`policy.pods.pipeline_facts`: derived by this build's compile step, else from the
    cache, else parsed) and hands the compile outputs to `early` (where `plan_outputs` writes them).
    While the workers check the manifests, it runs the security baseline and renders the
    diff, plan.json and changes.json; while they write the manifests' YAML, report.md."""
    assert result.ir is not None
    findings = policy_findings(result.diagnostics)
    ir = result.ir
    outcome = PlanOutcome(target=Path())
    options = options or BuildOptions()
    found = lookup(ir, options.cache)
    compiled: CompileOutcome | None = None
    compiled_files: dict[str, bytes | str] = {}
    facts: dict[str, dict[str, Any]] | None = None

    def during_program() -> None:  # while the workers run the program
        nonlocal facts
        assert compiled is not None
        if early is not None:
            early(compiled_files)
        facts = pipeline_facts(ir, compiled_files, options.cache, known=compiled.pod_facts)

    def compile_step(meanwhile: Callable[[], object] | None) -> None:
        nonlocal compiled
        started = time.perf_counter()
        compiled = compile_files(result, progress, options, meanwhile=meanwhile)
        outcome.files.update(compiled.files)
        outcome.diagnostics.extend(compiled.diagnostics)
        compiled_files.update(outcome.files)
        outcome.seconds["compile"] = time.perf_counter() - started

    started = time.perf_counter()
    if found.small and options.jobs > 1 and not options.cache.resident and fork_safe():
        # A pull request's change: the program plans its few teams on a forked worker while
        # this process compiles (the program needs the IR only), then reads the pod facts.
        # Not in `mlplat watch`: its compile is mostly remembered, and a fork costs more.
        failed: list[BaseException] = []

        def compile_meanwhile() -> None:
            try:
                compile_step(None)
                if not has_errors(outcome.diagnostics):
                    during_program()
            except Exception as exc:  # a bug of the compile step is not the program's P101
                failed.append(exc)

        plan = plan_or_failure(
            ir,
            options.cache,
            options.jobs,
            progress,
            meanwhile=compile_meanwhile,
            found=found,
            fork_small=True,
        )
        if failed:
            raise failed[0]
        if compiled is None:  # the program failed before its worker started
            compile_step(None)
        if has_errors(outcome.diagnostics):
            return outcome  # compile errors first, as when the program runs after the compile
        outcome.seconds["program"] = time.perf_counter() - started - outcome.seconds["compile"]
    else:
        # while the pipelines compile on the workers, load what the program's workers need
        compile_step(partial(prefetch, ir, options.cache, options.jobs))
        if has_errors(outcome.diagnostics):
            return outcome
        progress("running the Pulumi program under mocks ...")
        started = time.perf_counter()
        plan = plan_or_failure(
            ir, options.cache, options.jobs, progress, meanwhile=during_program, found=found
        )
        outcome.seconds["program"] = time.perf_counter() - started
    if isinstance(plan, Diagnostic):
        outcome.diagnostics.append(plan)
        return outcome
    outcome.plan = plan
    assert compiled is not None

    progress("checking security and Kubernetes manifests ...")
    started = time.perf_counter()
    objects = kubernetes_objects(plan)
    if facts is None:  # the program did not run (all cached): here, parsing can use the workers
        facts = pipeline_facts(ir, compiled_files, options.cache, options.jobs, compiled.pod_facts)
    known = facts

    def compare() -> None:  # while the workers check the manifests
        outcome.security = baseline_findings(
            result, plan, outcome.files, options.cache, options.jobs, known
        )
        findings.extend(policy_findings(outcome.security))
        outcome.diff = diff_plans(baseline.plan or empty_baseline(plan), plan, options.cache)
        outcome.files["plan.json"] = plan.to_json(options.cache)
        features = [c.to_json() for c in feature_changes(baseline.ir, ir)]
        outcome.files["changes.json"] = outcome.diff.to_json(options.cache, features)

    outcome.validation = validate_objects(
        objects, ir.platform.kubernetes_version, options.cache, options.jobs, meanwhile=compare
    )
    outcome.seconds["checks"] = time.perf_counter() - started
    for problem in outcome.validation.problems:
        outcome.diagnostics.append(
            error(
                "P102",
                f"{problem.path} does not validate against Kubernetes "
                f"{ir.platform.kubernetes_version}: {problem.where or '(root)'}: {problem.message}",
                Span(CLI_FILE),
                "this object is generated by platform_iac/: report it to the platform team",
            )
        )

    started = time.perf_counter()
    validation, diff = outcome.validation, outcome.diff
    assert diff is not None

    def review() -> None:  # while the workers write the manifests' YAML
        outcome.files["report.md"] = render_report(plan, ir, diff, baseline, validation, findings)

    outcome.files.update(manifest_files(objects, options.cache, options.jobs, meanwhile=review))
    outcome.seconds["report"] = time.perf_counter() - started
    return outcome


def plan_outputs(
    result: FrontendResult,
    baseline: Baseline,
    build_dir: Path,
    progress: Progress = lambda _m: None,
    options: BuildOptions | None = None,
    previous: Mapping[str, bytes | str] | None = None,
) -> PlanOutcome:
    """`plan_files`, then replace `build/<env>/` when there are no errors (on errors the
    previous build stays as it was).

    Without a previous build, the new folder is staged beside the old one: the compile
    outputs while the program runs on the workers, the rest at the end, then swapped in
    (`buildout.StagedTree`). Over a previous build with its digest list (a pull request's
    plan from the cache of its base), only the files that differ are written, each
    atomically, at the end (`buildout.refresh_tree`; a whole staged tree when most changed).
    `previous`: the files this process last wrote there (`mlplat watch`); only the ones that
    differ are rewritten, in place (see `buildout.update_tree`).
    """
    assert result.ir is not None
    target = build_dir / result.ir.environment
    if previous is not None:
        outcome = plan_files(result, baseline, progress, options)
        outcome.target = target
        if not has_errors(outcome.diagnostics):
            started = time.perf_counter()
            update_tree(outcome.target, outcome.files, previous)
            outcome.seconds["write"] = time.perf_counter() - started
        return outcome

    if refreshable(target):  # a pull request's plan: most files are the previous build's
        outcome = plan_files(result, baseline, progress, options)
        outcome.target = target
        if not has_errors(outcome.diagnostics):
            started = time.perf_counter()
            if refresh_tree(target, outcome.files) is None:
                write_tree(target, outcome.files)
            outcome.seconds["write"] = time.perf_counter() - started
        return outcome

    staged = StagedTree(target)
    failed: list[OSError] = []

    def early(files: Mapping[str, bytes | str]) -> None:
        try:
            staged.write(files)
        except OSError as exc:  # reported by the write below, not as the program's failure
            failed.append(exc)

    try:
        outcome = plan_files(result, baseline, progress, options, early)
        outcome.target = target
        if has_errors(outcome.diagnostics):
            staged.discard()
            return outcome
        started = time.perf_counter()
        if failed:
            raise failed[0]
        staged.write({rel: data for rel, data in outcome.files.items() if rel not in staged})
        staged.commit()
        outcome.seconds["write"] = time.perf_counter() - started
    except BaseException:
        staged.discard()
        raise
    return outcome
