"""`mlplat destroy` and the state-folder guards: nothing outside the state folder is touched."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from compiler.cli import main
from compiler.deploy.local.layout import unsafe_state_dir
from compiler.deploy.local.manage import DestroyRefused, destroy, destroy_check
from compiler.deploy.local.state import LocalState, save_state


def make_state_folder(root: Path) -> Path:
    """A state folder as a deploy leaves it (no servers running)."""
    (root / "buckets" / "artifacts" / "fraud").mkdir(parents=True)
    (root / "buckets" / "artifacts" / "fraud" / "run.txt").write_text("x")
    (root / "registry").mkdir()
    (root / "registry" / "mlflow.db").write_text("db")
    (root / "endpoints").mkdir()
    save_state(root / "state.json", LocalState(environment="local"))
    return root


@pytest.mark.parametrize(
    ("folder", "problem"),
    [
        pytest.param("/", "filesystem root", id="root"),
        pytest.param("~", "home folder", id="home"),
        pytest.param(".", "contains the working folder", id="cwd"),
        pytest.param("..", "contains the working folder", id="parent"),
        pytest.param("sub/../..", "contains the working folder", id="dotdot"),
    ],
)
def test_unsafe_state_folders(
    folder: str, problem: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    (work / "sub").mkdir(parents=True)
    monkeypatch.chdir(work)
    reason = unsafe_state_dir(Path(os.path.expanduser(folder)))
    assert reason is not None and problem in reason


def test_a_symlink_to_an_ancestor_is_unsafe(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    (work / "link").symlink_to(tmp_path)
    monkeypatch.chdir(work)
    reason = unsafe_state_dir(Path("link"))
    assert reason is not None and "contains the working folder" in reason


def test_the_default_folder_is_safe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert unsafe_state_dir(Path(".mlplat/local")) is None


def test_destroy_removes_only_what_deploy_created(tmp_path: Path) -> None:
    root = make_state_folder(tmp_path / "state")
    (root / "notes.txt").write_text("mine")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep.txt").write_text("keep")
    (root / "buckets" / "artifacts" / "fraud" / "escape").symlink_to(outside)

    checked, state = destroy_check(root)
    left = destroy(checked, state)

    assert left == ["notes.txt"]
    assert sorted(p.name for p in root.iterdir()) == ["notes.txt"]
    assert (outside / "keep.txt").read_text() == "keep"  # the link was removed, not followed


def test_destroy_removes_an_emptied_folder(tmp_path: Path) -> None:
    root = make_state_folder(tmp_path / "state")
    assert destroy(*destroy_check(root)) == []
    assert not root.exists()


def test_a_folder_that_is_not_a_deployment_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "project"
    root.mkdir()
    (root / "README.md").write_text("hello")
    (root / "buckets").mkdir()
    with pytest.raises(DestroyRefused, match=r"no mlplat state file .*README\.md"):
        destroy_check(root)
    assert (root / "README.md").exists()


def test_an_interrupted_first_deploy_can_be_destroyed(tmp_path: Path) -> None:
    root = tmp_path / "state"
    (root / "buckets" / "models").mkdir(parents=True)
    (root / ".lock").write_text("")
    assert destroy(*destroy_check(root)) == []
    assert not root.exists()


def run_cli(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, stdin: str = ""
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    monkeypatch.setattr("sys.stdout", out)
    monkeypatch.setattr("sys.stderr", err)
    monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    code = main(argv)
    return code, out.getvalue(), err.getvalue()


def test_destroy_needs_confirmation_in_scripts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_state_folder(tmp_path / "state")
    code, _, err = run_cli(["destroy", "--state-dir", str(root)], monkeypatch)
    assert code == 2
    assert "needs confirmation; pass --yes" in err
    assert (root / "state.json").exists()


def test_destroy_with_yes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_state_folder(tmp_path / "state")
    code, out, _ = run_cli(["destroy", "--state-dir", str(root), "--yes"], monkeypatch)
    assert code == 0
    assert out.startswith("ok: destroyed the local deployment")
    assert not root.exists()


def test_destroy_refuses_the_working_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    make_state_folder(tmp_path)
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["destroy", "--state-dir", ".", "--yes"], monkeypatch)
    assert code == 2
    assert "refusing to destroy" in err and "contains the working folder" in err
    assert (tmp_path / "state.json").exists()


def test_destroy_of_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run_cli(["destroy", "--state-dir", str(tmp_path / "none"), "--yes"], monkeypatch)
    assert code == 0
    assert "nothing to destroy" in out


def test_status_and_down_of_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = str(tmp_path / "none")
    code, out, _ = run_cli(["status", "--state-dir", folder], monkeypatch)
    assert (code, out.strip()) == (
        0,
        f"nothing deployed in {folder} (run: mlplat deploy --env local)",
    )
    code, out, _ = run_cli(["down", "--state-dir", folder], monkeypatch)
    assert (code, out.strip()) == (0, f"nothing deployed in {folder}")
