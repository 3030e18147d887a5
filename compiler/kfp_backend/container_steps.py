"""Container steps: an image, a command and args with `{{inputs.x}}` / `{{outputs.y}}`.

The component is made by kfp's own `container_component` from a function whose signature
is built from the step's inputs and outputs, so kfp assigns the placeholders: a parameter
input becomes its value, an artifact (input or output) its local path, and a parameter
output the path of the file the container writes the value to.
"""

from __future__ import annotations

import dataclasses
import inspect
import re
from typing import Any

from kfp import dsl
from kfp.dsl.container_component_class import ContainerComponent

from compiler.ir import Step
from compiler.kfp_backend import spec_types
from compiler.kfp_backend.steps import StepComponent

_PLACEHOLDER = re.compile(r"\{\{\s*(inputs|outputs)\.([a-z_][a-z0-9_]*)\s*\}\}")


def _signature(step: Step) -> inspect.Signature:
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    parameters = [
        inspect.Parameter(name, kind, annotation=spec_types.input_annotation(fed.type))
        for name, fed in step.inputs.items()
    ]
    parameters += [
        inspect.Parameter(name, kind, annotation=spec_types.output_annotation(type_name))
        for name, type_name in step.outputs.items()
    ]
    return inspect.Signature(parameters)


def _placeholder(value: Any) -> Any:
    """What stands for an argument in the command line: artifacts by their path."""
    return value.path if hasattr(value, "path") else value


def _substitute(text: str, values: dict[tuple[str, str], Any]) -> Any:
    whole = _PLACEHOLDER.fullmatch(text)
    if whole:
        return _placeholder(values[(whole.group(1), whole.group(2))])
    return _PLACEHOLDER.sub(lambda m: str(_placeholder(values[(m.group(1), m.group(2))])), text)


def container_component(step: Step) -> StepComponent:
    assert step.container is not None
    spec = step.container
    names = [*step.inputs, *step.outputs]
    kinds = {**dict.fromkeys(step.inputs, "inputs"), **dict.fromkeys(step.outputs, "outputs")}

    def describe(*args: Any) -> dsl.ContainerSpec:
        values = {(kinds[name], name): value for name, value in zip(names, args, strict=True)}
        return dsl.ContainerSpec(
            image=spec.image,
            command=[_substitute(part, values) for part in spec.command] or None,
            args=[_substitute(part, values) for part in spec.args] or None,
        )

    describe.__signature__ = _signature(step)  # type: ignore[attr-defined]
    describe.__name__ = step.name.replace("-", "_")
    describe.__doc__ = step.description or None
    component = dsl.container_component(describe)
    named = dataclasses.replace(component.component_spec, name=step.name)
    return StepComponent(
        ContainerComponent(named, pipeline_func=describe),
        {name: name for name in step.outputs},
    )
