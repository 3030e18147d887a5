"""The command line: exit codes, formats, atomic builds, and a lean `validate`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from compiler import buildout
from compiler.cli import main
from tests.conftest import REPO


def test_valid_configs_exit_0(capsys, monkeypatch):
    monkeypatch.chdir(REPO)
    assert main(["validate", "env=prod"]) == 0
    assert "ok: environment 'prod' is valid" in capsys.readouterr().out


def test_invalid_configs_exit_1_with_json_diagnostics(configs, capsys):
    fraud = configs / "teams" / "fraud.yaml"
    fraud.write_text(fraud.read_text().replace("memory: 96Gi", "memory: lots"))
    assert main(["validate", "--configs", str(configs), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    (diag,) = report["diagnostics"]
    assert diag["code"] == "E106" and diag["span"]["line"] == 11 and diag["severity"] == "error"
    assert diag["span"]["file"].endswith("teams/fraud.yaml")


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", "--bogus"],
        ["nope"],
        [],
        ["validate", "--configs", "/does/not/exist"],
        ["validate", "--env", "dev", "env=prod"],
    ],
    ids=["unknown-flag", "unknown-command", "no-command", "missing-configs", "env-twice"],
)
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        raise SystemExit(main(argv))
    assert info.value.code == 2
    assert "Traceback" not in capsys.readouterr().err


def test_validate_imports_neither_kfp_nor_pulumi():
    code = (
        "import sys; from compiler.cli import main; rc = main(['validate']);"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('kfp', 'pulumi', 'pulumi_aws', "
        "'pulumi_kubernetes', 'mlflow', 'kubernetes'));"
        "print(rc, heavy)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip().endswith("0 []"), out.stdout + out.stderr


def test_failed_write_leaves_the_previous_build(tmp_path, monkeypatch):
    target = tmp_path / "build" / "local"
    buildout.write_tree(target, {"ir.json": "old\n", "pipelines/a.yaml": "a\n"})

    real_open = os.open

    def failing_open(path, flags, *args, **kwargs):
        if flags & os.O_WRONLY and str(path).endswith("second.json"):
            raise OSError("disk full")
        return real_open(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", failing_open)
    with pytest.raises(OSError):
        buildout.write_tree(target, {"ir.json": "new\n", "second.json": "x"})
    monkeypatch.undo()
    assert (target / "ir.json").read_text() == "old\n"
    assert (target / "pipelines" / "a.yaml").read_text() == "a\n"
    assert sorted(p.name for p in target.parent.iterdir()) == [".local.digests.json", "local"]


def test_interrupted_swap_is_repaired_on_the_next_run(tmp_path):
    target = tmp_path / "build" / "local"
    buildout.write_tree(target, {"ir.json": "old\n"})
    target.rename(target.with_name(".local.previous"))  # crash between the two renames
    buildout.write_tree(target, {"ir.json": "new\n"})
    assert (target / "ir.json").read_text() == "new\n"
    assert sorted(p.name for p in target.parent.iterdir()) == [".local.digests.json", "local"]


def test_writes_outside_the_build_folder_are_refused(tmp_path):
    with pytest.raises(ValueError, match="outside"):
        buildout.write_tree(tmp_path / "b" / "local", {"../escape.txt": "x"})
    assert not (tmp_path / "b" / "escape.txt").exists()


def test_unchanged_files_are_shared_with_the_previous_build(tmp_path):
    target = tmp_path / "build" / "local"
    buildout.write_tree(target, {"a.yaml": "same\n", "b.yaml": "old\n"})
    first_a = (target / "a.yaml").stat().st_ino
    buildout.write_tree(target, {"a.yaml": "same\n", "b.yaml": "new\n", "c.yaml": "added\n"})
    assert (target / "a.yaml").stat().st_ino == first_a  # linked, not rewritten
    assert (target / "b.yaml").read_text() == "new\n" and (
        target / "c.yaml"
    ).read_text() == "added\n"
    (target / "a.yaml").write_text("edited by hand\n")  # an edited file is never reused
    buildout.write_tree(target, {"a.yaml": "same\n"})
    assert (target / "a.yaml").read_text() == "same\n"
    assert sorted(p.name for p in target.iterdir()) == ["a.yaml"]


def test_a_tree_staged_in_parts_equals_one_written_at_once(tmp_path):
    whole, parts = tmp_path / "whole" / "local", tmp_path / "parts" / "local"
    files = {"ir.json": "{}\n", "pipelines/t/a.yaml": "a\n", "manifests/x.yaml": "x\n"}
    buildout.write_tree(whole, files)
    staged = buildout.StagedTree(parts)
    staged.write({k: v for k, v in files.items() if k != "manifests/x.yaml"})
    assert "ir.json" in staged and "manifests/x.yaml" not in staged
    with pytest.raises(ValueError, match=r"staged twice: ir\.json"):
        staged.write({"ir.json": "{}\n"})
    assert not parts.exists()  # nothing visible before the swap
    staged.write({"manifests/x.yaml": "x\n"})
    staged.commit()
    for rel, text in files.items():
        assert (parts / rel).read_text() == (whole / rel).read_text() == text
        assert (parts / rel).stat().st_mode == (whole / rel).stat().st_mode
    discarded = buildout.StagedTree(parts)
    discarded.write({"ir.json": "new\n"})
    discarded.discard()
    assert (parts / "ir.json").read_text() == "{}\n"
    assert sorted(p.name for p in parts.parent.iterdir()) == [".local.digests.json", "local"]


def test_a_full_disk_is_a_diagnostic_and_keeps_the_previous_build(tmp_path, monkeypatch, capsys):
    import errno

    build = tmp_path / "build"
    args = ["compile", "--configs", str(REPO / "configs"), "--build-dir", str(build)]
    assert main(args) == 0
    before = (build / "local" / "ir.json").read_bytes()
    real_open = os.open

    def full(path, flags, *rest, **kwargs):
        if flags & os.O_WRONLY and str(path).endswith("ir.json"):
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real_open(path, flags, *rest, **kwargs)

    monkeypatch.setattr(os, "open", full)
    monkeypatch.setattr(buildout, "_untouched", lambda *_: False)  # write, do not link
    capsys.readouterr()
    code = main([*args, "--no-cache"])
    err = capsys.readouterr().err
    assert code == 1
    first = err.splitlines()[0]
    assert first.startswith(str(build / ".local.staging-"))  # the new build, staged beside
    assert first.endswith(
        "/ir.json:1:1: error[E005]: cannot write or read this path: No space left on device"
    )
    assert "= hint: free some space or fix the permissions" in err
    assert "internal error" not in err
    monkeypatch.undo()
    assert (build / "local" / "ir.json").read_bytes() == before
    assert sorted(p.name for p in build.iterdir()) == [".cache", ".local.digests.json", "local"]


def test_other_os_errors_stay_internal_errors(monkeypatch, capsys):
    from compiler.commands import validate

    def broken(args, console):
        raise FileNotFoundError(2, "No such file or directory", "/nonexistent/part")

    monkeypatch.setattr(validate, "run", broken)
    code = main(["validate", "--configs", str(REPO / "configs")])
    assert code == 70
    assert "internal error: FileNotFoundError" in capsys.readouterr().err
