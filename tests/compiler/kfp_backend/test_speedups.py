"""The kfp speed-ups change nothing: compiled output is byte-identical to stock kfp."""

from __future__ import annotations

import pytest
from kfp.compiler import pipeline_spec_builder

from benchmarks.generate_org import generate
from compiler.frontend import load_platform
from compiler.kfp_backend import (
    compile_pipeline,
    fast_yaml,
    kubernetes_batch,
    pipeline_text,
    speedups,
)
from compiler.team_packages import code_beside
from tests.conftest import CONFIGS


def test_the_patch_is_active_for_the_pinned_kfp():
    assert speedups.applicable()
    from kfp.dsl import pipeline_task

    assert isinstance(pipeline_task.inspect, speedups._CallerNameInspect)
    assert isinstance(pipeline_spec_builder.yaml, fast_yaml.KfpYaml)
    assert kubernetes_batch.installed()
    assert pipeline_text.enabled()


@pytest.mark.parametrize("source", ["example-prod", "generated"])
def test_patched_kfp_output_is_byte_identical_to_stock_kfp(source, tmp_path):
    if source == "example-prod":
        configs = CONFIGS
        ir = load_platform(CONFIGS, ["env=prod"]).ir
    else:
        configs = generate(tmp_path / "configs", teams=6, seed=3)
        ir = load_platform(configs).ir
    assert ir is not None
    pipelines = sorted(ir.pipelines(), key=lambda p: (p.team, p.name))
    with code_beside(configs):
        patched = [compile_pipeline(ir, p) for p in pipelines]  # python components shared
    with speedups.stock_kfp(), code_beside(configs):
        assert not kubernetes_batch.installed() and not pipeline_text.enabled()
        stock = [compile_pipeline(ir, p) for p in pipelines]  # every component made afresh
        assert len(pipelines) >= 4
        assert patched == stock
        assert [compile_pipeline(ir, p) for p in reversed(pipelines)] == patched[::-1]


def test_the_caller_is_still_named_as_kfp_expects():
    """kfp reads inspect.stack()[1][3] to name the setter in its error message."""
    from kfp.dsl import pipeline_task

    def set_something() -> str:
        def ensure() -> str:
            return pipeline_task.inspect.stack()[1][3]

        return ensure()

    assert set_something() == "set_something"
    import inspect

    def stock() -> str:
        def ensure() -> str:
            return inspect.stack()[1][3]

        return ensure()

    assert stock() == "stock"
