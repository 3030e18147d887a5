"""Training pipelines: parameters, steps (python or container) and their wiring."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Self

from pydantic import Discriminator, Field, Tag, model_validator
from pydantic_core import PydanticCustomError

from schemas.features import TrainingFrameSpec
from schemas.resources import Resources
from schemas.training import DistributedSpec, TuningSpec
from schemas.types import (
    Cron,
    Duration,
    EnvVarName,
    Identifier,
    K8sObjectName,
    Name,
    SpecModel,
)

ParameterType = Literal["str", "int", "float", "bool", "list", "dict"]
ArtifactType = Literal[
    "Dataset", "Model", "Metrics", "ClassificationMetrics", "Artifact", "HTML", "Markdown"
]
OutputType = ParameterType | ArtifactType
PARAMETER_TYPES: tuple[str, ...] = ParameterType.__args__  # type: ignore[attr-defined]
ARTIFACT_TYPES: tuple[str, ...] = ArtifactType.__args__  # type: ignore[attr-defined]

_PY_TYPES: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "list": (list,),
    "dict": (dict,),
}


def value_matches(type_name: str, value: object) -> bool:
    """Whether a YAML value fits a parameter type (bools are not ints here)."""
    if isinstance(value, bool) and type_name != "bool":
        return False
    return isinstance(value, _PY_TYPES[type_name])


class ParameterSpec(SpecModel):
    """A run-time parameter of the pipeline."""

    type: ParameterType
    default: Any = None
    """Default value; a parameter without one must be given at run time."""
    description: str = ""

    @model_validator(mode="after")
    def _default_has_type(self) -> Self:
        if self.default is not None and not value_matches(self.type, self.default):
            raise PydanticCustomError(
                "default_type",
                "default {default!r} is not of type {type}",
                {
                    "default": self.default,
                    "type": self.type,
                    "field": "default",
                    "hint": "fix the default or the type",
                },
            )
        return self


class ParamRef(SpecModel):
    """Feed a pipeline parameter into a step input."""

    param: Identifier


class StepOutputRef(SpecModel):
    """Feed another step's output into a step input (this also orders the steps)."""

    step: Name
    output: Identifier


def _input_kind(value: Any) -> str | None:
    if isinstance(value, dict):
        if "param" in value:
            return "param"
        if "step" in value:
            return "step"
        return None
    if isinstance(value, ParamRef):
        return "param"
    if isinstance(value, StepOutputRef):
        return "step"
    return "value"


InputValue = Annotated[
    Annotated[ParamRef, Tag("param")]
    | Annotated[StepOutputRef, Tag("step")]
    | Annotated[str | bool | int | float | list[Any], Tag("value")],
    Discriminator(
        _input_kind,
        custom_error_type="input_source",
        custom_error_message=(
            "a step input is a constant, {param: NAME} or {step: STEP, output: NAME}"
        ),
        custom_error_context={"hint": "e.g. dataset: {step: prepare, output: dataset}"},
    ),
]


class PythonStep(SpecModel):
    """A lightweight python component: a function in this repository's `components/` package."""

    function: str = Field(pattern=r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")
    """'module:function', e.g. 'components.fraud.train:train_model'."""
    packages: list[str] = []
    """pip requirements installed before the function runs, e.g. 'scikit-learn==1.5.2'."""
    base_image: str | None = None
    """Image the function runs in; the platform's defaults.python_image when unset."""


_PLACEHOLDER = re.compile(r"\{\{\s*(inputs|outputs)\.([a-z_][a-z0-9_]*)\s*\}\}")


def placeholders(text: str) -> list[tuple[str, str]]:
    """('inputs' | 'outputs', name) pairs a container command or argument refers to."""
    if "{{" not in text:
        return []
    return [(m.group(1), m.group(2)) for m in _PLACEHOLDER.finditer(text)]


class ContainerStep(SpecModel):
    """A container image run with a command; '{{inputs.x}}' / '{{outputs.y}}' in args are wired."""

    image: str = Field(min_length=1)
    command: list[str] = []
    args: list[str] = []


class RetrySpec(SpecModel):
    attempts: int = Field(default=0, ge=0, le=10)
    """Retries after the first failure."""
    backoff: Duration = 30
    """Wait before the first retry."""
    backoff_factor: float = Field(default=2.0, ge=1.0, le=10.0)
    max_backoff: Duration = 3600


class SecretRef(SpecModel):
    """A Kubernetes Secret by name: never a value. Exposed as env vars and/or mounted."""

    secret: K8sObjectName
    env: dict[EnvVarName, str] = {}
    """ENV_VAR: key-in-secret."""
    mount_path: str | None = Field(default=None, pattern=r"^/[^\s]*$")

    @model_validator(mode="after")
    def _used_somehow(self) -> Self:
        if not self.env and not self.mount_path:
            raise PydanticCustomError(
                "secret_unused",
                "secret '{secret}' is neither exposed as env nor mounted",
                {"secret": self.secret, "hint": "add env: {VAR: key} or mount_path: /secrets/x"},
            )
        return self


class StepSpec(SpecModel):
    """One task of a pipeline: exactly one of `python` or `container`."""

    description: str = ""
    python: PythonStep | None = None
    container: ContainerStep | None = None
    inputs: dict[Identifier, InputValue] = {}
    outputs: dict[Identifier, OutputType] = {}
    """Output name: type (a parameter type such as 'float' or an artifact type such as 'Model')."""
    after: list[Name] = []
    """Steps that must finish first even though no output is consumed."""
    resources: Resources = Resources()
    node_pool: Name | None = None
    """Node pool to run on; the platform default pool when unset."""
    retry: RetrySpec = RetrySpec()
    caching: bool = True
    timeout: Duration | None = None
    env: dict[EnvVarName, str] = {}
    """Plain environment variables. Secrets go in `secrets`, never here."""
    secrets: list[SecretRef] = []
    features: TrainingFrameSpec | None = None
    """A training frame from a feature service, delivered as the input `features`."""
    distributed: DistributedSpec | None = None
    """Run as a distributed training job; `resources` and `node_pool` are per worker."""

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        if (self.python is None) == (self.container is None):
            raise PydanticCustomError(
                "step_kind",
                "a step needs exactly one of 'python' or 'container'",
                {"hint": "python: {function: 'components.x.y:fn'} or container: {image: ...}"},
            )
        return self


class ScheduleSpec(SpecModel):
    """A recurring run."""

    cron: Cron
    """Five-field cron in UTC, e.g. '0 3 * * *'."""
    enabled: bool = True
    max_concurrency: int = Field(default=1, ge=1, le=10)
    parameters: dict[Identifier, Any] = {}
    """Parameter values of scheduled runs (defaults otherwise)."""


class PipelineSpec(SpecModel):
    """A training (or batch) pipeline compiled to Kubeflow Pipelines."""

    description: str = ""
    parameters: dict[Identifier, ParameterSpec] = Field(default={}, max_length=100)
    steps: dict[Name, StepSpec] = Field(min_length=1, max_length=200)
    schedule: ScheduleSpec | None = None
    tuning: TuningSpec | None = None
    """A hyperparameter sweep: the pipeline runs once per trial."""
