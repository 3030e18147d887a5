"""The mlplat spec language: what teams write in `configs/`, as pydantic v2 models.

`RootSpec` is `configs/platform.yaml` composed with an environment overlay; `TeamSpec` is one
team's file. The compiler validates YAML against these models; `schemas/json/` holds their
exported JSON Schema for editors.
"""

from schemas.pipeline import PipelineSpec, StepSpec
from schemas.platform import BucketSpec, NodePoolSpec, PlatformSpec, RootSpec
from schemas.serving import EndpointSpec, ModelSpec
from schemas.team import TeamSpec

__all__ = [
    "BucketSpec",
    "EndpointSpec",
    "ModelSpec",
    "NodePoolSpec",
    "PipelineSpec",
    "PlatformSpec",
    "RootSpec",
    "StepSpec",
    "TeamSpec",
]
