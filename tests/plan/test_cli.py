"""`mlplat plan`: writes build/<env>/ atomically and byte-identically; program errors are
diagnostics, not tracebacks."""

from __future__ import annotations

import filecmp

import pytest

from compiler.cli import main
from compiler.plan.model import Plan
from tests.platform_iac.planning import CONFIGS


def _plan(build, *extra: str) -> int:
    """Plan prod against an empty earlier build (no second plan for a git baseline)."""
    base = build.parent / "empty-base"
    if not base.exists():
        base.mkdir()
        (base / "plan.json").write_text(
            Plan("prod", "aws", "acme-platform", "prod", "1.31").to_json()
        )
    extra = extra or ("--base", str(base))
    return main(
        ["plan", "--env", "prod", "--configs", str(CONFIGS), "--build-dir", str(build), *extra]
    )


def test_plan_writes_the_same_files_twice(tmp_path, capsys):
    first, second = tmp_path / "a", tmp_path / "b"
    assert _plan(first, "--base", str(tmp_path / "b-missing")) == 2  # not a folder, not a ref
    capsys.readouterr()
    assert _plan(first) == 0 and _plan(second) == 0
    out = capsys.readouterr().out
    plan = Plan.from_json((first / "prod" / "plan.json").read_text())
    count = len(plan.managed())
    assert "ok: wrote" in out and f"{count} resources; {count} to create" in out
    files = sorted(
        p.relative_to(first).as_posix() for p in (first / "prod").rglob("*") if p.is_file()
    )
    assert {"prod/ir.json", "prod/plan.json", "prod/changes.json", "prod/report.md"} <= set(files)
    objects = sum(r.is_kubernetes_object for r in plan.resources)
    assert sum(f.startswith("prod/manifests/") for f in files) == objects > 40
    _match, mismatch, errors = filecmp.cmpfiles(first, second, files, shallow=False)
    assert mismatch == [] and errors == []


def test_a_failing_program_is_a_diagnostic(tmp_path, capsys, monkeypatch):
    import platform_iac.program as program

    def broken(ir, feature_sources=None):
        raise ValueError("endpoint fraud/fraud-scorer needs a bucket with purpose 'models'")

    monkeypatch.setattr(program, "build_platform", broken)
    code = _plan(tmp_path / "build")
    err = capsys.readouterr().err
    assert code == 1
    assert (
        "<command line>:1:1: error[P101]: the platform program failed for environment 'prod': "
        in err
    )
    assert "ValueError: endpoint fraud/fraud-scorer needs a bucket" in err
    assert not (tmp_path / "build" / "prod").exists()


def test_compile_outputs_are_staged_while_the_program_runs(tmp_path, monkeypatch):
    """The first part staged is exactly the compile outputs, handed over before the program's
    results came back; the build equals one written in one go."""
    from compiler import buildout
    from compiler.plan import sharded

    events: list[object] = []
    real_write, real_run = buildout.StagedTree.write, sharded._run_shard

    def write(self, files):  # type: ignore[no-untyped-def]
        events.append(sorted(files))
        real_write(self, files)

    def run(teams):  # type: ignore[no-untyped-def]
        events.append("program")
        return real_run(teams)

    monkeypatch.setattr(buildout.StagedTree, "write", write)
    monkeypatch.setattr(sharded, "_run_shard", run)
    assert _plan(tmp_path / "staged") == 0
    first, program = events[0], events[1]
    assert program == "program" and isinstance(first, list)
    assert "ir.json" in first
    assert all(p == "ir.json" or p.startswith(("pipelines/", "features/")) for p in first)
    assert len(events) == 3 and not set(first) & set(events[2])  # type: ignore[arg-type]
    monkeypatch.undo()
    assert _plan(tmp_path / "whole") == 0
    whole = tmp_path / "whole" / "prod"
    files = sorted(str(p.relative_to(whole)) for p in whole.rglob("*") if p.is_file())
    staged = tmp_path / "staged" / "prod"
    assert files == sorted(str(p.relative_to(staged)) for p in staged.rglob("*") if p.is_file())
    _match, mismatch, errors = filecmp.cmpfiles(whole, staged, files, shallow=False)
    assert mismatch == [] and errors == []


def test_a_failed_early_write_is_an_error_of_the_write_and_keeps_the_previous_build(
    tmp_path, monkeypatch
):
    from compiler import buildout
    from compiler.frontend import load_platform
    from compiler.plan.outputs import plan_outputs
    from compiler.plan.report import Baseline

    result = load_platform(CONFIGS, ["env=prod"])
    none = Baseline("none", None, None)
    build = tmp_path / "build"
    plan_outputs(result, none, build)
    before = (build / "prod" / "plan.json").read_bytes()
    (build / ".prod.digests.json").unlink()  # so the next plan stages a whole new folder
    real_write = buildout.StagedTree.write
    parts: list[list[str]] = []

    def full_disk(self, files):  # type: ignore[no-untyped-def]
        parts.append(sorted(files))
        if "ir.json" in files:
            raise OSError(28, "No space left on device")
        real_write(self, files)

    monkeypatch.setattr(buildout.StagedTree, "write", full_disk)
    with pytest.raises(OSError, match="No space left"):  # not a P101 of the program
        plan_outputs(result, none, build)
    assert len(parts) == 1  # failed early, reported when the rest was to be written
    assert (build / "prod" / "plan.json").read_bytes() == before
    assert sorted(p.name for p in build.iterdir()) == ["prod"]  # no staging folder left
