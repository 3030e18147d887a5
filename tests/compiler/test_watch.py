"""`mlplat watch`: change detection, in-place writes, the memory of the cache, and the whole
command run against an edited copy of the example (byte-identical to a fresh `mlplat plan`)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from compiler.buildout import update_tree, write_tree
from compiler.cache import BuildCache
from compiler.watch import changed_paths, forget_modules, snapshot, wait_for_change
from tests.helpers import tree_bytes

REPO = Path(__file__).resolve().parents[2]


# --- change detection --------------------------------------------------------------------


def test_snapshot_sees_specs_and_code_but_not_hidden_or_bytecode(tmp_path):
    (tmp_path / "teams").mkdir()
    (tmp_path / "teams" / "a.yaml").write_text("x: 1\n")
    (tmp_path / "code.py").write_text("pass\n")
    (tmp_path / "notes.txt").write_text("no\n")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "b.yaml").write_text("no\n")
    (tmp_path / "__pycache__").mkdir()
    (tmp_path / "__pycache__" / "c.py").write_text("no\n")
    assert sorted(Path(p).name for p in snapshot([tmp_path])) == ["a.yaml", "code.py"]


def test_changed_paths_lists_added_removed_and_modified(tmp_path):
    before = {"a": (1, 1), "b": (1, 1), "c": (1, 1)}
    after = {"a": (1, 1), "b": (2, 5), "d": (1, 1)}
    assert changed_paths(before, after) == ["b", "c", "d"]


def test_wait_for_change_returns_once_files_settle(tmp_path):
    spec = tmp_path / "a.yaml"
    spec.write_text("x: 1\n")
    before = snapshot([tmp_path])
    writes = iter(["x: 2\n", "x: 33\n"])  # a save, then another one before it settles

    def sleep(_seconds: float) -> None:
        text = next(writes, None)
        if text is not None:
            spec.write_text(text)

    now, changes = wait_for_change(lambda: {tmp_path}, before, 0.01, sleep)
    assert changes == [str(spec)]
    assert now == snapshot([tmp_path]) and spec.read_text() == "x: 33\n"


def test_forget_modules_drops_edited_step_code(tmp_path, monkeypatch):
    package = tmp_path / "stepcode_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "train.py").write_text("VALUE = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    import stepcode_pkg.train as first  # type: ignore[import-not-found]

    assert first.VALUE == 1
    (package / "train.py").write_text("VALUE = 22\n")
    assert forget_modules([str(package / "train.py")]) == ["stepcode_pkg.train"]
    import stepcode_pkg.train as second  # type: ignore[import-not-found]

    assert second.VALUE == 22
    monkeypatch.delitem(sys.modules, "stepcode_pkg", raising=False)
    monkeypatch.delitem(sys.modules, "stepcode_pkg.train", raising=False)


# --- in-place writes -----------------------------------------------------------------------


def test_update_tree_writes_only_what_changed_and_removes_what_went(tmp_path):
    target = tmp_path / "prod"
    first = {"a.txt": "a", "deep/b.txt": "b", "gone/c.txt": "c"}
    write_tree(target, first)
    untouched = os.stat(target / "a.txt").st_ino
    second = {"a.txt": "a", "deep/b.txt": "B", "new/d.txt": "d"}
    assert update_tree(target, second, first) == 3  # b rewritten, d written, c removed
    assert tree_bytes(target) == {k: v.encode() for k, v in second.items()}
    assert os.stat(target / "a.txt").st_ino == untouched
    assert not (target / "gone").exists()
    # the digest list stays right: a later full write still shares unchanged files
    write_tree(target, second)
    assert os.stat(target / "a.txt").st_ino == untouched
    assert tree_bytes(target) == {k: v.encode() for k, v in second.items()}


def test_update_tree_refuses_paths_outside_the_folder(tmp_path):
    write_tree(tmp_path / "prod", {"a.txt": "a"})
    with pytest.raises(ValueError, match="outside the build folder"):
        update_tree(tmp_path / "prod", {"../evil.txt": "x"}, {"a.txt": "a"})
    assert not (tmp_path / "evil.txt").exists()


# --- the cache's memory --------------------------------------------------------------------


def test_memory_serves_decoded_entries_and_forgets_unused_ones(tmp_path):
    cache = BuildCache(tmp_path / "cache")
    cache.keep_in_memory()
    cache.put("s", "k1", b"[1]")
    cache.put("s", "k2", b"[2]")
    decoded: list[bytes] = []

    def decode(data: bytes) -> list[int]:
        decoded.append(data)
        return [int(data[1:-1])]

    cache.begin_build()
    first = cache.load("s", "k1", decode)
    assert cache.load("s", "k1", decode) is first and decoded == [b"[1]"]
    assert cache.load("s", "k2", decode) == [2]
    assert cache.end_build() == 0
    cache.begin_build()
    assert cache.load("s", "k1", decode) is first  # k2 not used in this build
    assert cache.end_build() == 1
    cache.begin_build()
    assert cache.load("s", "k2", decode) == [2] and decoded == [b"[1]", b"[2]", b"[2]"]


def test_recall_compares_owners_by_identity_and_keys_by_value():
    cache = BuildCache(None)
    calls: list[str] = []

    def compute(tag: str) -> str:
        calls.append(tag)
        return tag

    owner, twin = ["same"], ["same"]  # equal, but not the same object
    assert cache.recall("s", owner, 1, lambda: compute("a")) == "a"
    assert cache.recall("s", owner, 1, lambda: compute("b")) == "b"  # no memory: computed
    cache.keep_in_memory()
    cache.begin_build()
    assert cache.recall("s", owner, 1, lambda: compute("c")) == "c"
    assert cache.recall("s", owner, 1, lambda: compute("d")) == "c"
    assert cache.recall("s", twin, 1, lambda: compute("e")) == "e"
    assert cache.recall("s", owner, 2, lambda: compute("f")) == "f"
    assert cache.recall("s", (owner, twin), 1, lambda: compute("g")) == "g"
    assert cache.recall("s", (owner, twin), 1, lambda: compute("h")) == "g"
    assert cache.recall("s", (owner, owner), 1, lambda: compute("i")) == "i"
    assert calls == ["a", "b", "c", "e", "f", "g", "i"]


# --- the command ----------------------------------------------------------------------------


def _read_line(process: subprocess.Popen[str], timeout: float = 240) -> str:
    """The next result line of the watch process (stdout), or fail with its stderr."""
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    line = process.stdout.readline()
    if not line or time.monotonic() > deadline:
        process.kill()
        raise AssertionError(f"watch stopped: {process.stderr.read() if process.stderr else ''}")
    return line.strip()


def test_watch_rebuilds_after_each_change_like_a_fresh_plan(configs, tmp_path):
    build = tmp_path / "build"
    env = {**os.environ, "CI": "1", "PYTHONPATH": str(REPO)}
    argv = [sys.executable, "-m", "compiler.cli"]
    watch = subprocess.Popen(
        [*argv, "watch", "--env", "prod", "--configs", ".", "--build-dir", str(build),
         "--interval", "0.05", "--builds", "3", "--no-color", "--jobs", "1"],
        cwd=configs, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert _read_line(watch).startswith(f"ok: wrote {build}/prod/")
        fraud = configs / "teams" / "fraud.yaml"
        fraud.write_text(fraud.read_text().replace('  cpu: "24"', '  cpu: "20"'))
        assert _read_line(watch).startswith(f"ok: wrote {build}/prod/")
        written = tree_bytes(build / "prod")
        fraud.write_text(fraud.read_text().replace("runtime: sklearn", "runtime: sklearm"))
        assert _read_line(watch) == "failed: specs invalid; fix them and save, build/ is unchanged"
        _, err = watch.communicate(timeout=60)
    finally:
        watch.kill()
    assert watch.returncode == 1
    assert "teams/fraud.yaml:80:14: error[E104]: 'sklearm' is not a valid runtime" in err, err
    assert tree_bytes(build / "prod") == written  # the failed build wrote nothing
    # the same edit (cpu 20) planned by a fresh process gives the same bytes
    fraud.write_text(fraud.read_text().replace("runtime: sklearm", "runtime: sklearn"))
    fresh = tmp_path / "fresh"
    done = subprocess.run(
        [*argv, "plan", "--env", "prod", "--configs", ".", "--build-dir", str(fresh)],
        cwd=configs, env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert tree_bytes(fresh / "prod") == written


def test_the_waiting_line_names_a_few_folders_and_counts_the_rest():
    from compiler.commands.watch import watched

    assert watched(["configs", "components"]) == "components, configs"
    many = ["configs", *(f"components/team_{n:04d}" for n in range(1500))]
    assert watched(many) == (
        "components/team_0000, components/team_0001, components/team_0002 and 1,498 more folders"
    )
