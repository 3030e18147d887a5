"""Python components are made once per function and settings, and sharing them is safe."""

from __future__ import annotations

import copy
import importlib
import os
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from kfp import dsl

from compiler.frontend import load_platform
from compiler.kfp_backend import build_pipeline, compile_pipeline
from compiler.kfp_backend.python_steps import kfp_component, share_components
from compiler.kfp_backend.team_code import load_function
from tests.conftest import CONFIGS

IMAGE = "python:3.11-slim"


@pytest.fixture
def train():
    return load_function("components.fraud.train:train_model")


def test_a_function_and_its_settings_make_one_component(train):
    first = kfp_component(train, IMAGE, ("pandas==3.1.1",))
    assert kfp_component(train, IMAGE, ("pandas==3.1.1",)) is first
    assert kfp_component(train, IMAGE, ("pandas==3.1.0",)) is not first
    assert kfp_component(train, "python:3.12-slim", ("pandas==3.1.1",)) is not first
    fresh = dsl.component(train, base_image=IMAGE, packages_to_install=["pandas==3.1.1"])
    assert first.component_spec == fresh.component_spec


def test_sharing_off_makes_every_component_afresh(train):
    previous = share_components(False)
    try:
        assert kfp_component(train, IMAGE, ()) is not kfp_component(train, IMAGE, ())
    finally:
        share_components(previous)
    assert kfp_component(train, IMAGE, ()) is kfp_component(train, IMAGE, ())


@pytest.fixture
def probe_module(tmp_path, monkeypatch) -> Iterator[Any]:
    path = tmp_path / "mlplat_source_probe.py"
    path.write_text("def step(x: int) -> int:\n    return x + 1\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    module = importlib.import_module("mlplat_source_probe")
    yield module
    monkeypatch.delitem(sys.modules, "mlplat_source_probe")


def test_an_edited_source_file_is_read_again_as_kfp_reads_it(probe_module):
    func = probe_module.step
    before = kfp_component(func, IMAGE, ())
    assert "return x + 1" in before.component_spec.implementation.container.command[-1]
    path = func.__code__.co_filename
    with open(path, "w", encoding="utf-8") as file:
        file.write("def step(x: int) -> int:\n    return x + 2  # edited\n")
    stat = os.stat(path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    after = kfp_component(func, IMAGE, ())
    assert after is not before
    assert "return x + 2  # edited" in after.component_spec.implementation.container.command[-1]
    assert after.component_spec == dsl.component(func, base_image=IMAGE).component_spec


def test_building_pipelines_leaves_shared_components_unchanged():
    ir = load_platform(CONFIGS, ["env=prod"]).ir
    assert ir is not None
    pipelines = sorted(ir.pipelines(), key=lambda p: (p.team, p.name))
    python = [s.python for p in pipelines for s in p.steps.values() if s.python is not None]
    assert python
    components = [
        kfp_component(load_function(py.function), py.base_image, tuple(py.packages))
        for py in python
    ]
    before = [copy.deepcopy(c.component_spec) for c in components]
    first = [compile_pipeline(ir, p) for p in pipelines]
    for pipeline in pipelines:
        build_pipeline(ir, pipeline)
    assert [c.component_spec for c in components] == before
    assert [compile_pipeline(ir, p) for p in pipelines] == first
