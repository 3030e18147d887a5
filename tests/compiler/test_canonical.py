"""Canonical JSON: the standard library's layout, at orjson's speed."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compiler.canonical import canonical_json, canonical_json_with

keys = st.text(max_size=8)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=20),
    st.floats(allow_nan=False, allow_infinity=False).filter(lambda f: f == 0 or 1e-4 <= abs(f) < 1e16),
)  # fmt: skip
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=20,
)


@given(documents)
def test_same_bytes_as_the_standard_library(document):
    assert (
        canonical_json(document)
        == json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    )


def test_data_orjson_refuses_falls_back_to_the_same_layout():
    big = {"b": 2**70, "a": [1, {"z": True}]}
    assert canonical_json(big) == json.dumps(big, indent=2, sort_keys=True) + "\n"
    assert json.loads(canonical_json({1: "x"})) == {"1": "x"}


def test_small_floats_round_trip_exactly():
    value = {"lr": 1e-05, "eps": 1e-12}
    assert json.loads(canonical_json(value)) == value


@pytest.mark.parametrize(
    "members",
    [
        [],
        {},
        [{"b": [1, {"é": "ü"}], "a": {}}, {"q": None, "n": 1.5}, [], "text"],
        {"zeta": {"x": [1, 2]}, "alpha": [], "mid": {"k": {"deep": [{"e": {}}]}}},
    ],
    ids=["empty-list", "empty-mapping", "list", "mapping"],
)
def test_remembered_members_assemble_into_the_same_bytes(members):
    from compiler.cache import BuildCache

    data = {"a": 1, "z": {"y": [True, None]}, "m": "middle"}
    memo = BuildCache(None)
    memo.keep_in_memory()
    expected = canonical_json({**data, "k": members})
    assert canonical_json_with(data, "k", members, lambda v: v) == expected
    for _ in range(2):  # rendered, then assembled from remembered texts
        assert canonical_json_with(data, "k", members, lambda v: v, memo) == expected


def test_the_example_plan_and_ir_assemble_into_the_same_bytes(example_ir):
    from compiler.cache import BuildCache
    from compiler.plan.mocks import run_program

    ir = example_ir("prod").ir
    memo = BuildCache(None)
    memo.keep_in_memory()
    plan = run_program(ir)
    assert ir.canonical_json(memo) == ir.canonical_json()
    assert plan.to_json(memo) == plan.to_json()
