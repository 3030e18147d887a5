"""Features: entities, sources, feature views and feature services (a Feast feature store).

A team declares its features once; the same definitions build the training frame of a
pipeline step (a point-in-time join), feed its endpoints online and appear in the plan.
"""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from schemas.types import Duration, Identifier, Name, SpecModel

FeatureType = Literal["int32", "int64", "float32", "float64", "string", "bool"]
"""Value types of features and join keys (Feast's Int32, Int64, Float32, Float64, String, Bool)."""


class EntitySpec(SpecModel):
    """What features describe (a card, a customer): the key that joins them."""

    description: str = ""
    join_key: Identifier
    """Column that identifies the entity in sources, training frames and requests."""
    value_type: Literal["int64", "string"] = "int64"


class SourceOutputSpec(SpecModel):
    """The Dataset output of a pipeline step that writes a source's rows (Parquet)."""

    pipeline: Name
    step: Name
    output: Identifier


class SourceSpec(SpecModel):
    """A batch source of feature rows: a Parquet or CSV file in this repository, or the
    Dataset a step of one of the team's pipelines writes (`written_by`)."""

    description: str = ""
    path: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_][\w./-]*\.(parquet|csv)$")
    """Parquet or CSV file relative to the repository root, e.g.
    components/team/data/rows.parquet (CSV is converted to Parquet for the store)."""
    written_by: SourceOutputSpec | None = None
    """Each successful run of that step publishes its Dataset as the source's rows (the store
    copies them: locally into its repository, in the cloud to the datasets bucket); the
    views reading it are materialized after the run."""
    timestamp_field: Identifier = "event_timestamp"
    """When each row's values became true (the point-in-time join never looks past it)."""
    created_timestamp_field: Identifier | None = None
    """When the row was written; breaks ties between rows with the same event time."""

    @model_validator(mode="after")
    def _one_origin(self) -> Self:
        if (self.path is None) == (self.written_by is None):
            raise PydanticCustomError(
                "source_origin",
                "a source has either path: (a file in the repository) or written_by: (a "
                "step's Dataset), not {which}",
                {
                    "which": "both" if self.path else "neither",
                    "hint": "path: components/<team>/data/rows.parquet, or written_by: "
                    "{pipeline: ..., step: ..., output: ...}",
                },
            )
        return self


class FeatureViewSpec(SpecModel):
    """Typed features of one entity, read from one source, kept online when `online`."""

    description: str = ""
    entity: Name
    source: Name
    features: dict[Identifier, FeatureType] = Field(min_length=1, max_length=500)
    """Feature name: value type, in the order models see them."""
    ttl: Duration = 86400
    """How far back a join or lookup may reach for a value (e.g. 7d)."""
    online: bool = True
    """Materialized into the online store, so endpoints can read it."""
    shared_with: list[Name] = []
    """Other teams that may use this view in their feature services (a read grant)."""


class OnDemandFeatureSpec(SpecModel):
    """A feature computed when it is read, from the view's inputs."""

    type: FeatureType
    expression: str = Field(min_length=1, max_length=500)
    """Arithmetic over the inputs' names (+ - * / ** %, parentheses, numbers), e.g.
    `amount / (amount_sum_7d + 1)`: evaluated by pandas on every read, online and in joins."""


class OnDemandViewSpec(SpecModel):
    """Features computed at read time (a Feast on-demand feature view) from features of this
    team's views and from values the request carries, the same way for training frames
    (the values are columns of the entity rows) and for endpoints (inputs of the request)."""

    description: str = ""
    sources: list[Name] = Field(min_length=1, max_length=10)
    """Feature views of this team whose features the expressions read."""
    request: dict[Identifier, FeatureType] = Field(default={}, max_length=50)
    """Values each request (and each entity row of a training frame) carries, e.g. amount."""
    features: dict[Identifier, OnDemandFeatureSpec] = Field(min_length=1, max_length=100)


class FeatureSelection(SpecModel):
    """Features of one view in a service; every feature of the view when `features` is unset."""

    view: Name
    """A feature view, or an on-demand view of this team."""
    team: Name | None = None
    """Team that owns the view; this team when unset (another team must share it)."""
    features: list[Identifier] | None = None


class FeatureServiceSpec(SpecModel):
    """The named, ordered set of features a model is trained and served with."""

    description: str = ""
    features: list[FeatureSelection] = Field(min_length=1, max_length=50)


class EntityRows(SpecModel):
    """The step output that holds the entity rows of a training frame."""

    step: Name
    output: Identifier


class TrainingFrameSpec(SpecModel):
    """A step's training frame: the service's features joined point in time to entity rows.

    The entity rows (join key, event timestamp, labels) come from another step's Dataset; the
    frame reaches the step as its input `features` (an Input[Dataset], Parquet)."""

    service: Name
    entities: EntityRows
