"""fast_yaml writes exactly PyYAML's bytes, and really takes the libyaml path for kfp's output."""

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
EDGE_CASES: dict[str, Any] = {
    "top-level mapping value": {"a": SOURCE, "b": LONG},
    "sequence item": {"command": ["sh", "-c", SOURCE, LONG]},
    "deep mapping": {"a": {"b": {"c": {"d": {"e": SOURCE}}}}},
    "mapping in a sequence (first and later keys)": {"env": [{"name": SOURCE, "value": SOURCE}]},
    "nested sequences": {"x": [[SOURCE, [SOURCE]]]},
    "top-level sequence": [SOURCE, {"k": SOURCE}],
    "top-level scalar": SOURCE,
    "non-ASCII": {"description": "Zürich → Genève, prix en € " * 6},
    "tabs and control characters": {"a": "col\tcol\x07bell" * 12},
    "trailing and leading spaces": {"a": " lead", "b": "trail ", "c": "\n starts with a break "},
    "quotes and backslashes": {"a": 'say "hi" \\ and \\n literally ' * 5 + "\n  x"},
    "no fold points": {"a": "\n  " + "x" * 200},
    "line breaks without indentation": {"a": "one\ntwo\nthree\n"},
    "empty and short": {"a": "", "b": "\n", "c": " ", "d": "\n "},
    "numbers, booleans, null": {"a": 1, "b": 1.5, "c": True, "d": None, "e": "1.5", "f": "yes"},
    "empty collections": {"a": {}, "b": [], "c": [{}]},
    "long keys": {"k" * 150: SOURCE},
    "key that needs double quotes (falls back)": {"a\n b": 1, "c": SOURCE},
    "text that looks like a token (falls back)": {"a": "mlplatdq0z", "b": SOURCE},
    "a shared container (falls back)": {"a": (_shared := {"x": SOURCE}), "b": _shared},
}


@pytest.mark.parametrize("documents", EDGE_CASES.values(), ids=EDGE_CASES.keys())
def test_edge_cases_match_pyyaml(documents):
    for docs in ([documents], [documents, {"second": documents}]):
        assert fast_yaml.fast_dump_all(docs) == yaml.dump_all(docs, sort_keys=True)


def test_unsupported_shapes_fall_back_rather_than_guess():
    assert fast_yaml.c_dump_all([EDGE_CASES["key that needs double quotes (falls back)"]]) is None
    assert fast_yaml.c_dump_all([EDGE_CASES["text that looks like a token (falls back)"]]) is None
    assert fast_yaml.c_dump_all([EDGE_CASES["a shared container (falls back)"]]) is None
    assert "&id001" in fast_yaml.fast_dump_all([EDGE_CASES["a shared container (falls back)"]])
    assert fast_yaml.c_dump_all([EDGE_CASES["deep mapping"]]) is not None


_text = st.text(
    alphabet=st.sampled_from([" ", " ", "\n", "\t", "a", "b", "-", ":", "#", '"', "'", "\\", "é"]),
    max_size=120,
)
_tree = st.recursive(
    _text | st.integers() | st.booleans() | st.none(),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(alphabet="abcxyz_", min_size=1, max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(documents=st.lists(_tree, min_size=1, max_size=3))
def test_random_documents_match_pyyaml(documents):
    assert fast_yaml.fast_dump_all(documents) == yaml.dump_all(documents, sort_keys=True)


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


def test_kfp_pipelines_take_the_libyaml_path(monkeypatch):
    """Every document kfp writes for the example goes through libyaml (no silent fallback),
    and the result is PyYAML's text."""
    assert fast_yaml.applicable()
    recorder = _Recorder()
    monkeypatch.setattr(pipeline_spec_builder, "yaml", recorder)
    ir = load_platform(CONFIGS, ["env=prod"]).ir
    assert ir is not None
    for pipeline in ir.pipelines():
        compile_pipeline(ir, pipeline)
    assert len(recorder.calls) >= 4
    swapped = 0
    for documents in recorder.calls:
        assert fast_yaml.c_dump_all(documents) == yaml.dump_all(documents, sort_keys=True)
        strings: list[str] = []
        fast_yaml._represent(documents, strings, set(), True)
        swapped += len(strings)
    assert swapped > 0  # the embedded python sources were re-rendered by PyYAML
