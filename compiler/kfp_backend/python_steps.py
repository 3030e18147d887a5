"""Python steps: a team's `module:function` as a kfp lightweight component, checked.

kfp derives the component's interface from the function's annotations; the checks here
compare it with the step as declared: every input must be an argument, every required
argument must get a value, every declared output must be produced with its declared type
(E211), and every value fed in must fit its argument's type (E210).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from kfp import dsl
from kfp.dsl.python_component import PythonComponent

from compiler.diagnostics import did_you_mean
from compiler.ir import Pipeline, Step
from compiler.kfp_backend import spec_types
from compiler.kfp_backend.problems import Problem, step_path
from compiler.kfp_backend.steps import StepComponent
from compiler.kfp_backend.team_code import TeamCodeError, load_function, shipping_problems
from compiler.team_packages import PLATFORM_STEP_MODULES, outside_team_code

KFP_RETURN_OUTPUT = "Output"
"""The output name kfp gives a function's plain (non-NamedTuple) return value."""


def _output_key(outputs: dict[str, str], name: str, declared: dict[str, str]) -> str | None:
    """The kfp output that carries the step's declared output `name`, if any."""
    if name in outputs:
        return name
    parameter_outputs = [n for n, t in declared.items() if not spec_types.is_artifact(t)]
    if KFP_RETURN_OUTPUT in outputs and parameter_outputs == [name]:
        return KFP_RETURN_OUTPUT
    return None


def _source_stamp(func: Callable[..., Any]) -> tuple[str, int, int] | None:
    """Size and modification time of the file kfp reads the function's source from."""
    filename = func.__code__.co_filename
    try:
        stat = os.stat(filename)
    except OSError:
        return None
    return filename, stat.st_size, stat.st_mtime_ns


@lru_cache(maxsize=1024)
def _cached_component(
    func: Callable[..., Any],
    base_image: str | None,
    packages: tuple[str, ...],
    stamp: tuple[str, int, int] | None,
) -> PythonComponent:
    del stamp  # part of the key only
    return dsl.component(func, base_image=base_image, packages_to_install=list(packages))


_sharing = True


def share_components(on: bool) -> bool:
    """Make each python component once per process (on, the default) or afresh for every
    step (off: what tests compare against); returns the previous setting."""
    global _sharing
    previous, _sharing = _sharing, on
    _cached_component.cache_clear()
    return previous


def kfp_component(
    func: Callable[..., Any], base_image: str | None, packages: tuple[str, ...]
) -> PythonComponent:
    """`dsl.component(func, ...)`, made once per process for each function and settings.

    kfp reads the function's source and derives its interface on every call, the costliest
    part of a python step, and many pipelines share the same step functions. A component is
    safe to share, as one defined once at module level is: a task copies the container spec
    it changes. The key holds the source file's size and modification time, so an edited
    file is read again, as kfp would read it.
    """
    if not _sharing:
        return _cached_component.__wrapped__(func, base_image, packages, None)
    return _cached_component(func, base_image, packages, _source_stamp(func))


def python_component(pipeline: Pipeline, step: Step) -> tuple[StepComponent | None, list[Problem]]:
    """The step's function as a kfp lightweight component, or the problems that prevent it."""
    assert step.python is not None
    ref = step.python.function
    fpath = step_path(pipeline, step.name, "python", "function")
    platform_step = ref.partition(":")[0] in PLATFORM_STEP_MODULES  # added by linking
    outside = None if platform_step else outside_team_code(pipeline.team, ref)
    if outside is not None:  # refused before any file is read
        return None, [Problem("E225", f"step '{step.name}': {outside[0]}", fpath, outside[1])]
    try:
        func = load_function(ref)
    except TeamCodeError as exc:
        return None, [Problem("E211", f"step '{step.name}': {exc}", fpath, exc.hint)]
    problems = [
        Problem("E211", f"step '{step.name}': {exc}", fpath, exc.hint)
        for exc in shipping_problems(ref, func)
    ]
    try:
        component = kfp_component(func, step.python.base_image, tuple(step.python.packages))
    except Exception as exc:
        return None, [
            *problems,
            Problem(
                "E211",
                f"step '{step.name}': kfp cannot make a component of {ref}: {exc}",
                fpath,
                "annotate every argument: primitive types, Input[...] / Output[...] of "
                "kfp.dsl artifact types, or dsl.OutputPath(type)",
            ),
        ]
    spec = component.component_spec
    inputs = dict(spec.inputs or {})
    outputs = dict(spec.outputs or {})
    problems.extend(_check_inputs(pipeline, step, ref, inputs, outputs))
    output_keys, output_problems = _check_outputs(pipeline, step, ref, inputs, outputs)
    problems.extend(output_problems)
    if problems:
        return None, problems
    named = dataclasses.replace(
        spec, name=step.name, description=step.description or spec.description
    )
    return StepComponent(PythonComponent(named, python_func=func), output_keys), []


def _check_inputs(
    pipeline: Pipeline, step: Step, ref: str, inputs: dict[str, Any], outputs: dict[str, Any]
) -> list[Problem]:
    problems: list[Problem] = []
    for name, fed in step.inputs.items():
        where = step_path(pipeline, step.name, "inputs", name)
        spec = inputs.get(name)
        if spec is None:
            if name in outputs:
                declared = spec_types.as_output(spec_types.from_kfp(outputs[name].type))
                problems.append(
                    Problem(
                        "E211",
                        f"step '{step.name}' feeds input '{name}', but {ref} declares it as an "
                        f"output ({name}: {declared})",
                        where,
                        f"list '{name}' under outputs, or make it an input argument of the function",
                    )
                )
            else:
                problems.append(
                    Problem(
                        "E211",
                        f"step '{step.name}' feeds input '{name}', but {ref} has no argument '{name}'",
                        where,
                        did_you_mean(name, [n for n in inputs if n not in step.inputs])
                        or f"add the argument '{name}' to the function or remove the input",
                    )
                )
            continue
        if spec.is_artifact_list:
            problems.append(
                Problem(
                    "E211",
                    f"step '{step.name}' cannot feed argument '{name}' of {ref}: it takes a list of "
                    "artifacts",
                    where,
                )
            )
            continue
        expected = spec_types.from_kfp(spec.type)
        fits = (
            spec_types.constant_fits(fed.type, expected)
            if fed.source == "value"
            else spec_types.compatible(fed.type, expected)
        )
        if not fits:
            problems.append(_mismatch(step, ref, name, fed.type, expected, fed, where))
    for name, spec in inputs.items():
        if name not in step.inputs and not spec.optional:
            written = spec_types.as_input(spec_types.from_kfp(spec.type))
            problems.append(
                Problem(
                    "E211",
                    f"step '{step.name}' gives no value to argument '{name}' ({written}) of {ref}",
                    step_path(pipeline, step.name, "python", "function"),
                    f"add inputs: {{{name}: ...}} to step '{step.name}', or give the argument a "
                    "default",
                )
            )
    return problems


def _mismatch(
    step: Step, ref: str, name: str, given: str, expected: str, fed: Any, where: Any
) -> Problem:
    if fed.source == "step":
        origin = f"output '{fed.output}' of step '{fed.step}'"
    elif fed.source == "param":
        origin = f"pipeline parameter '{fed.param}'"
    else:
        origin = f"the constant {fed.value!r}"
    return Problem(
        "E210",
        f"input '{name}' of step '{step.name}' is {origin}, of type {given}, but {ref} takes "
        f"{name}: {spec_types.as_input(expected)}",
        where,
        (
            f"feed it an output of type {expected} from another step"
            if spec_types.is_artifact(expected)
            else f"feed it a {expected}"
        )
        + f", or declare the argument as {name}: {spec_types.as_input(given)}",
    )


def _check_outputs(
    pipeline: Pipeline, step: Step, ref: str, inputs: dict[str, Any], outputs: dict[str, Any]
) -> tuple[dict[str, str], list[Problem]]:
    problems: list[Problem] = []
    keys: dict[str, str] = {}
    matched: set[str] = set()
    for name, declared in step.outputs.items():
        where = step_path(pipeline, step.name, "outputs", name)
        key = _output_key(outputs, name, step.outputs)
        if key is not None:
            matched.add(key)
        if key is None:
            if name in inputs:
                problems.append(
                    Problem(
                        "E211",
                        f"step '{step.name}' declares output '{name}', but {ref} takes it as an "
                        f"input ({name}: {spec_types.as_input(spec_types.from_kfp(inputs[name].type))})",
                        where,
                        f"declare the argument as {name}: {spec_types.as_output(declared)}"
                        if spec_types.is_artifact(declared)
                        else f"return it: -> NamedTuple('Outputs', [('{name}', {declared})])",
                    )
                )
            else:
                how = (
                    f"add the argument {name}: Output[{declared}]"
                    if spec_types.is_artifact(declared)
                    else f"return it (-> {declared}, or a NamedTuple with a field '{name}')"
                )
                problems.append(
                    Problem(
                        "E211",
                        f"step '{step.name}' declares output '{name}', but {ref} does not produce it",
                        where,
                        how,
                    )
                )
            continue
        produced = spec_types.from_kfp(outputs[key].type)
        if produced != declared:
            problems.append(
                Problem(
                    "E211",
                    f"step '{step.name}' declares output '{name}' as {declared}, but {ref} "
                    f"produces {spec_types.as_output(produced)}",
                    where,
                    f"declare outputs: {{{name}: {produced}}}, or change the function",
                )
            )
            continue
        keys[name] = key
    for key, spec in outputs.items():
        if key not in matched and key not in step.inputs:  # fed as an input: reported there
            produced = spec_types.from_kfp(spec.type)
            label = "the return value" if key == KFP_RETURN_OUTPUT else f"output '{key}'"
            problems.append(
                Problem(
                    "E211",
                    f"step '{step.name}' does not declare {label} ({spec_types.as_output(produced)}) "
                    f"of {ref}",
                    step_path(pipeline, step.name, "python", "function"),
                    f"add outputs: {{{'NAME' if key == KFP_RETURN_OUTPUT else key}: {produced}}} "
                    f"to step '{step.name}'",
                )
            )
    return keys, problems
