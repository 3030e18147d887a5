"""Link the feature store part of team specs, and check it against the rest of the spec.

Checks: entities and sources that views name exist; every feature a view declares is a
column of its source file with the declared type (and so are the join key and the event
timestamp); feature services select existing features of views the team owns or that
their owner shares with it; steps and endpoints name services the team declares; the
endpoint's service gives exactly the features (names, order, types) the served model was
trained with (training/serving skew, at compile time). Codes E300-E319.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from compiler.cache import REPO, BuildCache, digest, file_digest, versions
from compiler.config_layout import TEAMS_DIR
from compiler.diagnostics import did_you_mean
from compiler.ir_features import (
    FEAST_VERSION,
    FRAME_INPUT,
    JOIN_STEP_SUFFIX,
    Entity,
    Feature,
    FeatureService,
    FeatureSource,
    FeatureStore,
    FeatureView,
    OnDemandView,
    ServiceFeature,
    feast_name,
)
from compiler.link_on_demand import link_on_demand
from compiler.source_files import read_source_table
from compiler.yaml_source import Path_
from schemas.features import FeatureSelection, FeatureViewSpec, SourceOutputSpec
from schemas.pipeline import PipelineSpec, StepSpec
from schemas.team import TeamSpec

if TYPE_CHECKING:
    from compiler.ir import Endpoint, Model, ResolvedResources, Step, StepInput, Team
    from compiler.link import _Linker
    from schemas.platform import RootSpec

JOIN_FUNCTION = "compiler.features.join:training_frame"
PUBLISH_FUNCTION = "compiler.features.publish:publish_source"
# Arrow type names of Parquet columns that hold each feature type.
_ARROW_TYPES: dict[str, set[str]] = {
    "int32": {"int32", "int16", "int8"},
    "int64": {"int64", "int32", "int16", "int8"},
    "float32": {"float", "halffloat"},
    "float64": {"double", "float"},
    "string": {"string", "large_string"},
    "bool": {"bool"},
}


@dataclass(frozen=True)
class TeamFeatures:
    entities: dict[str, Entity]
    sources: dict[str, FeatureSource]
    views: dict[str, FeatureView]
    services: dict[str, FeatureService]
    on_demand: dict[str, OnDemandView]


def store_settings(root: RootSpec, env: str, buckets: Mapping[str, str]) -> FeatureStore:
    """The store of an environment: files under the local repository, or S3 + DynamoDB."""
    project = f"{root.platform.organisation}_{env}".replace("-", "_")
    if root.environment.target == "local":
        return FeatureStore(
            project=project,
            provider="local",
            registry="data/registry.db",
            online_store="sqlite",
            region=root.platform.region,
            offline_root="sources",
            server_image=root.platform.defaults.feature_server_image,
            transformer_image=root.platform.defaults.feature_transformer_image,
        )
    datasets = buckets.get("datasets") or next(iter(buckets.values()), "datasets")
    artifacts = buckets.get("artifacts", datasets)
    return FeatureStore(
        project=project,
        provider="aws",
        registry=f"s3://{artifacts}/feature-store/registry.db",
        online_store="dynamodb",
        region=root.platform.region,
        offline_root=f"s3://{datasets}",
        server_image=root.platform.defaults.feature_server_image,
        transformer_image=root.platform.defaults.feature_transformer_image,
    )


@cache
def _columns(path: str, stamp: float) -> dict[str, str] | None:
    """Column name → Arrow type of a Parquet or CSV file (None when it cannot be read)."""
    import pyarrow as pa

    try:
        schema = read_source_table(path).schema if path.endswith(".csv") else None
        if schema is None:
            import pyarrow.parquet as pq

            schema = pq.read_schema(path)
    except (OSError, ValueError, pa.ArrowException):
        return None
    return {field.name: str(field.type) for field in schema}


def source_columns(path: str, cache: BuildCache | None = None) -> dict[str, str] | None:
    """`_columns` of a repository file; with a cache, remembered under the file's bytes and
    pyarrow's version, so a warm run reads no Parquet footer (and never imports pyarrow)."""
    file = REPO / path
    try:
        stamp = file.stat().st_mtime
    except OSError:
        return None
    if cache is None or not cache.enabled:
        return _columns(str(file), stamp)
    key = digest("source-columns", file_digest([file]), versions("pyarrow"))
    return cache.json_value("source-columns", key, lambda: _columns(str(file), stamp))


def _arrow_fits(feature_type: str, arrow: str) -> bool:
    return arrow in _ARROW_TYPES.get(feature_type, set())


def link_team_features(
    ln: _Linker,
    team: str,
    tspec: TeamSpec,
    specs: Mapping[str, TeamSpec],
    store: FeatureStore,
) -> TeamFeatures:
    base: Path_ = (TEAMS_DIR, team)
    entities = {
        name: Entity(
            name=name,
            team=team,
            feast_name=feast_name(team, name),
            description=spec.description,
            join_key=spec.join_key,
            value_type=spec.value_type,
        )
        for name, spec in tspec.entities.items()
    }
    sources: dict[str, FeatureSource] = {}
    columns: dict[str, dict[str, str] | None] = {}
    for name, spec in tspec.sources.items():
        written: tuple[str, str, str] | None = None
        if spec.path is not None:
            found = source_columns(spec.path, ln.cache)
            if spec.path.endswith(".csv") and store.provider == "aws":
                ln.err(
                    "E309",
                    f"source '{name}' of team '{team}' is a CSV file, which only the local "
                    "store reads (converted); the cloud store reads Parquet from the datasets "
                    "bucket",
                    (*base, "sources", name, "path"),
                    "save it as Parquet (pandas: read_csv(...).to_parquet(...)), or have a "
                    "step write it (written_by:)",
                )
                found = None
            elif found is None:
                ln.err(
                    "E309",
                    f"source '{name}' of team '{team}' reads '{spec.path}', which is not a "
                    "readable Parquet or CSV file",
                    (*base, "sources", name, "path"),
                    "give the path of a Parquet or CSV file relative to the repository root",
                )
            columns[name] = found
            file_name = source_file(name, spec.path)
        else:
            assert spec.written_by is not None  # the schema wants one of the two
            if not _written_by_ok(ln, team, tspec, name, spec.written_by):
                continue
            out = spec.written_by
            written = (out.pipeline, out.step, out.output)
            columns[name] = None  # known once a run writes it: Feast checks when it loads
            file_name = source_file(name, None)
        sources[name] = FeatureSource(
            name=name,
            team=team,
            feast_name=feast_name(team, name),
            description=spec.description,
            path=spec.path or "",
            written_by=written,
            uri=source_uri(store, team, file_name),
            timestamp_field=spec.timestamp_field,
            created_timestamp_field=spec.created_timestamp_field,
        )
    views: dict[str, FeatureView] = {}
    for name, vspec in tspec.feature_views.items():
        view = _link_view(ln, team, tspec, name, vspec, entities, sources, columns, specs)
        if view is not None:
            views[name] = view
    on_demand: dict[str, OnDemandView] = {}
    for name, odspec in tspec.on_demand.items():
        if name in tspec.feature_views:
            ln.err(
                "E314",
                f"on-demand view '{name}' has the name of a feature view of team '{team}'",
                (*base, "on_demand", name),
                "give one of them another name: services select views by name",
            )
            continue
        linked = link_on_demand(ln, team, name, odspec, views, tspec.feature_views)
        if linked is not None:
            on_demand[name] = linked
    services: dict[str, FeatureService] = {}
    for name, sspec in tspec.feature_services.items():
        spath = (*base, "feature_services", name)
        selected: list[ServiceFeature] = []
        join_keys: dict[str, str] = {}
        request: dict[str, str] = {}
        ok = True
        for index, sel in enumerate(sspec.features):
            at = (*spath, "features", index)
            owner = sel.team or team
            if owner == team and sel.view in tspec.on_demand:
                ok = (
                    _select_on_demand(ln, name, sel, at, on_demand.get(sel.view), selected, request)
                    and ok
                )
                continue
            owner_spec = specs.get(owner)
            if owner_spec is None and owner in ln.spec.invalid_teams:
                ok = False  # its own problems are reported
                continue
            if owner_spec is None:
                ln.err(
                    "E302",
                    f"feature service '{name}' reads team '{owner}', which does not exist",
                    (*at, "team"),
                    did_you_mean(owner, specs),
                )
                ok = False
                continue
            selected_view = owner_spec.feature_views.get(sel.view)
            if selected_view is None:
                ln.err(
                    "E302",
                    f"feature service '{name}' reads feature view '{sel.view}', which team "
                    f"'{owner}' does not declare",
                    (*at, "view"),
                    did_you_mean(sel.view, owner_spec.feature_views),
                )
                ok = False
                continue
            vspec = selected_view
            if owner != team and team not in vspec.shared_with:
                ln.err(
                    "E304",
                    f"feature service '{name}' of team '{team}' reads feature view '{sel.view}' of "
                    f"team '{owner}', which does not share it with team '{team}'",
                    (*at, "view"),
                    f"team '{owner}' may add shared_with: [{team}] to the view "
                    f"({ln.at(TEAMS_DIR, owner, 'feature_views', sel.view, key=True)})",
                )
                ok = False
                continue
            entity = specs[owner].entities.get(vspec.entity)
            names = sel.features if sel.features is not None else list(vspec.features)
            for findex, feature in enumerate(names):
                if feature not in vspec.features:
                    ln.err(
                        "E303",
                        f"feature service '{name}' selects feature '{feature}', which view "
                        f"'{sel.view}' does not have",
                        (*at, "features", findex),
                        did_you_mean(feature, vspec.features),
                    )
                    ok = False
                    continue
                if any(f.name == feature for f in selected):
                    ln.err(
                        "E308",
                        f"feature service '{name}' selects two features named '{feature}'",
                        (*at, "features", findex) if sel.features is not None else (*at, "view"),
                        "a frame has one column per name: select it from one view only",
                    )
                    ok = False
                    continue
                selected.append(
                    ServiceFeature(
                        view=feast_name(owner, sel.view),
                        view_team=owner,
                        view_name=sel.view,
                        name=feature,
                        type=vspec.features[feature],
                    )
                )
            if entity is not None:
                known = join_keys.get(entity.join_key)
                if known is not None and known != entity.value_type:
                    ln.err(
                        "E307",
                        f"feature service '{name}' joins views on '{entity.join_key}' as "
                        f"{known} and as {entity.value_type}",
                        (*at, "view"),
                        "give the entities of these views one value type",
                    )
                    ok = False
                join_keys[entity.join_key] = entity.value_type
        if ok:
            services[name] = FeatureService(
                name=name,
                team=team,
                feast_name=feast_name(team, name),
                description=sspec.description,
                features=tuple(selected),
                join_keys=dict(sorted(join_keys.items())),
                request_fields=dict(sorted(request.items())),
            )
    return TeamFeatures(entities, sources, views, services, on_demand)


def _select_on_demand(
    ln: _Linker,
    service: str,
    sel: FeatureSelection,
    at: Path_,
    view: OnDemandView | None,
    selected: list[ServiceFeature],
    request: dict[str, str],
) -> bool:
    """Add the selected features of an on-demand view to a service (False: a problem)."""
    if view is None:
        return False  # its own problems are reported
    types = {f.name: f.type for f in view.features}
    names = sel.features if sel.features is not None else list(types)
    ok = True
    for findex, feature in enumerate(names):
        where = (*at, "features", findex) if sel.features is not None else (*at, "view")
        if feature not in types:
            ln.err(
                "E303",
                f"feature service '{service}' selects feature '{feature}', which on-demand view "
                f"'{view.name}' does not have",
                where,
                did_you_mean(feature, types),
            )
            ok = False
        elif any(f.name == feature for f in selected):
            ln.err(
                "E308",
                f"feature service '{service}' selects two features named '{feature}'",
                where,
                "a frame has one column per name: select it from one view only",
            )
            ok = False
        else:
            selected.append(
                ServiceFeature(
                    view=view.feast_name,
                    view_team=view.team,
                    view_name=view.name,
                    name=feature,
                    type=types[feature],
                )
            )
    request.update({f.name: f.type for f in view.request})
    return ok


def source_file(name: str, path: str | None) -> str:
    """The Parquet file name of a source in the store (a CSV file is converted)."""
    return Path(path).with_suffix(".parquet").name if path else f"{name}.parquet"


def source_uri(store: FeatureStore, team: str, file_name: str) -> str:
    """Where the store reads a source: its repository's `sources/<team>/` locally, the
    datasets bucket's `<team>/features/` in the cloud."""
    if store.provider == "aws":
        return f"{store.offline_root}/{team}/features/{file_name}"
    return f"{store.offline_root}/{team}/{file_name}"


def add_publish_steps(
    team: str,
    tspec: TeamSpec,
    pipeline: str,
    steps: dict[str, Step],
    order: list[str],
    store: FeatureStore,
) -> tuple[dict[str, Step], list[str]]:
    """Steps and order with a step right after each step that writes a source of the team,
    publishing its Dataset where the store reads the source (compiler/features/publish.py)."""
    from compiler.ir import Step, StepInput
    from schemas.pipeline import PythonStep, RetrySpec

    new_steps, new_order = dict(steps), list(order)
    for name, spec in sorted(tspec.sources.items()):
        out = spec.written_by
        if out is None or out.pipeline != pipeline or out.step not in steps:
            continue
        writer = steps[out.step]
        packages = [] if store.provider == "local" else ["pyarrow==25.0.1"]
        step = Step.trusted(
            name=f"{out.step}-publish-{name}",
            description=f"Publish output '{out.output}' of step '{out.step}' as the rows of "
            f"feature source '{name}'",
            kind="python",
            python=PythonStep(
                function=PUBLISH_FUNCTION,
                packages=packages,
                base_image=writer.python.base_image if writer.python else None,
            ),
            container=None,
            inputs={
                "data": StepInput.trusted(
                    source="step", type="Dataset", step=out.step, output=out.output
                ),
                "uri": StepInput.trusted(
                    source="value",
                    type="str",
                    value=source_uri(store, team, source_file(name, None)),
                ),
            },
            outputs={},
            after=(),
            depends_on=(out.step,),
            resources=writer.resources,
            node_pool=writer.node_pool,
            retry=RetrySpec(),
            caching=False,
            timeout_seconds=writer.timeout_seconds,
            env={},
            secrets=(),
        )
        new_steps[step.name] = step
        new_order.insert(new_order.index(out.step) + 1, step.name)
    return new_steps, new_order


def _written_by_ok(
    ln: _Linker, team: str, tspec: TeamSpec, name: str, out: SourceOutputSpec
) -> bool:
    """Whether `written_by` names a Dataset output of a step of the team (E317 if not)."""
    at = (TEAMS_DIR, team, "sources", name, "written_by")
    pipeline = tspec.pipelines.get(out.pipeline)
    if pipeline is None:
        ln.err(
            "E317",
            f"source '{name}' is written by pipeline '{out.pipeline}', which team '{team}' does "
            "not have",
            (*at, "pipeline"),
            did_you_mean(out.pipeline, tspec.pipelines),
        )
        return False
    step = pipeline.steps.get(out.step)
    if step is None:
        ln.err(
            "E317",
            f"source '{name}' is written by step '{out.step}', which pipeline '{out.pipeline}' "
            "does not have",
            (*at, "step"),
            did_you_mean(out.step, pipeline.steps),
        )
        return False
    kind = step.outputs.get(out.output)
    if kind != "Dataset":
        ln.err(
            "E317",
            f"source '{name}' is written by output '{out.output}' of step '{out.step}', which "
            + ("is a " + str(kind) + ", not a Dataset" if kind else "the step does not have"),
            (*at, "output"),
            did_you_mean(out.output, step.outputs) if kind is None else None,
        )
        return False
    return True


def _link_view(
    ln: _Linker,
    team: str,
    tspec: TeamSpec,
    name: str,
    spec: FeatureViewSpec,
    entities: dict[str, Entity],
    sources: dict[str, FeatureSource],
    columns: dict[str, dict[str, str] | None],
    specs: Mapping[str, TeamSpec],
) -> FeatureView | None:
    vpath = (TEAMS_DIR, team, "feature_views", name)
    ok = True
    entity = entities.get(spec.entity)
    if entity is None:
        ln.err(
            "E300",
            f"feature view '{name}' describes entity '{spec.entity}', which team '{team}' "
            "does not declare",
            (*vpath, "entity"),
            did_you_mean(spec.entity, entities),
        )
        ok = False
    source = sources.get(spec.source)
    if source is None and spec.source in tspec.sources:
        ok = False  # declared, but it did not link: its own diagnostics say why
    elif source is None:
        ln.err(
            "E301",
            f"feature view '{name}' reads source '{spec.source}', which team '{team}' does not "
            "declare",
            (*vpath, "source"),
            did_you_mean(spec.source, sources),
        )
        ok = False
    for index, other in enumerate(spec.shared_with):
        if other not in specs and other not in ln.spec.invalid_teams:
            ln.err(
                "E302",
                f"feature view '{name}' is shared with team '{other}', which does not exist",
                (*vpath, "shared_with", index),
                did_you_mean(other, specs),
            )
            ok = False
    found = columns.get(spec.source) if source is not None else None
    if found is not None and source is not None:
        wanted = dict(spec.features)
        if entity is not None:
            if entity.join_key in wanted:
                ln.err(
                    "E307",
                    f"feature view '{name}' declares its join key '{entity.join_key}' as a feature",
                    (*vpath, "features", entity.join_key),
                    "remove it: the entity's join key is joined on, not learned from",
                    key=True,
                )
                ok = False
            checks: list[tuple[str, str, Path_, str]] = [
                (entity.join_key, entity.value_type, (*vpath, "entity"), "join key")
            ]
        else:
            checks = []
        checks += [(f, t, (*vpath, "features", f), "feature") for f, t in wanted.items()]
        for column, declared, path, what in checks:
            arrow = found.get(column)
            if arrow is None:
                ln.err(
                    "E307",
                    f"{what} '{column}' of feature view '{name}' is not a column of source "
                    f"'{spec.source}' ({source.path})",
                    path,
                    did_you_mean(column, found) or f"its columns: {', '.join(found)}",
                    key=what == "feature",
                )
                ok = False
            elif not _arrow_fits(declared, arrow):
                ln.err(
                    "E307",
                    f"{what} '{column}' of feature view '{name}' is declared {declared}, but "
                    f"source '{spec.source}' holds {arrow}",
                    path,
                    "declare the column's type, or convert the column in the source",
                )
                ok = False
        stamp = found.get(source.timestamp_field, "")
        if not stamp.startswith("timestamp"):
            ln.err(
                "E307",
                f"source '{spec.source}' has no timestamp column '{source.timestamp_field}' "
                f"for feature view '{name}'" + (f" (it holds {stamp})" if stamp else ""),
                (TEAMS_DIR, team, "sources", spec.source),
                "set timestamp_field to the column of event times",
                key=True,
            )
            ok = False
    if not ok or entity is None or source is None:
        return None
    return FeatureView(
        name=name,
        team=team,
        feast_name=feast_name(team, name),
        description=spec.description,
        entity=entity.feast_name,
        join_key=entity.join_key,
        join_key_type=entity.value_type,
        source=source.feast_name,
        features=tuple(Feature(name=f, type=t) for f, t in spec.features.items()),
        ttl_seconds=spec.ttl,
        online=spec.online,
        shared_with=tuple(spec.shared_with),
    )


def frame_input(
    ln: _Linker,
    team: str,
    tspec: TeamSpec,
    pipeline: str,
    pspec: PipelineSpec,
    name: str,
    spec: StepSpec,
) -> bool:
    """Check a step's training frame request; True when the join step can be added."""
    assert spec.features is not None
    base: Path_ = (TEAMS_DIR, team, "pipelines", pipeline, "steps", name, "features")
    frame = spec.features
    ok = True
    if spec.python is None:
        ln.err(
            "E309",
            f"step '{name}' of pipeline '{pipeline}' asks for a training frame but is not a "
            "python step",
            base,
            "training frames reach python steps as the input 'features'",
            key=True,
        )
        ok = False
    if frame.service not in tspec.feature_services:
        ln.err(
            "E305",
            f"step '{name}' of pipeline '{pipeline}' asks for feature service '{frame.service}', "
            f"which team '{team}' does not declare",
            (*base, "service"),
            did_you_mean(frame.service, tspec.feature_services),
        )
        ok = False
    for clash, what in (
        (FRAME_INPUT in spec.inputs, f"an input named '{FRAME_INPUT}'"),
        (f"{name}{JOIN_STEP_SUFFIX}" in pspec.steps, f"a step named '{name}{JOIN_STEP_SUFFIX}'"),
    ):
        if clash:
            ln.err(
                "E201",
                f"step '{name}' of pipeline '{pipeline}' asks for a training frame, which needs "
                f"{what} of its own",
                base,
                "rename the input or the step",
                key=True,
            )
            ok = False
    upstream = pspec.steps.get(frame.entities.step)
    if upstream is None or frame.entities.step == name:
        ln.err(
            "E202",
            f"the training frame of step '{name}' reads step '{frame.entities.step}', which does "
            "not exist",
            (*base, "entities", "step"),
            did_you_mean(frame.entities.step, [s for s in pspec.steps if s != name]),
        )
        return False
    out_type = upstream.outputs.get(frame.entities.output)
    if out_type is None:
        ln.err(
            "E202",
            f"the training frame of step '{name}' reads output '{frame.entities.output}' of step "
            f"'{frame.entities.step}', which has no such output",
            (*base, "entities", "output"),
            did_you_mean(frame.entities.output, upstream.outputs),
        )
        return False
    if out_type != "Dataset":
        ln.err(
            "E210",
            f"the entity rows of step '{name}' come from output '{frame.entities.output}' of type "
            f"{out_type}, not Dataset",
            (*base, "entities", "output"),
            "point at a Dataset with the join keys, event_timestamp and labels",
        )
        return False
    return ok


def join_step(
    team: str,
    tspec: TeamSpec,
    name: str,
    spec: StepSpec,
    store: FeatureStore,
    store_yaml: str,
    consumer: Step,
) -> tuple[Step, StepInput]:
    """The step that makes `name`'s training frame, and the input that feeds it to `name`."""
    from compiler.ir import Step, StepInput
    from schemas.pipeline import PythonStep, RetrySpec

    assert spec.features is not None and spec.python is not None
    frame = spec.features
    service = feast_name(team, frame.service)
    packages = [] if store.provider == "local" else [f"feast[aws]=={FEAST_VERSION}"]
    resources: ResolvedResources = consumer.resources
    step = Step.trusted(
        name=f"{name}{JOIN_STEP_SUFFIX}",
        description=f"Training frame of step '{name}': feature service '{frame.service}' "
        "joined point in time to its entity rows",
        kind="python",
        python=PythonStep(
            function=JOIN_FUNCTION,
            packages=packages,
            base_image=consumer.python.base_image if consumer.python else None,
        ),
        container=None,
        inputs={
            "entities": StepInput.trusted(
                source="step",
                type="Dataset",
                step=frame.entities.step,
                output=frame.entities.output,
            ),
            "service": StepInput.trusted(source="value", type="str", value=service),
            "store": StepInput.trusted(source="value", type="str", value=store_yaml),
        },
        outputs={"frame": "Dataset"},
        after=(),
        depends_on=(frame.entities.step,),
        resources=resources,
        node_pool=consumer.node_pool,
        retry=RetrySpec(),
        caching=False,
        timeout_seconds=consumer.timeout_seconds,
        env={},
        secrets=(),
        feature_service=service,
    )
    feed = StepInput.trusted(source="step", type="Dataset", step=step.name, output="frame")
    return step, feed


def add_join_steps(
    team: str,
    tspec: TeamSpec,
    pspec: PipelineSpec,
    steps: dict[str, Step],
    order: list[str],
    store: FeatureStore,
    store_yaml: str,
) -> tuple[dict[str, Step], list[str]]:
    """Steps and order with a join step right before each step that asks for a frame."""
    new_steps: dict[str, Step] = {}
    new_order: list[str] = []
    for name in order:
        step = steps[name]
        spec = pspec.steps[name]
        if spec.features is not None:
            join, feed = join_step(team, tspec, name, spec, store, store_yaml, step)
            new_steps[join.name] = join
            new_order.append(join.name)
            step = step.model_copy(
                update={
                    "inputs": {**step.inputs, FRAME_INPUT: feed},
                    "depends_on": (*step.depends_on, join.name),
                }
            )
        new_steps[name] = step
        new_order.append(name)
    return new_steps, new_order


def check_endpoints(
    ln: _Linker, specs: Mapping[str, TeamSpec], teams: dict[str, Team], models: Mapping[str, Model]
) -> dict[str, Team]:
    """Teams whose endpoints carry the feature service they read (after the skew check)."""
    services = {name: team.feature_services for name, team in teams.items()}
    linked = dict(teams)
    for name, team in teams.items():
        updated = dict(team.endpoints)
        for ep_name, espec in specs[name].endpoints.items():
            endpoint = team.endpoints.get(ep_name)
            if espec.feature_service is None or endpoint is None:
                continue
            served = check_skew(
                ln, endpoint, espec.feature_service, team.feature_services, models, specs, services
            )
            if served is not None:
                updated[ep_name] = endpoint.model_copy(update={"feature_service": served})
        if updated != team.endpoints:
            linked[name] = team.model_copy(update={"endpoints": updated})
    return linked


def check_skew(
    ln: _Linker,
    endpoint: Endpoint,
    tspec_endpoint_service: str,
    services: Mapping[str, FeatureService],
    models: Mapping[str, Model],
    specs: Mapping[str, TeamSpec],
    feature_services: Mapping[str, Mapping[str, FeatureService]],
) -> FeatureService | None:
    """The endpoint's service, when it gives the served model exactly its training features."""
    epath: Path_ = (TEAMS_DIR, endpoint.team, "endpoints", endpoint.name, "feature_service")
    served = services.get(tspec_endpoint_service)
    if served is None and tspec_endpoint_service in specs[endpoint.team].feature_services:
        return None  # declared, but it did not link: its own diagnostics say why
    if served is None:
        ln.err(
            "E305",
            f"endpoint '{endpoint.name}' reads feature service '{tspec_endpoint_service}', which "
            f"team '{endpoint.team}' does not declare",
            epath,
            did_you_mean(tspec_endpoint_service, services),
        )
        return None
    offline = sorted({f.view_name for f in served.features if not _view_online(specs, f)})
    if offline:
        ln.err(
            "E310",
            f"endpoint '{endpoint.name}' reads feature service '{served.name}', whose view "
            f"'{offline[0]}' is not kept online",
            epath,
            "set online: true on the view, or serve without a feature service",
        )
        return None
    model = models.get(endpoint.model)
    source = model.source if model is not None else None
    trained = None
    if model is not None and source is not None:
        pipeline = specs[model.team].pipelines.get(source.pipeline)
        step = pipeline.steps.get(source.step) if pipeline is not None else None
        if step is not None and step.features is not None:
            trained = feature_services.get(model.team, {}).get(step.features.service)
    if trained is None:
        ln.err(
            "E306",
            f"endpoint '{endpoint.name}' serves model '{endpoint.model}' with feature service "
            f"'{served.name}', but the model was not trained on a feature service",
            epath,
            "train the model from a step with features: {service: ...}, or serve it without "
            "feature_service",
        )
        return None
    want = [(f.view, f.name, f.type) for f in trained.features]
    got = [(f.view, f.name, f.type) for f in served.features]
    if want != got:
        # located only for the message: locating parses the team file's positions
        assert model is not None and source is not None
        where = ln.at(
            TEAMS_DIR, model.team, "pipelines", source.pipeline, "steps", source.step,
            "features", "service",
        )  # fmt: skip
        ln.err(
            "E306",
            f"training/serving skew: endpoint '{endpoint.name}' sends {_show(got, want)} to model "
            f"'{endpoint.model}', trained on feature service '{trained.name}' of team "
            f"'{trained.team}' ({where})",
            epath,
            f"serve with feature service '{trained.name}', or retrain the model on '{served.name}'",
        )
        return None
    return served


def _view_online(specs: Mapping[str, TeamSpec], feature: ServiceFeature) -> bool:
    """Whether the feature can be read online (an on-demand one: all its sources are kept)."""
    owner = specs[feature.view_team]
    view = owner.feature_views.get(feature.view_name)
    on_demand = owner.on_demand.get(feature.view_name)
    if view is None and on_demand is not None:
        return all(
            owner.feature_views[s].online for s in on_demand.sources if s in owner.feature_views
        )
    return view is None or view.online


def _show(got: list[tuple[str, str, str]], want: list[tuple[str, str, str]]) -> str:
    """The first difference between two feature lists, in words."""
    for index, (g, w) in enumerate(zip(got, want, strict=False)):
        if g != w:
            if g[1] == w[1] and g[2] != w[2]:
                return f"feature '{g[1]}' as {g[2]} (trained as {w[2]})"
            return f"feature '{g[1]}' at position {index + 1} (trained with '{w[1]}' there)"
    if len(got) > len(want):
        return f"extra feature '{got[len(want)][1]}'"
    return f"no feature '{want[len(got)][1]}'"
