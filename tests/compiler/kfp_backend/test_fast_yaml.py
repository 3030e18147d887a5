"""fast_yaml writes exactly PyYAML's bytes, and really takes its own path for kfp's output."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st
from kfp.compiler import pipeline_spec_builder

from compiler.frontend import load_platform
from compiler.kfp_backend import compile_pipeline, fast_yaml
from tests.conftest import CONFIGS

SOURCE = '\nimport kfp\n\ndef train(data: Input[Dataset]) -> float:\n    """Fit."""\n' + (
    "    x = 1  # a long line that has to be folded somewhere past the eightieth column\n" * 3
)
LONG = "word " * 40
_EMPTY: list[Any] = []
EDGE_CASES: dict[str, Any] = {
    "top-level mapping value": {"a": SOURCE, "b": LONG},
    "sequence item": {"command": ["sh", "-c", SOURCE, LONG]},
    "deep mapping": {"a": {"b": {"c": {"d": {"e": SOURCE, "f": LONG}}}}},
    "mapping in a sequence (first and later keys)": {"env": [{"name": SOURCE, "value": LONG}]},
    "nested sequences": {"x": [[SOURCE, [LONG, [{"k": LONG}]]]]},
    "top-level sequence": [SOURCE, {"k": SOURCE}, [LONG]],
    "top-level scalar": SOURCE,
    "non-ASCII": {"description": "Zürich → Genève, prix en € " * 6},
    "tabs and control characters": {"a": "col\tcol\x07bell" * 12},
    "trailing and leading spaces": {"a": " lead", "b": "trail ", "c": "\n starts with a break "},
    "quotes and backslashes": {"a": 'say "hi" \\ and \\n literally ' * 5 + "\n  x", "b": "it's"},
    "no fold points": {"a": "\n  " + "x" * 200, "b": "y" * 200},
    "line breaks without indentation": {"a": "one\ntwo\nthree\n", "b": ["one\ntwo"]},
    "empty and short": {"a": "", "b": "\n", "c": " ", "d": "\n "},
    "numbers, booleans, null": {"a": 1, "b": 1.5, "c": True, "d": None, "e": "1.5", "f": "yes"},
    "floats": {"a": float("inf"), "b": float("-inf"), "c": float("nan"), "d": 1e20, "e": -0.0},
    "strings that read as other types": {"a": "null", "b": "~", "c": "0x1f", "d": "2001-12-14"},
    "empty collections": {"a": {}, "b": [], "c": [{}], "d": [[]]},
    "empty documents": {},
    "keys that need quotes": {"null": 1, "1": 2, "a: b": 3, "é": 4, "- x": 5, "'q'": 6},
    "long keys (simple up to 122 characters)": {"k" * 122: LONG, "j" * 123: 1, "l" * 150: SOURCE},
    "key that needs double quotes (falls back)": {"a\n b": 1, "c": SOURCE},
    "a shared container (falls back)": {"a": (_shared := {"x": SOURCE}), "b": _shared},
    "a shared empty container (falls back)": {"a": _EMPTY, "b": [_EMPTY]},
    "text that once was a token": {"a": "mlplatdq0z", "b": SOURCE},
}


@pytest.mark.parametrize("documents", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_edge_cases_match_pyyaml(documents):
    for docs in ([documents], [documents, {"second": documents}], [documents, documents]):
        assert fast_yaml.fast_dump_all(docs) == yaml.dump_all(docs, sort_keys=True)
        assert fast_yaml.fast_dump_all(docs, sort_keys=False) == yaml.dump_all(
            docs, sort_keys=False
        )


def test_unsupported_shapes_fall_back_rather_than_guess():
    for name in (
        "key that needs double quotes (falls back)",
        "a shared container (falls back)",
        "a shared empty container (falls back)",
        "top-level scalar",
        "long keys (simple up to 122 characters)",
    ):
        assert fast_yaml.block_dump_all([EDGE_CASES[name]]) is None, name
    assert "&id001" in fast_yaml.fast_dump_all([EDGE_CASES["a shared container (falls back)"]])
    assert fast_yaml.block_dump_all([{"k" * 122: 1}]) is not None
    assert fast_yaml.block_dump_all([EDGE_CASES["deep mapping"]]) is not None


def test_changed_pyyaml_resolvers_or_representers_fall_back(monkeypatch):
    """The cached scalar texts rely on stock PyYAML: a changed Dumper takes PyYAML's path."""
    documents = [{"a": "yes", "b": {"c": [1, 2.5]}}]
    assert fast_yaml.block_dump_all(documents) is not None
    monkeypatch.setattr(yaml.Dumper, "yaml_implicit_resolvers", {})
    assert fast_yaml.block_dump_all(documents) is None
    monkeypatch.undo()
    representers: dict[Any, Any] = {**yaml.Dumper.yaml_representers}
    representers[dict] = yaml.Dumper.represent_list
    monkeypatch.setattr(yaml.Dumper, "yaml_representers", representers)
    assert fast_yaml.block_dump_all(documents) is None
    monkeypatch.undo()
    assert fast_yaml.block_dump_all(documents) is not None


def test_a_long_scalar_folds_by_the_column_it_starts_at():
    """The same text at different depths folds at different points, as PyYAML folds it."""
    nested: Any = LONG
    for depth in range(12):
        nested = {f"level{depth}": nested, "same": LONG}
        assert fast_yaml.block_dump_all([nested]) == yaml.dump_all([nested], sort_keys=True)


_text = st.text(
    alphabet=st.sampled_from(
        [" ", " ", "\n", "\t", "a", "b", "-", ":", "#", '"', "'", "\\", "é", "?", "!", "1", "."]
    ),
    max_size=120,
)
_scalar = (
    _text
    | st.sampled_from(["", "null", "true", "1", "1.5", "~", "yes", "- a", "a: b", "x" * 90])
    | st.integers()
    | st.booleans()
    | st.none()
    | st.floats()
)
_key = st.text(alphabet="abcxyz_ -:'é", min_size=1, max_size=8) | st.sampled_from(["1", "null"])
_tree = st.recursive(
    _scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_key, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(documents=st.lists(st.dictionaries(_key, _tree) | st.lists(_tree), min_size=1, max_size=3))
def test_random_documents_match_pyyaml(documents):
    assert fast_yaml.block_dump_all(documents) == yaml.dump_all(documents, sort_keys=True)


class _Recorder:
    """`yaml` for kfp's compiler that keeps the documents kfp dumps."""

    def __init__(self) -> None:
        self.calls: list[list[Any]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(yaml, name)

    def dump_all(self, documents: Any, stream: Any = None, **options: Any) -> Any:
        documents = list(documents)
        self.calls.append(documents)
        return yaml.dump_all(documents, stream, **options)


def test_kfp_pipelines_take_the_fast_path(monkeypatch):
    """Every document kfp writes for the example goes through fast_yaml's own layout (no
    silent fallback), and the result is PyYAML's text."""
    assert fast_yaml.applicable()
    recorder = _Recorder()
    monkeypatch.setattr(pipeline_spec_builder, "yaml", recorder)
    ir = load_platform(CONFIGS, ["env=prod"]).ir
    assert ir is not None
    for pipeline in ir.pipelines():
        compile_pipeline(ir, pipeline)
    assert len(recorder.calls) >= 4
    for documents in recorder.calls:
        assert fast_yaml.block_dump_all(documents) == yaml.dump_all(documents, sort_keys=True)
