"""The spec language's types ('int', 'Dataset', ...) and their kfp counterparts.

Everything is compared in the spec's own words, so a diagnostic says `float` or
`Input[Dataset]`, as a team writes them, rather than kfp's `NUMBER_DOUBLE`.
"""

from __future__ import annotations

from typing import Any

from kfp import dsl

from schemas.pipeline import ARTIFACT_TYPES, PARAMETER_TYPES

PYTHON_TYPES: dict[str, type] = {
    "str": str,
    "int": int,
    "float": float,
    "bool": bool,
    "list": list,
    "dict": dict,
}
"""Parameter type name → the Python annotation kfp maps to the same pipeline parameter type."""

ARTIFACT_CLASSES: dict[str, type[dsl.Artifact]] = {
    "Dataset": dsl.Dataset,
    "Model": dsl.Model,
    "Metrics": dsl.Metrics,
    "ClassificationMetrics": dsl.ClassificationMetrics,
    "Artifact": dsl.Artifact,
    "HTML": dsl.HTML,
    "Markdown": dsl.Markdown,
}
assert set(PYTHON_TYPES) == set(PARAMETER_TYPES)
assert set(ARTIFACT_CLASSES) == set(ARTIFACT_TYPES)

# Type names in kfp component specs (what `dsl.component` derives from annotations).
_KFP_PARAMETER_NAMES = {
    "String": "str",
    "Integer": "int",
    "Float": "float",
    "Double": "float",
    "Boolean": "bool",
    "List": "list",
    "Dict": "dict",
}


def is_artifact(type_name: str) -> bool:
    return type_name in ARTIFACT_CLASSES or type_name not in PYTHON_TYPES


def from_kfp(kfp_type: str) -> str:
    """A kfp component-spec type ('Float', 'system.Dataset@0.0.1') in the spec's words."""
    if kfp_type in _KFP_PARAMETER_NAMES:
        return _KFP_PARAMETER_NAMES[kfp_type]
    title = kfp_type.split("@", 1)[0]
    return title.removeprefix("system.")


def input_annotation(type_name: str) -> Any:
    """The annotation of a component argument that receives `type_name`."""
    if type_name in PYTHON_TYPES:
        return PYTHON_TYPES[type_name]
    return dsl.Input[ARTIFACT_CLASSES[type_name]]


def output_annotation(type_name: str) -> Any:
    """The annotation of a component argument that produces `type_name`."""
    if type_name in PYTHON_TYPES:
        return dsl.OutputPath(PYTHON_TYPES[type_name])
    return dsl.Output[ARTIFACT_CLASSES[type_name]]


def as_input(type_name: str) -> str:
    """How a function argument receiving `type_name` is written: 'float', 'Input[Dataset]'."""
    return f"Input[{type_name}]" if is_artifact(type_name) else type_name


def as_output(type_name: str) -> str:
    return f"Output[{type_name}]" if is_artifact(type_name) else type_name


def compatible(given: str, expected: str) -> bool:
    """Whether a value of type `given` may feed an argument of type `expected`.

    Mirrors kfp's own check: parameter types must be equal; an artifact fits an argument
    of the same artifact type or of the generic `Artifact`.
    """
    if is_artifact(given) != is_artifact(expected):
        return False
    if not is_artifact(given):
        return given == expected
    return given == expected or "Artifact" in (given, expected)


def constant_for(value: Any, given: str, expected: str) -> Any:
    """A constant input converted for its argument: YAML `1` feeds a `float` as 1.0."""
    if given == "int" and expected == "float":
        return float(value)
    return value


def constant_fits(given: str, expected: str) -> bool:
    return compatible(given, expected) or (given, expected) == ("int", "float")
