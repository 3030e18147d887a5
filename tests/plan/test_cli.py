"""`mlplat plan`: writes build/<env>/ atomically and byte-identically; program errors are
diagnostics, not tracebacks."""

from __future__ import annotations

import filecmp

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

    def broken(ir):
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
