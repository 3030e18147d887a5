"""The Pulumi SDK speed-ups of the mocked run change nothing: plans are byte-identical to the
stock SDK's, each replaced function agrees with the stock one, and the SDK is restored."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import struct_pb2
from hypothesis import given, settings
from hypothesis import strategies as st
from pulumi import _types as pulumi_types
from pulumi.output import UNKNOWN, Output, Unknown
from pulumi.runtime import rpc

from benchmarks.generate_org import generate
from compiler.frontend import load_platform
from compiler.ir import PlatformIR
from compiler.plan import pulumi_speedups
from compiler.plan.mocks import run_program
from tests.platform_iac.planning import VARIANT, ir_for

REPO = Path(__file__).resolve().parents[2]
SECRET = {rpc._special_sig_key: rpc._special_secret_sig}


def _sdk_functions() -> dict[str, Any]:
    from pulumi import resource as pulumi_resource
    from pulumi.runtime import resource as runtime_resource

    return {
        "contains_unknowns": rpc.contains_unknowns,
        "serialize_property": rpc.serialize_property,
        "transfer_properties": rpc.transfer_properties,
        "deserialize_properties": rpc.deserialize_properties,
        "deserialize_property": rpc.deserialize_property,
        "unwrap_type": pulumi_types.unwrap_type,
        "unwrap_optional_type": pulumi_types.unwrap_optional_type,
        "create_urn": runtime_resource.create_urn,
        "collapse_alias_to_urn": pulumi_resource.collapse_alias_to_urn,
        "get_stack_trace": runtime_resource._get_stack_trace,
    }


STOCK = _sdk_functions()


def _plan_json(ir: PlatformIR, speedups: bool) -> str:
    plan = run_program(ir, speedups=speedups)
    return json.dumps([r.to_json() for r in plan.resources], sort_keys=True)


def test_the_speedups_apply_to_the_pinned_pulumi() -> None:
    assert pulumi_speedups.applicable()
    pins = (REPO / "requirements.lock").read_text()
    assert re.search(rf"^pulumi=={re.escape(pulumi_speedups.PATCHED_PULUMI_VERSION)}$", pins, re.M)


@pytest.fixture(scope="module")
def generated_ir(tmp_path_factory: pytest.TempPathFactory) -> PlatformIR:
    configs = generate(tmp_path_factory.mktemp("org") / "configs", teams=12, seed=7)
    result = load_platform(configs)
    assert result.ir is not None
    return result.ir


@pytest.mark.parametrize("source", ["prod", "variant", "generated"])
def test_plan_is_byte_identical_with_and_without_speedups(
    source: str, generated_ir: PlatformIR
) -> None:
    ir = {
        "prod": lambda: ir_for("prod"),
        "variant": lambda: ir_for("dev", VARIANT),
        "generated": lambda: generated_ir,
    }[source]()
    fast = _plan_json(ir, speedups=True)
    assert _sdk_functions() == STOCK
    stock = _plan_json(ir, speedups=False)
    assert len(json.loads(fast)) > 100
    assert fast == stock


def test_the_speedups_are_active_during_the_run_only() -> None:
    seen: dict[str, Any] = {}

    def program(_ir: PlatformIR) -> None:
        seen.update(_sdk_functions())

    run_program(ir_for("prod"), program=program)
    changed = {name for name in STOCK if seen[name] is not STOCK[name]}
    assert changed == set(STOCK)  # every function replaced while the program ran
    assert _sdk_functions() == STOCK

    def failing(_ir: PlatformIR) -> None:
        raise RuntimeError("the program broke")

    with pytest.raises(RuntimeError, match="the program broke"):
        run_program(ir_for("prod"), program=failing)
    assert _sdk_functions() == STOCK


def test_the_stock_sdk_runs_without_speedups_and_for_another_version(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[bool] = []

    def program(_ir: PlatformIR) -> None:
        seen.append(rpc.serialize_property is STOCK["serialize_property"])

    run_program(ir_for("prod"), program=program, speedups=False)
    monkeypatch.setattr(pulumi_speedups, "applicable", lambda: False)
    run_program(ir_for("prod"), program=program)
    assert seen == [True, True]


# Values as the engine sends them: JSON data, unknowns, secrets, internal keys, nesting.
leaves = st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(max_size=5)
leaves |= st.just(rpc.UNKNOWN)
keys = st.sampled_from(["a", "b", "__internal", "__provider", "metadata"]) | st.text(max_size=4)
values = st.recursive(
    leaves,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(keys, inner, max_size=4)
        | st.builds(lambda v: {**SECRET, "value": v}, inner)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(props=st.dictionaries(keys, values, max_size=6), keep_unknowns=st.sampled_from([None, True]))
def test_deserialisation_agrees_with_the_stock_sdk(
    props: dict[str, Any], keep_unknowns: bool | None
) -> None:
    struct = struct_pb2.Struct()
    struct.update(props)
    fast_properties, fast_property = pulumi_speedups._fast_deserialize(
        STOCK["deserialize_properties"], STOCK["deserialize_property"]
    )

    def plain(value: Any) -> Any:  # a fresh Unknown() never equals another one
        return json.dumps(value, default=lambda o: f"<{type(o).__name__}>")

    for keep_internal in (True, False):
        stock = STOCK["deserialize_properties"](struct, keep_unknowns, keep_internal)
        assert plain(fast_properties(struct, keep_unknowns, keep_internal)) == plain(stock)
    for key in struct:
        value = struct[key]
        stock = STOCK["deserialize_property"](value, keep_unknowns)
        assert plain(fast_property(value, keep_unknowns)) == plain(stock)


def _with_unknowns(value: Any) -> Any:
    """Replace the unknown sentinel with Unknown objects, sharing some containers."""
    if value == rpc.UNKNOWN:
        return UNKNOWN
    if isinstance(value, list):
        items = [_with_unknowns(v) for v in value]
        return items + items[:1]  # the same object twice
    if isinstance(value, dict):
        return {k: _with_unknowns(v) for k, v in value.items()}
    return value


@settings(max_examples=300, deadline=None)
@given(value=values)
def test_contains_unknowns_agrees_with_the_stock_sdk(value: Any) -> None:
    value = _with_unknowns(value)
    assert pulumi_speedups._contains_unknowns(value) == STOCK["contains_unknowns"](value)
    looping: dict[str, Any] = {"value": value}
    looping["self"] = looping
    assert pulumi_speedups._contains_unknowns(looping) == STOCK["contains_unknowns"](looping)
    assert pulumi_speedups._contains_unknowns(
        [Unknown()]
    ) and not pulumi_speedups._contains_unknowns([[], {}])


def test_urns_and_aliases_resolve_to_the_stock_values() -> None:
    """Run inside a mocked program: both versions of each Output resolve to one value."""
    import pulumi
    from pulumi import resource as pulumi_resource
    from pulumi.runtime import resource as runtime_resource

    pairs: list[tuple[Output[Any], Output[Any]]] = []
    resolved: list[tuple[Any, Any]] = []

    def program(_ir: PlatformIR) -> None:
        parent = pulumi.ComponentResource("mlplat:test:Parent", "parent")
        urn_args = ("child", "mlplat:test:Child", "urn:pulumi:s::p::mlplat:test:Parent::parent")
        pairs.append((runtime_resource.create_urn(*urn_args), STOCK["create_urn"](*urn_args)))
        for alias, default_parent in (
            (pulumi.Alias(type_="kubernetes:old/v1:Thing"), parent),
            (pulumi.Alias(name="old-name", project="other", stack="dev"), None),
            (pulumi.Alias(parent=None), parent),
            ("urn:pulumi:s::p::t::literal", parent),
        ):
            args = (alias, "child", "mlplat:test:Child", default_parent)
            fast = pulumi_resource.collapse_alias_to_urn(*args)
            pairs.append((fast, STOCK["collapse_alias_to_urn"](*args)))
        for fast, stock in pairs:
            pulumi.Output.all(fast, stock).apply(lambda v: resolved.append((v[0], v[1])))

    run_program(ir_for("prod"), program=program)
    assert len(resolved) == 5
    assert all(fast == stock and fast.startswith("urn:pulumi:") for fast, stock in resolved)


def test_monitor_calls_run_inline_without_a_thread_pool(monkeypatch):
    """The fast path sends no call through an executor thread; the stock path does (so
    this check can fail)."""
    import concurrent.futures

    submitted: list[object] = []
    original = concurrent.futures.ThreadPoolExecutor.submit

    def counting(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
        submitted.append(fn)
        return original(self, fn, *args, **kwargs)

    monkeypatch.setattr(concurrent.futures.ThreadPoolExecutor, "submit", counting)
    ir = ir_for("prod")
    fast = run_program(ir)
    assert submitted == []
    stock = run_program(ir, speedups=False)
    assert len(submitted) >= len(stock.resources)
    assert fast.to_json() == stock.to_json()


def test_collect_false_leaves_the_collector_paused_for_a_worker_that_exits():
    import gc

    ir = ir_for("local")
    assert gc.isenabled()
    try:
        run_program(ir, collect=False)
        assert not gc.isenabled()
    finally:
        gc.enable()
    run_program(ir)
    assert gc.isenabled()
