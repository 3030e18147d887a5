"""What a deploy redoes: hashes per pipeline (spec + step code), model and endpoint."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from compiler.deploy.local.hashing import (
    endpoint_hash,
    model_hash,
    module_source,
    pipeline_hash,
    step_modules,
)
from compiler.deploy.local.pipelines import plan_run, run_arguments
from compiler.frontend import FrontendResult, load_platform
from compiler.ir import PlatformIR
from tests.conftest import CONFIGS

Loader = Callable[[str], FrontendResult]


def ir_with(*overrides: str) -> PlatformIR:
    result = load_platform(CONFIGS, ["env=local", *overrides])
    assert result.ok and result.ir is not None, [d.render() for d in result.diagnostics]
    return result.ir


def pipeline_hashes(ir: PlatformIR) -> dict[str, str]:
    return {f"{p.team}/{p.name}": pipeline_hash(p) for p in ir.pipelines()}


def test_hashes_are_stable(example_ir: Loader) -> None:
    ir = example_ir("local").ir
    assert ir is not None
    assert pipeline_hashes(ir) == pipeline_hashes(ir_with())


def test_changing_one_pipeline_changes_only_its_hash(example_ir: Loader) -> None:
    base = example_ir("local").ir
    assert base is not None
    changed = ir_with("teams.search.pipelines.train-search-ranker.parameters.max_depth.default=4")
    before, after = pipeline_hashes(base), pipeline_hashes(changed)
    assert {k for k in before if before[k] != after[k]} == {"search/train-search-ranker"}


def test_step_code_is_part_of_the_pipeline_hash(example_ir: Loader) -> None:
    ir = example_ir("local").ir
    assert ir is not None
    pipeline = ir.teams["fraud"].pipelines["train-fraud-model"]
    assert step_modules(pipeline) == [
        "components.fraud.data",
        "components.fraud.evaluate",
        "components.fraud.train",
    ]

    def edited(module: str) -> bytes:
        source = module_source(module)
        return source + b"\n# tuned\n" if module == "components.fraud.train" else source

    assert pipeline_hash(pipeline, edited) != pipeline_hash(pipeline)
    search = ir.teams["search"].pipelines["train-search-ranker"]
    assert pipeline_hash(search, edited) == pipeline_hash(search)


def test_module_source_reads_the_file_without_running_it() -> None:
    assert b"def train_model(" in module_source("components.fraud.train")
    assert module_source("components.fraud.nope") == b"<module components.fraud.nope not found>"
    assert module_source("no_such_package.x") == b"<module no_such_package.x not found>"


def test_endpoint_hash_follows_spec_and_served_version(example_ir: Loader) -> None:
    ir = example_ir("local").ir
    assert ir is not None
    endpoint = ir.teams["fraud"].endpoints["fraud-scorer"]
    served = ["fraud.fraud-classifier", 1, "/m/model.joblib"]
    assert endpoint_hash(endpoint, served) == endpoint_hash(endpoint, list(served))
    assert endpoint_hash(endpoint, served) != endpoint_hash(endpoint, [served[0], 2, served[2]])
    resized = ir_with("teams.fraud.endpoints.fraud-scorer.max_replicas=2")
    assert endpoint_hash(resized.teams["fraud"].endpoints["fraud-scorer"], served) != (
        endpoint_hash(endpoint, served)
    )
    other = ir.teams["search"].endpoints["search-ranker"]
    assert endpoint_hash(other, served) == endpoint_hash(
        resized.teams["search"].endpoints["search-ranker"], served
    )


def test_model_hash_follows_the_stage(example_ir: Loader) -> None:
    ir = example_ir("local").ir
    assert ir is not None
    promoted = ir_with("teams.fraud.models.fraud-classifier.stage=production")
    model = ir.teams["fraud"].models["fraud-classifier"]
    assert model_hash(model) != model_hash(promoted.teams["fraud"].models["fraud-classifier"])


@pytest.mark.parametrize(
    ("team", "pipeline", "docker", "runner", "reason"),
    [
        pytest.param("fraud", "train-fraud-model", "no engine", "subprocess", None, id="python"),
        pytest.param(
            "search",
            "embed-catalog",
            "no Docker engine answers",
            None,
            "container step 'embed' needs Docker: no Docker engine answers",
            id="container-no-docker",
        ),
        pytest.param(
            "recsys",
            "train-ranker",
            "no Docker engine answers",
            None,
            "container steps 'extract-features', 'train' need Docker: no Docker engine answers",
            id="mixed-no-docker",
        ),
        pytest.param("recsys", "train-ranker", None, "docker", None, id="mixed-with-docker"),
    ],
)
def test_how_a_pipeline_runs_locally(
    example_ir: Loader,
    team: str,
    pipeline: str,
    docker: str | None,
    runner: str | None,
    reason: str | None,
) -> None:
    ir = example_ir("local").ir
    assert ir is not None
    plan = plan_run(ir.teams[team].pipelines[pipeline], lambda: docker)
    assert (plan.runner, plan.reason) == (runner, reason)


def test_a_required_parameter_skips_the_pipeline() -> None:
    ir = ir_with("~teams.search.pipelines.train-search-ranker.parameters.n_queries.default")
    plan = plan_run(ir.teams["search"].pipelines["train-search-ranker"], lambda: None)
    assert plan.runner is None
    assert plan.reason == "parameter 'n_queries' has no default (local runs use the defaults)"


def test_a_required_parameter_takes_the_schedules_value() -> None:
    ir = ir_with(
        "~teams.fraud.pipelines.train-fraud-model.parameters.n_samples.default",
        "+teams.fraud.pipelines.train-fraud-model.schedule.parameters={n_samples: 500}",
    )
    pipeline = ir.teams["fraud"].pipelines["train-fraud-model"]
    assert run_arguments(pipeline) == {"n_samples": 500}
    assert plan_run(pipeline, lambda: None).runner == "subprocess"
