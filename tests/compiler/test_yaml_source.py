"""The libyaml loader keeps positions, rejects duplicates and bounds what a file can cost."""

from __future__ import annotations

import pytest

from compiler.diagnostics import Span
from compiler.yaml_source import MAX_DEPTH, NeedsPositions, fast_load, parse_yaml, read_yaml

DOC = """\
# comment
team:
  name: fraud
  quotas: {gpus: 2, cpu: "8"}
  owners:
    - a@acme.example
    - b@acme.example
"""


def test_positions_of_keys_and_values():
    loaded = parse_yaml(DOC, "f.yaml")
    assert not loaded.diagnostics
    assert loaded.data["team"]["quotas"] == {"gpus": 2, "cpu": "8"}
    src = loaded.sources
    assert src.keys[("team", "name")] == Span("f.yaml", 3, 3)
    assert src.values[("team", "name")] == Span("f.yaml", 3, 9)
    assert src.values[("team", "quotas", "cpu")] == Span("f.yaml", 4, 26)
    assert src.values[("team", "owners", 1)] == Span("f.yaml", 7, 7)
    assert src.locate(("team", "owners", 1, "deeper")) == Span("f.yaml", 7, 7)


def test_duplicate_keys_are_reported_at_the_second_occurrence():
    loaded = parse_yaml("a: 1\nb: 2\na: 3\n", "d.yaml")
    (diag,) = loaded.diagnostics
    assert (diag.code, diag.span, diag.message) == (
        "E002",
        Span("d.yaml", 3, 1),
        "duplicate key 'a'",
    )
    assert diag.hint == "'a' is already set at line 1; keep one of them"
    assert loaded.data == {"a": 1, "b": 2}


def test_merge_keys_and_anchors_work():
    loaded = parse_yaml("base: &b {cpu: '1', memory: 1Gi}\nstep:\n  <<: *b\n  cpu: '2'\n", "m.yaml")
    assert not loaded.diagnostics
    assert loaded.data["step"] == {"cpu": "2", "memory": "1Gi"}


def test_timestamps_stay_strings_like_omegaconf_reads_them():
    assert parse_yaml("expires: 2026-12-31\n", "t.yaml").data == {"expires": "2026-12-31"}


def test_empty_file_is_an_empty_mapping():
    loaded = parse_yaml("# nothing here\n", "e.yaml")
    assert loaded.data == {} and not loaded.diagnostics


def test_unsupported_tags_are_rejected():
    (diag,) = parse_yaml("a: !!python/object:os.system ls\n", "x.yaml").diagnostics
    assert diag.code == "E003" and diag.span == Span("x.yaml", 1, 4)
    assert "unsupported YAML tag" in diag.message


def test_depth_is_bounded():
    text = "a: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n"
    (diag,) = parse_yaml(text, "deep.yaml").diagnostics
    assert diag.code == "E003" and "nesting deeper than" in diag.message


def test_recursive_alias_is_bounded():
    (diag,) = parse_yaml("a: &a [*a]\n", "r.yaml").diagnostics
    assert diag.code == "E003"


def test_syntax_error_notes_where_the_construct_began():
    (diag,) = parse_yaml("a: [1, 2\nb: 3\n", "s.yaml").diagnostics
    assert diag.code == "E001" and diag.span.line == 2
    assert diag.notes == ("parsing a flow sequence started at line 1, column 4",)


def test_files_that_are_not_text(tmp_path):
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"a: 1\n\xff\xfe\n")
    (diag,) = read_yaml(str(binary), "bin.yaml").diagnostics
    assert (diag.code, diag.span.line) == ("E001", 2)
    nul = tmp_path / "nul.yaml"
    nul.write_bytes(b"a: 1\nb: \x00\n")
    (diag,) = read_yaml(str(nul), "nul.yaml").diagnostics
    assert (diag.code, diag.span.line, diag.message) == ("E001", 2, "file contains a NUL byte")


def test_huge_files_are_refused_before_parsing(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_bytes(b"# " + b"x" * (3 * 1024 * 1024) + b"\n")
    (diag,) = read_yaml(str(big), "big.yaml").diagnostics
    assert diag.code == "E003" and "larger than" in diag.message


def test_missing_file(tmp_path):
    (diag,) = read_yaml(str(tmp_path / "nope.yaml"), "nope.yaml").diagnostics
    assert diag.code == "E004" and diag.span == Span("nope.yaml")


def test_object_counts_are_bounded(configs, monkeypatch):
    from compiler import compose
    from compiler.frontend import load_platform

    fraud = configs / "teams" / "fraud.yaml"
    steps = "".join(
        f"      s{i}:\n        container: {{image: ghcr.io/acme/x@sha256:{'a' * 64}}}\n"
        for i in range(201)
    )
    fraud.write_text(
        fraud.read_text().replace(
            "\npipelines:\n", "\npipelines:\n  bulk:\n    steps:\n" + steps, 1
        )
    )
    result = load_platform(configs)
    (diag,) = [d for d in result.diagnostics if d.is_error]
    assert diag.code == "E003" and diag.message.startswith("'steps' has too many entries")

    monkeypatch.setattr(compose, "MAX_TEAMS", 2)
    result = load_platform(configs)
    assert [d.code for d in result.diagnostics] == ["E003"]
    assert result.diagnostics[0].message.startswith("more than 2 teams")


TRICKY = [
    "a: 1\nb: [1, {c: d}]\n",
    "when: 2026-01-01\nflag: yes\nnothing: ~\nnum: 0x1f\nf: .5\n",
    "null: 1\n1: one\n2.5: two\n",
    "a: &x [1, 2]\nb: *x\n",
    "",
]


@pytest.mark.parametrize("text", TRICKY)
def test_fast_and_positional_loaders_agree(text, tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text(text)
    assert fast_load(str(path)) == parse_yaml(text, "f.yaml").data


def test_fast_loader_agrees_on_every_example_file():
    from tests.conftest import CONFIGS

    for path in CONFIGS.rglob("*.yaml"):
        assert fast_load(str(path)) == parse_yaml(path.read_text(), str(path)).data, path


@pytest.mark.parametrize(
    "text",
    [
        "a: 1\na: 2\n",
        "a: !!set {x}\n",
        "a: [1\n",
        "a: &a [*a]\n",
        "? [1]\n: 2\n",
        "a: !custom 1\n",
    ],
)
def test_fast_loader_defers_what_needs_a_location(text, tmp_path):
    path = tmp_path / "f.yaml"
    path.write_text(text)
    with pytest.raises(NeedsPositions):
        fast_load(str(path))
    assert parse_yaml(text, "f.yaml").diagnostics  # and the positional loader explains it


def test_merge_keys_take_the_positional_path(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("<<: {a: 1}\nb: 2\n")
    with pytest.raises(NeedsPositions):
        fast_load(str(path))
    loaded = parse_yaml(path.read_text(), "m.yaml")
    assert loaded.data == {"a": 1, "b": 2} and not loaded.diagnostics
