"""Canonical JSON: the standard library's layout, at orjson's speed."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from compiler.canonical import canonical_json

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
