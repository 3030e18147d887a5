"""Step functions of the golden cases (test_golden.py copies this file into each case
team's package, `components/<team>/golden_steps.py`, read from a temporary folder).

Their source is embedded in the expected YAML: edit them only together with `make golden`.
"""

from typing import NamedTuple

from kfp.dsl import Dataset, Input, Metrics, Model, Output


def prepare(rows: int, tag: str, data: Output[Dataset]) -> None:
    with open(data.path, "w") as handle:
        handle.write(f"{tag},{rows}\n")


def fit(data: Input[Dataset], rate: float, model: Output[Model], metrics: Output[Metrics]) -> None:
    with open(model.path, "w") as handle:
        handle.write(str(rate))
    metrics.log_metric("loss", 1.0 - rate)


def evaluate(data: Input[Dataset], model: Input[Model]) -> NamedTuple(
    "Outputs", [("score", float), ("passed", bool)]
):
    return (0.9, True)


def gate(score: float, threshold: float) -> str:
    return "ship" if score >= threshold else "hold"


def announce(decision: str, channels: list) -> None:
    print(decision, channels)


def check_loss(loss: float, limit: float = 0.5) -> bool:
    return loss <= limit
