"""The feature store part of the IR: entities, sources, views and services, resolved.

Names the store needs are decided here: every object is named `<team>__<name>` in the one
Feast project of the environment (hyphens become underscores; spec names have none of
those, so two spec objects never share a Feast name).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict

if TYPE_CHECKING:
    from compiler.ir import Team

JOIN_STEP_SUFFIX = "-features"
"""A step with a training frame gets a step `<step>-features` that makes it."""
FRAME_INPUT = "features"
"""The input through which a step receives its training frame."""
FEAST_VERSION = "0.67.0"


class IRModel(BaseModel):
    """Frozen like every IR model (compiler.ir imports this module, so it cannot share its base)."""

    model_config = ConfigDict(frozen=True, extra="forbid")


def feast_name(team: str, name: str) -> str:
    return f"{team}__{name.replace('-', '_')}"


class Entity(IRModel):
    name: str
    team: str
    feast_name: str
    description: str
    join_key: str
    value_type: Literal["int64", "string"]


class FeatureSource(IRModel):
    name: str
    team: str
    feast_name: str
    description: str
    path: str
    """The Parquet or CSV file in the repository ("" for a source a step writes)."""
    written_by: tuple[str, str, str] | None = None
    """(pipeline, step, output) whose Dataset each successful run publishes as the rows."""
    uri: str
    """Where the store reads it: `sources/<team>/<file>` in the local repo, S3 in the cloud."""
    timestamp_field: str
    created_timestamp_field: str | None


class Feature(IRModel):
    name: str
    type: str


class FeatureView(IRModel):
    name: str
    team: str
    feast_name: str
    description: str
    entity: str
    """Feast name of the entity."""
    join_key: str
    join_key_type: str
    source: str
    """Feast name of the source."""
    features: tuple[Feature, ...]
    ttl_seconds: int
    online: bool
    shared_with: tuple[str, ...]


class OnDemandFeature(IRModel):
    name: str
    type: str
    expression: str
    inputs: tuple[str, ...]
    """The names the expression reads, in order of first use (checked when linking)."""


class OnDemandView(IRModel):
    """Features computed at read time (Feast's on-demand feature view), in joins and online."""

    name: str
    team: str
    feast_name: str
    description: str
    sources: tuple[str, ...]
    """Feast names of the feature views whose features it reads."""
    request: tuple[Feature, ...]
    """Values the request (and the entity rows of a join) carry."""
    features: tuple[OnDemandFeature, ...]

    @property
    def request_source(self) -> str:
        return f"{self.feast_name}__request"


class ServiceFeature(IRModel):
    """One feature of a service, in the order models see it."""

    view: str
    """Feast name of the view."""
    view_team: str
    view_name: str
    name: str
    type: str


class FeatureService(IRModel):
    name: str
    team: str
    feast_name: str
    description: str
    features: tuple[ServiceFeature, ...]
    join_keys: dict[str, str]
    """Join key: value type, of the entities of the service's views (what a request carries)."""
    request_fields: dict[str, str] = {}
    """Values its on-demand views need from each request and entity row: name → value type."""

    def inputs(self) -> dict[str, str]:
        """What a request to an endpoint with this service carries: join keys and request
        values, name → value type."""
        return {**self.join_keys, **self.request_fields}

    def columns(self) -> list[str]:
        return [f.name for f in self.features]


class FeatureStore(IRModel):
    """Where the environment's store keeps its registry, offline data and online values."""

    project: str
    provider: Literal["local", "aws"]
    registry: str
    """Registry path: relative to the repository locally, an S3 URI in the cloud."""
    online_store: Literal["sqlite", "dynamodb"]
    region: str
    offline_root: str
    """Where sources live: the repository's `sources/` locally, an S3 prefix in the cloud."""
    server_image: str
    """Feast image of the feature server and the materialization jobs (cloud)."""
    transformer_image: str
    """Image of the KServe transformer of endpoints with a feature service (cloud)."""


def feature_store_yaml(store: FeatureStore) -> str:
    """feature_store.yaml of the environment's Feast repository (what Feast itself loads)."""
    lines = [
        f"project: {store.project}",
        f"provider: {store.provider}",
        "registry:",
        "  registry_type: file",
        f"  path: {store.registry}",
        "  cache_ttl_seconds: 60",
    ]
    if store.online_store == "sqlite":
        lines += ["online_store:", "  type: sqlite", "  path: data/online.db"]
    else:
        lines += ["online_store:", "  type: dynamodb", f"  region: {store.region}"]
    lines += [
        "offline_store:",
        "  type: file",
        "entity_key_serialization_version: 3",
        "auth:",
        "  type: no_auth",
    ]
    return "\n".join(lines) + "\n"


def on_demand_views(teams: Any) -> list[OnDemandView]:
    """Every on-demand view of the IR's teams (a mapping of name → Team)."""
    return [v for team in teams.values() for v in team.on_demand_views.values()]


def served_features(
    views: list[FeatureView], endpoints: list[Any], on_demand: Sequence[OnDemandView] = ()
) -> dict[str, Any]:
    """What serving depends on, as JSON: each view's shape, and the endpoints reading each of
    its features online. The plan compares the baseline's with this build's; the cloud
    deploy compares the deployed stack's (its `feature_views` output) with the next one, so
    a change that breaks a serving model is refused there too without --allow-destroy."""
    served: dict[str, dict[str, list[str]]] = {}
    for endpoint in endpoints:
        service = endpoint.feature_service
        for feature in service.features if service is not None else ():
            readers = served.setdefault(feature.view, {}).setdefault(feature.name, [])
            readers.append(f"{endpoint.team}/{endpoint.name}")
    return {
        "views": {
            view.feast_name: {
                "team": view.team,
                "name": view.name,
                "online": view.online,
                "ttl_seconds": view.ttl_seconds,
                "source": view.source,
                "features": {f.name: f.type for f in view.features},
            }
            for view in sorted(views, key=lambda v: v.feast_name)
        }
        | {
            odfv.feast_name: {
                "team": odfv.team,
                "name": odfv.name,
                "online": True,
                "ttl_seconds": 0,
                "source": "on demand from " + ", ".join(odfv.sources),
                "features": {f.name: f.type for f in odfv.features},
                "expressions": {f.name: f.expression for f in odfv.features},
            }
            for odfv in sorted(on_demand, key=lambda v: v.feast_name)
        },
        "served": {
            view: {feature: sorted(readers) for feature, readers in sorted(features.items())}
            for view, features in sorted(served.items())
        },
    }


def readable_views(team: Team) -> set[str]:
    """Feast names of the views the team's services read (own and shared); an on-demand view
    has no table of its own: it reads its source views'."""
    on_demand = {v.feast_name: v.sources for v in team.on_demand_views.values()}
    read = {f.view for s in team.feature_services.values() for f in s.features}
    return {source for view in read for source in on_demand.get(view, (view,))}


def view_sources(teams: Mapping[str, Team]) -> dict[str, str]:
    """The source URI of every feature view of `teams` (a whole IR's), by the view's Feast
    name: what a team's policy reads of the views other teams share with it."""
    return {
        view.feast_name: source.uri
        for team in teams.values()
        for view in team.feature_views.values()
        for source in team.sources.values()
        if source.feast_name == view.source
    }


def feature_inputs(team: Team, sources: Mapping[str, str]) -> dict[str, str]:
    """What a team's feature store resources read from outside its own spec: the source URI
    of each view it may read (the key of its cached plan fragment covers them)."""
    owned = {v.feast_name for v in team.feature_views.values() if v.online}
    return {view: sources[view] for view in sorted(readable_views(team) | owned) if view in sources}


def has_team_features(team: Team) -> bool:
    """Whether the team has anything in the feature store (views, sources or reads)."""
    return bool(team.feature_views or team.sources or readable_views(team))
