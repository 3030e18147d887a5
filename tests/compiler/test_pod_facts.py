"""Pod facts of compiled pipelines: derived while compiling, equal to parsing the text, and
looked up by the security baseline instead of parsed again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.generate_org import generate
from compiler import pod_facts
from compiler.build import BuildOptions, compile_files
from compiler.cache import BuildCache
from compiler.frontend import FrontendResult, load_platform
from compiler.policy import pods

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def organisations(tmp_path_factory: pytest.TempPathFactory) -> list[FrontendResult]:
    generated = generate(tmp_path_factory.mktemp("org") / "configs", teams=6, seed=11)
    found = [load_platform(ROOT / "configs", ["env=prod"]), load_platform(generated, [])]
    assert all(result.ok for result in found)
    return found


def _compiled(result: FrontendResult, cache: BuildCache) -> dict[str, str]:
    return _compile(result, cache)[0]


def _compile(
    result: FrontendResult, cache: BuildCache
) -> tuple[dict[str, str], dict[str, dict[str, object]]]:
    outcome = compile_files(result, options=BuildOptions(cache=cache))
    files = outcome.files
    texts = {path: str(text) for path, text in files.items() if path.startswith("pipelines/")}
    return texts, dict(outcome.pod_facts)


def test_facts_derived_while_compiling_equal_the_parsed_text(
    organisations: list[FrontendResult], tmp_path: Path
) -> None:
    checked = 0
    for number, result in enumerate(organisations):
        cache = BuildCache(tmp_path / f"cache{number}")
        texts, derived = _compile(result, cache)
        for path, text in texts.items():
            if not path.endswith((".schedule.json", ".trainjob.yaml", ".experiment.yaml")):
                stored = cache.load(pod_facts.STAGE, pod_facts.facts_key(text), json.loads)
                assert stored == derived[path] == pod_facts.facts_of_text(text), path
                assert stored["tasks"] and stored["security"] and stored["resources"], path
                checked += 1
    assert checked == sum(len(list(r.ir.pipelines())) for r in organisations if r.ir) > 20


def test_the_baseline_looks_facts_up_instead_of_parsing(
    organisations: list[FrontendResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = organisations[1]
    assert result.ir is not None
    cache = BuildCache(tmp_path / "cache")
    files = _compiled(result, cache)
    parsed = pods.pipeline_facts(result.ir, files)  # no cache: every text parsed

    def no_parsing(text: str | bytes) -> dict[str, object]:
        raise AssertionError("a compiled pipeline was parsed again")

    monkeypatch.setattr(pods, "facts_of_text", no_parsing)
    assert pods.pipeline_facts(result.ir, files, BuildCache(tmp_path / "cache")) == parsed
    with pytest.raises(AssertionError, match="parsed again"):
        pods.pipeline_facts(result.ir, files)  # the spy would see a parse


def test_facts_are_keyed_by_the_text_and_the_code_that_reads_them(monkeypatch) -> None:
    text = "# a compiled pipeline\n"
    key = pod_facts.facts_key(text)
    assert pod_facts.facts_key(text.encode()) == key
    assert pod_facts.facts_key(text + "\n") != key
    fingerprints = {"compiler/pod_facts.py": "another version of the reading code"}
    monkeypatch.setattr(
        pod_facts, "code_fingerprint", lambda *paths: fingerprints.get(paths[0], "same")
    )
    assert pod_facts.facts_key(text) != key


def test_a_plan_checks_pipelines_whose_facts_the_cache_lost(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pipelines served by the cache without their facts (say, after a change to the code
    that reads them) are parsed, and the plan is the same; the next plan parses none."""
    import sqlite3

    from compiler.cache import DATABASE
    from compiler.plan.outputs import plan_outputs
    from compiler.plan.report import Baseline

    result = load_platform(ROOT / "configs", ["env=prod"])
    options = BuildOptions(cache=BuildCache(tmp_path / "cache"))
    none = Baseline("none", None, None)
    assert result.ir is not None
    planned = plan_outputs(result, none, tmp_path / "first", options=options)
    first = planned.files
    with sqlite3.connect(tmp_path / "cache" / DATABASE) as db:
        db.execute("DELETE FROM entries WHERE stage = ?", (pod_facts.STAGE,))
    parsed: list[str] = []
    real = pods.facts_of_text

    def counting(text: str | bytes) -> dict[str, object]:
        parsed.append(str(text)[:10])
        return real(text)

    monkeypatch.setattr(pods, "facts_of_text", counting)
    options = BuildOptions(cache=BuildCache(tmp_path / "cache"))
    second = plan_outputs(result, none, tmp_path / "second", options=options)
    assert second.files == first and second.security == planned.security
    assert len(parsed) == len(list(result.ir.pipelines())) == 7
    parsed.clear()
    options = BuildOptions(cache=BuildCache(tmp_path / "cache"))
    assert plan_outputs(result, none, tmp_path / "third", options=options).files == first
    assert parsed == []


def test_facts_the_compile_step_derived_are_used_as_they_are(
    organisations: list[FrontendResult], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = organisations[1]
    assert result.ir is not None
    texts, derived = _compile(result, BuildCache(None))
    assert len(derived) == len(list(result.ir.pipelines()))
    parsed = pods.pipeline_facts(result.ir, texts)

    def no_parsing(text: str | bytes) -> dict[str, object]:
        raise AssertionError("a compiled pipeline was parsed again")

    monkeypatch.setattr(pods, "facts_of_text", no_parsing)
    assert pods.pipeline_facts(result.ir, texts, BuildCache(None), known=derived) == parsed
    some = dict(list(derived.items())[1:])
    with pytest.raises(AssertionError, match="parsed again"):
        pods.pipeline_facts(result.ir, texts, BuildCache(None), known=some)
