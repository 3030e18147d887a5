"""Blast radius: which pipelines, endpoints and teams a change to a spec object touches.

Read from the IR: a node pool runs the pipeline steps and endpoints placed on it; a bucket
serves the teams granted access to it (and, for the models bucket, every endpoint); a
team's namespace holds all its workloads; the cluster holds everything.
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.ir import PlatformIR
from platform_iac.naming import SpecRef


@dataclass(frozen=True)
class Affected:
    pipelines: tuple[str, ...] = ()
    """`team/pipeline (steps a, b)`."""
    endpoints: tuple[str, ...] = ()
    """`team/endpoint`."""
    teams: tuple[str, ...] = ()
    """`team (write fraud/)`."""

    def __bool__(self) -> bool:
        return bool(self.pipelines or self.endpoints or self.teams)

    def describe(self) -> str:
        parts = []
        if self.pipelines:
            parts.append("pipelines " + ", ".join(self.pipelines))
        if self.endpoints:
            parts.append("endpoints " + ", ".join(self.endpoints))
        if self.teams:
            parts.append("teams " + ", ".join(self.teams))
        return "; ".join(parts) or "nothing else"


def _on_pool(ir: PlatformIR, pool: str) -> Affected:
    pipelines = []
    for pipeline in ir.pipelines():
        steps = [s for s in pipeline.order if pipeline.steps[s].node_pool == pool]
        if steps:
            pipelines.append(f"{pipeline.team}/{pipeline.name} (steps {', '.join(steps)})")
    endpoints = [f"{e.team}/{e.name}" for e in ir.endpoints() if e.node_pool == pool]
    return Affected(tuple(sorted(pipelines)), tuple(sorted(endpoints)))


def _on_bucket(ir: PlatformIR, bucket: str) -> Affected:
    teams = []
    for team in ir.teams.values():
        for grant in team.bucket_access:
            if grant.bucket == bucket:
                teams.append(f"{team.name} ({grant.access} {grant.prefix or 'whole bucket'})")
    spec = ir.buckets.get(bucket)
    models = sorted(n for n, b in ir.buckets.items() if b.purpose == "models")
    endpoints: list[str] = []
    if spec is not None and models and models[0] == bucket:
        endpoints = [f"{e.team}/{e.name}" for e in ir.endpoints()]
    return Affected(teams=tuple(sorted(teams)), endpoints=tuple(sorted(endpoints)))


def _in_team(ir: PlatformIR, team_name: str) -> Affected:
    team = ir.teams.get(team_name)
    if team is None:
        return Affected()
    return Affected(
        tuple(f"{team_name}/{p}" for p in sorted(team.pipelines)),
        tuple(f"{team_name}/{e}" for e in sorted(team.endpoints)),
    )


def blast_radius(spec: SpecRef, *irs: PlatformIR | None) -> Affected:
    """What depends on `spec`, in the first IR that knows it (head, then baseline)."""
    for ir in irs:
        if ir is None:
            continue
        if spec.kind == "node_pool" and spec.name in ir.node_pools:
            return _on_pool(ir, spec.name)
        if spec.kind == "bucket" and spec.name in ir.buckets:
            return _on_bucket(ir, spec.name)
        if spec.kind == "team" and spec.name in ir.teams:
            return _in_team(ir, spec.name)
        if spec.kind == "platform" and spec.name == "cluster":
            return Affected(
                tuple(sorted(f"{p.team}/{p.name}" for p in ir.pipelines())),
                tuple(sorted(f"{e.team}/{e.name}" for e in ir.endpoints())),
                tuple(sorted(ir.teams)),
            )
    return Affected()
