"""The plan of a large organisation: per-team fragments, cached and computed on every core.

The program registers platform-wide resources (network, cluster, node pools, storage,
services) that do not depend on teams, then each team's resources (tenancy, identity,
serving), which depend on the platform but never on other teams. So the plan is the union
of a platform fragment and one fragment per team, and:

- a fragment is cached under a hash of what it depends on (the team's IR, the IR without
  teams, the program's code, the provider versions): unchanged teams are never re-run;
- the teams that must run are split into shards, each planned by a forked worker running
  the same program on an IR with only its teams.

`tests/plan/test_sharded.py` proves the result is byte-identical to one sequential run.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from compiler.cache import BuildCache, code_fingerprint, digest, file_digest, versions
from compiler.config_layout import CLI_FILE
from compiler.diagnostics import Diagnostic, Span, error
from compiler.ir import PlatformIR
from compiler.ir_features import feature_inputs, has_team_features, view_sources
from compiler.plan.model import Plan, PlannedResource
from compiler.workers import SHARED, map_unordered

Progress = Callable[[str], None]
_PROGRAM_CODE = (
    "platform_iac",
    "compiler/plan/mocks.py",
    "compiler/plan/pulumi_speedups.py",
    "compiler/plan/model.py",
    "compiler/ir.py",
    "schemas",
)
_PROVIDERS = ("pulumi", "pulumi-aws", "pulumi-kubernetes")
PARALLEL_MIN_TEAMS = 8
"""Below this many teams to plan, one run in this process costs less than forking workers."""


def without_teams(ir: PlatformIR) -> PlatformIR:
    return ir.model_copy(update={"teams": {}})


def with_teams(ir: PlatformIR, names: Sequence[str]) -> PlatformIR:
    return ir.model_copy(update={"teams": {name: ir.teams[name] for name in names}})


def platform_key(ir: PlatformIR) -> str:
    return digest(
        "plan-platform",
        without_teams(ir).model_dump(mode="json"),
        code_fingerprint(*_PROGRAM_CODE),
        versions(*_PROVIDERS),
    )


def team_key(
    ir: PlatformIR,
    team: str,
    platform: str,
    cache: BuildCache | None = None,
    feature_sources: Mapping[str, str] | None = None,
) -> str:
    """A team's fragment key: the platform's key, the team's IR, and what its feature store
    resources read beyond it (the source URIs of views shared with it, and the bytes of the
    source files it uploads). A resident process remembers the hash of an unchanged team."""
    spec = ir.teams[team]
    parts: list[object] = [platform, (cache or BuildCache(None)).dump_digest(spec)]
    if ir.feature_store is not None and has_team_features(spec):
        from compiler.cache import REPO

        sources = view_sources(ir.teams) if feature_sources is None else feature_sources
        uploaded = [REPO / s.path for s in spec.sources.values() if s.written_by is None]
        parts += [feature_inputs(spec, sources), file_digest(sorted(uploaded))]
    return digest("plan-team", *parts)


def _weight(ir: PlatformIR, team: str) -> int:
    """Rough registration count of a team, to balance shards."""
    return 20 + 4 * len(ir.teams[team].endpoints)


def shards(ir: PlatformIR, teams: Sequence[str], count: int) -> list[list[str]]:
    """`teams` in `count` groups of similar weight (greedy, deterministic)."""
    groups: list[list[str]] = [[] for _ in range(max(1, count))]
    loads = [0] * len(groups)
    for team in sorted(teams, key=lambda t: (-_weight(ir, t), t)):
        lightest = loads.index(min(loads))
        groups[lightest].append(team)
        loads[lightest] += _weight(ir, team)
    return [sorted(group) for group in groups if group] or [[]]


Fragment = tuple[str | None, bytes]
"""A team's share of a run (None: the platform's) as its cache entry: JSON travels back from
a worker ≈ 5x faster than the pickled resources (decoded here with C's json)."""


def _run_shard(teams: list[str]) -> list[Fragment]:
    """Run the program on the shared IR restricted to `teams` and cut the result into
    fragments (in a worker, which exits after its shard: its garbage is never collected,
    only freed at exit). Workers also encode the cache entries, so this process does not."""
    from compiler.plan.mocks import run_program
    from platform_iac.program import build_platform

    ir: PlatformIR = SHARED["plan_ir"]
    in_worker = multiprocessing.parent_process() is not None
    program = partial(build_platform, feature_sources=SHARED["plan_feature_sources"])
    plan = run_program(with_teams(ir, teams), program, collect=not in_worker)
    parts: dict[str | None, list[PlannedResource]] = {None: []}
    for resource in plan.resources:
        parts.setdefault(resource.spec.team, []).append(resource)
    return [
        (team, json.dumps([r.to_json() for r in part]).encode()) for team, part in parts.items()
    ]


def warm_up(ir: PlatformIR, teams: Sequence[str] = ()) -> None:
    """Run the program once on the platform (and `teams`), in this process: the ≈ 600
    provider modules the program loads lazily (≈ 0.9 s) are then loaded here. A resident
    process (`mlplat watch`) then plans each change without loading them."""
    from compiler.plan.mocks import run_program
    from platform_iac.program import build_platform

    program = partial(build_platform, feature_sources=view_sources(ir.teams))
    run_program(with_teams(ir, teams), program)


def prefetch(ir: PlatformIR, cache: BuildCache | None = None, jobs: int = 1) -> None:
    """Before a plan that will run on several workers, load what a run loads lazily, once,
    here: the workers forked for it inherit the modules instead of each loading them.

    Only when the platform's fragment is not cached (a cold plan, or a platform change, which
    plans every team again); a run on the platform, its heaviest team and one team of each
    kind that brings resources of its own (features, training at scale, monitoring) loads
    the modules of every kind of resource. `mlplat plan` calls it while the pipelines compile.
    """
    if jobs <= 1 or len(ir.teams) < PARALLEL_MIN_TEAMS:
        return  # the plan runs in this process, which loads the modules as it goes
    cached = (cache or BuildCache(None)).get("plan", platform_key(ir))
    if cached is None:
        with contextlib.suppress(Exception):  # the plan runs it again and reports a failure
            warm_up(ir, sample_teams(ir))


def sample_teams(ir: PlatformIR) -> list[str]:
    """The heaviest team, and the first team (by name) of each kind of lifecycle resources."""
    by_weight = sorted(ir.teams, key=lambda team: (-_weight(ir, team), team))
    kinds = (
        lambda t: bool(t.feature_views or t.feature_services),
        lambda t: any(p.tuning or any(s.distributed for s in p.steps.values())
                      for p in t.pipelines.values()),
        lambda t: any(e.monitoring for e in t.endpoints.values()),
    )  # fmt: skip
    chosen = by_weight[:1]
    for kind in kinds:
        found = next((name for name in sorted(ir.teams) if kind(ir.teams[name])), None)
        if found is not None and found not in chosen:
            chosen.append(found)
    return chosen


def _resources(data: bytes) -> tuple[PlannedResource, ...]:
    return tuple(PlannedResource.from_json(r) for r in json.loads(data))


@dataclass
class Fragments:
    """What the cache holds of a plan: the keys of its fragments and those found."""

    pkey: str
    keys: dict[str, str]
    sources: dict[str, str]
    platform_part: Sequence[PlannedResource] | None
    team_parts: dict[str, Sequence[PlannedResource]]

    @property
    def todo(self) -> list[str]:
        """The teams whose fragment must be planned."""
        return sorted(set(self.keys) - set(self.team_parts))

    @property
    def runs(self) -> bool:
        """Whether the program runs at all."""
        return self.platform_part is None or bool(self.todo)

    @property
    def small(self) -> bool:
        """A run of a few teams on the cached platform (a pull request's change): one shard."""
        return self.platform_part is not None and 0 < len(self.todo) < PARALLEL_MIN_TEAMS


def lookup(ir: PlatformIR, cache: BuildCache | None = None) -> Fragments:
    """The fragment keys of `ir` and the fragments the cache holds."""
    cache = cache or BuildCache(None)
    sources = view_sources(ir.teams)
    pkey = platform_key(ir)
    keys = {team: team_key(ir, team, pkey, cache, sources) for team in ir.teams}
    found = Fragments(pkey, keys, sources, None, {})
    if cache.folder is not None:
        found.platform_part = cache.load("plan", pkey, _resources)
        for team, key in keys.items():
            part = cache.load("plan", key, _resources)
            if part is not None:
                found.team_parts[team] = part
    return found


def plan_program(
    ir: PlatformIR,
    cache: BuildCache | None = None,
    jobs: int = 1,
    progress: Progress = lambda _m: None,
    meanwhile: Callable[[], object] | None = None,
    found: Fragments | None = None,
    fork_small: bool = False,
) -> Plan:
    """The plan of `ir`: cached fragments plus fresh runs of the program for what changed
    (while this process runs `meanwhile`, when the program runs at all).

    `found`: this very `lookup` done before. `fork_small`: a small run (`Fragments.small`)
    goes to a forked process too, so that `meanwhile` does not wait for it."""
    cache = cache or BuildCache(None)
    found = found or lookup(ir, cache)
    pkey, keys, sources = found.pkey, found.keys, found.sources
    platform_part = found.platform_part
    team_parts = dict(found.team_parts)
    todo = found.todo
    if todo or platform_part is None:
        if team_parts or platform_part is not None:
            progress(
                f"{len(team_parts)} of {len(ir.teams)} teams unchanged (cached); planning {len(todo)}"
            )
        parallel = len(todo) >= PARALLEL_MIN_TEAMS
        groups = shards(ir, todo, jobs if parallel else 1)
        import platform_iac.program  # noqa: F401  - imported once here, inherited by the workers

        SHARED["plan_ir"], SHARED["plan_feature_sources"] = ir, sources
        min_batch = 1 if fork_small and found.small and meanwhile is not None else 2
        try:
            # shards run on the workers, or here when there is one (a run leaves no threads
            # behind, so this process can still fork afterwards)
            runs = map_unordered(_run_shard, groups, jobs, min_batch=min_batch, meanwhile=meanwhile)
            for done, fragments in enumerate(runs, start=1):
                decoded = [(owner, data, _resources(data)) for owner, data in fragments]
                count = sum(len(resources) for _, _, resources in decoded)
                progress(f"planned shard {done}/{len(groups)} ({count} registrations)")
                for owner, data, resources in decoded:
                    if owner is None:
                        if platform_part is None:
                            platform_part = resources
                            cache.put("plan", pkey, data, resources)
                    elif owner in keys and owner not in team_parts:
                        team_parts[owner] = resources
                        cache.put("plan", keys[owner], data, resources)
        finally:
            SHARED.pop("plan_ir", None)
            SHARED.pop("plan_feature_sources", None)
        for team in todo:
            team_parts.setdefault(team, [])  # a team that registers nothing
    assert platform_part is not None
    parts = [platform_part, *(team_parts[team] for team in sorted(team_parts))]
    return Plan.of(ir, (r for part in parts for r in part))


def plan_or_failure(
    ir: PlatformIR,
    cache: BuildCache | None = None,
    jobs: int = 1,
    progress: Progress = lambda _m: None,
    meanwhile: Callable[[], object] | None = None,
    found: Fragments | None = None,
    fork_small: bool = False,
) -> Plan | Diagnostic:
    """`plan_program`, or the P101 diagnostic of a program that fails (its own checks, or a
    bug in it): `plan` and `check` report it the same way and stop."""
    try:
        return plan_program(ir, cache, jobs, progress, meanwhile, found, fork_small)
    except Exception as exc:
        return error(
            "P101",
            f"the platform program failed for environment '{ir.environment}': "
            f"{type(exc).__name__}: {exc}",
            Span(CLI_FILE),
            "fix the spec it names; if it names none, this is a bug in platform_iac/",
        )
