"""Fuzzing: mutate the example configs and check that mlplat never crashes or loses a build.

Every case must end in either a complete new build or mlplat's own diagnostics, each with a
location, and `build/` must then hold either the new complete output or the previous one.
CI runs a bounded, derandomised number of cases (MLPLAT_FUZZ_EXAMPLES, default 60);
`make fuzz` runs many more with fresh randomness.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.cli import main
from tests.conftest import CONFIGS

EXAMPLES = int(os.environ.get("MLPLAT_FUZZ_EXAMPLES", "60"))
LONG_RUN = "MLPLAT_FUZZ_EXAMPLES" in os.environ
FILES = sorted(p.relative_to(CONFIGS).as_posix() for p in CONFIGS.rglob("*.yaml"))
SENTINEL = "previous complete build\n"
COUNTER = {"cases": 0, "valid": 0, "invalid": 0}

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40), st.floats(allow_nan=True),
    st.text(max_size=30), st.sampled_from(["", "${platform.region}", "${oc.env:HOME}", "16Gi", "-1", "0 3 * *"]),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=8,
)


def _paths(tree: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(tree, dict):
        for key, value in tree.items():
            out.extend(_paths(value, (*path, key)))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            out.extend(_paths(value, (*path, index)))
    return out


def _mutate_tree(tree: Any, data: st.DataObject) -> Any:
    paths = [p for p in _paths(tree) if p]
    if not paths:
        return data.draw(values)
    path = data.draw(st.sampled_from(paths))
    parent = tree
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    action = data.draw(st.sampled_from(["delete", "retype", "rename", "nest", "unknown-key"]))
    if action == "delete":
        del parent[last]
    elif action == "retype":
        parent[last] = data.draw(values)
    elif action == "rename" and isinstance(parent, dict):
        parent[data.draw(st.text(min_size=1, max_size=12))] = parent.pop(last)
    elif action == "nest":
        for _ in range(data.draw(st.integers(1, 60))):
            parent[last] = [parent[last]]
    elif isinstance(parent, dict):
        parent[data.draw(st.text(max_size=10))] = data.draw(values)
    return tree


def _mutate_text(text: str, data: st.DataObject) -> str | bytes:
    action = data.draw(
        st.sampled_from(
            ["truncate", "duplicate-line", "random-bytes", "huge", "alias-bomb", "tabs"]
        )
    )
    lines = text.splitlines(keepends=True)
    if action == "truncate":
        return text[: data.draw(st.integers(0, len(text)))]
    if action == "duplicate-line" and lines:
        index = data.draw(st.integers(0, len(lines) - 1))
        return "".join([*lines[: index + 1], lines[index], *lines[index + 1 :]])
    if action == "random-bytes":
        return data.draw(st.binary(max_size=200))
    if action == "huge":
        return text + "padding: '" + "x" * (3 * 1024 * 1024) + "'\n"
    if action == "alias-bomb":
        bomb = "a: &a [" + ", ".join(["x"] * 20) + "]\n"
        for level in "bcdefg":
            previous = chr(ord(level) - 1)
            bomb += f"{level}: &{level} [" + ", ".join([f"*{previous}"] * 20) + "]\n"
        return bomb
    return text.replace("  ", "\t", 1)


def _run(argv: list[str]) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=not LONG_RUN,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@given(data=st.data())
def test_mutated_configs_end_in_a_build_or_located_diagnostics(data):
    workdir = Path(tempfile.mkdtemp(prefix="mlplat-fuzz-"))
    try:
        configs = workdir / "configs"
        shutil.copytree(CONFIGS, configs)
        for _ in range(data.draw(st.integers(1, 3))):
            target = configs / data.draw(st.sampled_from(FILES))
            if not target.exists():
                continue
            try:
                tree = yaml.safe_load(target.read_bytes()) or {}
            except (yaml.YAMLError, ValueError):
                tree = None  # an earlier mutation already broke this file
            if tree is not None and data.draw(st.booleans()):
                mutated = _mutate_tree(tree, data)
                header = "# @package _global_\n" if target.parent.name == "env" else ""
                target.write_text(
                    header + yaml.safe_dump(mutated, sort_keys=False, allow_unicode=True)
                )
            else:
                mutated_text = _mutate_text(target.read_bytes().decode("utf-8", "replace"), data)
                if isinstance(mutated_text, bytes):
                    target.write_bytes(mutated_text)
                else:
                    target.write_text(mutated_text)
        build = workdir / "build"
        (build / "local").mkdir(parents=True)
        (build / "local" / "ir.json").write_text(SENTINEL)

        code, out = _run(
            ["compile", "--configs", str(configs), "--build-dir", str(build), "--format", "json"]
        )

        assert code in (0, 1), f"exit code {code}"
        COUNTER["cases"] += 1
        produced = (build / "local" / "ir.json").read_text()
        if code == 0:
            COUNTER["valid"] += 1
            assert json.loads(produced)["environment"] == "local"
        else:
            COUNTER["invalid"] += 1
            assert produced == SENTINEL, "a failed run changed the previous build"
            diagnostics = json.loads(out)["diagnostics"]
            errors = [d for d in diagnostics if d["severity"] == "error"]
            assert errors, "exit 1 without an error diagnostic"
            for diag in errors:
                span = diag["span"]
                assert span["line"] >= 1 and span["col"] >= 1, diag
                assert span["file"].startswith("<") or Path(span["file"]).exists(), diag
                assert diag["code"][0] in "EG" and diag["message"], diag
        debris = [
            p.name
            for p in build.iterdir()
            if p.name not in ("local", ".cache", ".local.digests.json")
        ]
        assert not debris, f"staging debris left behind: {debris}"
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
