"""pipeline_text gives the bytes `Compiler().compile` writes, without a file where it can."""

# No `from __future__ import annotations`: kfp reads the components' annotations as types.
import tempfile

import pytest
from kfp import dsl
from kfp.dsl.graph_component import GraphComponent

from compiler.frontend import load_platform
from compiler.kfp_backend import build_pipeline, pipeline_text, speedups
from compiler.kfp_backend.compile import to_yaml
from tests.conftest import CONFIGS


@dsl.container_component
def echo(text: str) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(image="alpine:3", command=["echo", text])


def _pipeline(description: str) -> GraphComponent:
    @dsl.pipeline(name="p", description=description)
    def p(text: str = "hi") -> None:
        echo(text=text)

    return p


def _stock(graph: GraphComponent) -> str:
    with speedups.stock_kfp():
        assert not pipeline_text.enabled()
        return to_yaml(graph)


def test_example_pipelines_compile_in_memory_to_the_stock_bytes(monkeypatch):
    assert pipeline_text.applicable() and pipeline_text.enabled()
    ir = load_platform(CONFIGS, ["env=prod"]).ir
    assert ir is not None
    graphs = [build_pipeline(ir, p) for p in sorted(ir.pipelines(), key=lambda p: p.name)]
    stock = [_stock(graph) for graph in graphs]

    def no_temporary_folder(*args: object, **kwargs: object) -> None:
        raise AssertionError("the in-memory path made a temporary folder")

    monkeypatch.setattr(tempfile, "TemporaryDirectory", no_temporary_folder)
    assert [pipeline_text.compiled_text(graph) for graph in graphs] == stock
    assert [to_yaml(graph) for graph in graphs] == stock


@pytest.mark.parametrize("description", ["Zürich → Genève", "one\rtwo\r\nthree", "plain"])
def test_descriptions_compile_to_the_stock_bytes(description):
    graph = _pipeline(description)
    assert to_yaml(graph) == _stock(graph)


def test_non_ascii_text_takes_the_file_path():
    """A file's encoding could change non-ASCII text: kfp writes it, as it always did."""
    assert pipeline_text.compiled_text(_pipeline("Zürich")) is None
    assert pipeline_text.compiled_text(_pipeline("Zurich")) is not None


def test_importers_that_download_to_the_workspace_take_kfps_own_checks():
    config = dsl.PipelineConfig(workspace=dsl.WorkspaceConfig(size="1Gi"))

    def body() -> None:
        dsl.importer(
            artifact_uri="s3://b/k", artifact_class=dsl.Dataset, download_to_workspace=True
        )

    with_workspace = dsl.pipeline(name="w", pipeline_config=config)(body)
    assert pipeline_text.compiled_text(with_workspace) is None
    assert to_yaml(with_workspace) == _stock(with_workspace)
    without = dsl.pipeline(name="w")(body)
    with pytest.raises(ValueError, match="requires PipelineConfig"):
        to_yaml(without)
