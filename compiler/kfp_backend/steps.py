"""What the pipeline builder needs of a step's component, whatever kind of step it is."""

from __future__ import annotations

from dataclasses import dataclass

from kfp.dsl.base_component import BaseComponent


@dataclass(frozen=True)
class StepComponent:
    component: BaseComponent
    """A kfp component named after the step, so its task in the DAG has the step's name."""
    output_keys: dict[str, str]
    """Declared output name → the kfp output that carries it (they differ only for a
    function's plain return value, which kfp calls 'Output')."""
