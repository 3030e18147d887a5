"""Compiled pipelines from the cache are the bytes a fresh compile gives, and every input a
pipeline depends on (its spec, its node pools, its team code, the backend) invalidates it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from compiler.cache import BuildCache
from compiler.frontend import load_platform
from compiler.kfp_backend import compile_all
from compiler.kfp_backend.compile import pipeline_key
from compiler.team_packages import code_root_at
from tests.conftest import REPO


def compiled(configs: Path, cache: BuildCache | None) -> dict[str, str]:
    result = load_platform(configs)
    files, diags = compile_all(result.ir, result.sources.locate, cache=cache)
    assert not diags
    return files


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def test_cached_files_equal_fresh_ones(configs, tmp_path):
    cache = BuildCache(tmp_path / "cache")
    first = compiled(configs, cache)
    assert cache.hits == 0 and cache.misses == len([p for p in first if p.endswith(".yaml")])
    again = compiled(configs, cache)
    assert cache.hits == cache.misses
    assert again == first == compiled(configs, None)


@pytest.mark.parametrize(
    "change",
    [
        ("teams/fraud.yaml", "        timeout: 1h", "        timeout: 2h"),
        (
            "platform.yaml",
            "    instance_types: [m6i.2xlarge, m7i.2xlarge]",
            "    instance_types: [m6i.2xlarge, m7i.2xlarge]\n    taints: [{key: tier, value: batch}]",
        ),
        (
            "platform.yaml",
            "    python_image: ghcr.io/acme/python:3.11-slim@sha256:",
            "    python_image: ghcr.io/acme/python:3.12-slim@sha256:",
        ),
    ],
    ids=["step-spec", "node-pool-taint", "platform-default-image"],
)
def test_changes_to_what_a_pipeline_reads_invalidate_it(configs, tmp_path, change):
    cache = BuildCache(tmp_path / "cache")
    before = compiled(configs, cache)
    edit(configs / change[0], change[1], change[2])
    after = compiled(configs, cache)
    key = "pipelines/fraud/train-fraud-model.yaml"
    assert after[key] != before[key]
    assert after == compiled(configs, None)


def test_team_code_changes_invalidate_the_pipelines_that_ship_it(tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(REPO / "components", repo / "components")
    shutil.copytree(REPO / "configs", repo / "configs")
    cache = BuildCache(tmp_path / "cache")
    with code_root_at(repo):
        ir = load_platform(repo / "configs").ir
        fraud = ir.teams["fraud"].pipelines["train-fraud-model"]
        search = ir.teams["search"].pipelines["train-search-ranker"]
        keys = (pipeline_key(ir, fraud), pipeline_key(ir, search))
        before = compiled(repo / "configs", cache)
        train = repo / "components" / "fraud" / "train.py"
        edit(train, "max_iter=150", "max_iter=151")  # read from this copy, not the checkout
        assert pipeline_key(ir, fraud) != keys[0]
        assert pipeline_key(ir, search) == keys[1]
        after = compiled(repo / "configs", cache)
    path = "pipelines/fraud/train-fraud-model.yaml"
    assert "max_iter=150" in before[path] and "max_iter=151" in after[path]
    assert {k: v for k, v in after.items() if k != path} == {
        k: v for k, v in before.items() if k != path
    }
