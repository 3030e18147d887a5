"""The example organisation is valid in every environment and differs where it should."""

from __future__ import annotations

import pytest

from compiler.ir import GPU_TAINT_KEY, NODE_POOL_LABEL


@pytest.mark.parametrize("env", ["local", "dev", "prod"])
def test_example_organisation_is_valid(example_ir, env):
    result = example_ir(env)
    assert result.ir is not None
    assert result.ir.environment == env
    assert {"fraud", "recsys", "search"} <= set(result.ir.teams)
    assert not [d for d in result.diagnostics if d.is_error]


def test_environments_differ_where_the_overlays_say(example_ir):
    local, prod = example_ir("local").ir, example_ir("prod").ir
    assert local.target == "local" and prod.target == "aws"
    assert local.teams["fraud"].endpoints["fraud-scorer"].min_replicas == 1
    assert prod.teams["fraud"].endpoints["fraud-scorer"].min_replicas == 2
    assert prod.teams["fraud"].models["fraud-classifier"].stage == "production"
    assert prod.teams["recsys"].endpoints["ranker"].canary is not None
    assert local.node_pools["cpu-general"].max_size == 4
    assert prod.node_pools["cpu-general"].max_size == 20
    assert prod.platform.pulumi.backend_url == "s3://acme-pulumi-state/prod"


def test_gpu_pools_get_taint_and_placement_labels(example_ir):
    pool = example_ir("prod").ir.node_pools["gpu-a10g"]
    assert pool.gpus_per_node == 1 and pool.gpu_model == "nvidia-a10g"
    assert any(t.key == GPU_TAINT_KEY and t.effect == "NoSchedule" for t in pool.taints)
    assert pool.labels[NODE_POOL_LABEL] == "gpu-a10g"
    cpu = example_ir("prod").ir.node_pools["cpu-general"]
    assert not cpu.taints and cpu.gpus_per_node == 0


def test_team_folder_files_are_merged(example_ir):
    recsys = example_ir("local").ir.teams["recsys"]
    assert recsys.source_files == (
        "teams/recsys/pipelines.yaml",
        "teams/recsys/serving.yaml",
        "teams/recsys/team.yaml",
    )
    assert "train-ranker" in recsys.pipelines and "ranker" in recsys.endpoints
