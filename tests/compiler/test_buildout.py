"""A build folder refreshed in place ends exactly as a staged one, writes only what changed,
and refuses (the caller then stages the folder whole) whenever it could not be sure."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from compiler import buildout
from compiler.buildout import INCOMPLETE, refresh_tree, refreshable, write_tree


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


FILES = {f"manifests/{n:02d}.yaml": f"object {n}\n" for n in range(20)} | {"plan.json": "{}\n"}


def test_only_changed_files_are_written_and_gone_ones_removed(tmp_path):
    target = tmp_path / "local"
    write_tree(target, FILES)
    assert refreshable(target)
    untouched = os.stat(target / "manifests/03.yaml").st_mtime_ns
    new = {**FILES, "plan.json": '{"changed": true}\n', "pipelines/a/p.yaml": "p\n"}
    del new["manifests/19.yaml"]
    assert refresh_tree(target, new) == 3
    assert _tree(target) == {k: v.encode() for k, v in new.items()}
    assert os.stat(target / "manifests/03.yaml").st_mtime_ns == untouched
    assert not (target / "manifests/19.yaml").exists() and not (target / INCOMPLETE).exists()
    assert refresh_tree(target, new) == 0  # the digest list follows the refresh
    staged = tmp_path / "staged"
    write_tree(staged, new)
    assert _tree(staged) == _tree(target)


@pytest.mark.parametrize(
    "disturb",
    ["stray-file", "edited-by-hand", "interrupted", "no-digest-list", "most-changed"],
)
def test_it_refuses_whenever_it_cannot_be_sure(tmp_path, disturb):
    target = tmp_path / "local"
    write_tree(target, FILES)
    new = dict(FILES)
    if disturb == "stray-file":
        (target / "notes.txt").write_text("mine\n")
    elif disturb == "edited-by-hand":
        (target / "plan.json").write_text("{}\n")  # same bytes, but touched since: rewritten
        assert refresh_tree(target, new) == 1
        return
    elif disturb == "interrupted":
        (target / INCOMPLETE).touch()
    elif disturb == "no-digest-list":
        buildout._digest_file(target).unlink()
    else:
        new = {rel: data + "changed\n" for rel, data in FILES.items()}
    assert refresh_tree(target, new) is None
    assert _tree(target) == {
        **{k: v.encode() for k, v in FILES.items()},
        **({"notes.txt": b"mine\n"} if disturb == "stray-file" else {}),
        **({INCOMPLETE: b""} if disturb == "interrupted" else {}),
    }


def test_a_crash_midway_leaves_complete_files_and_the_marker(tmp_path, monkeypatch):
    target = tmp_path / "local"
    write_tree(target, FILES)
    new = {**FILES, "manifests/00.yaml": "new 0\n", "manifests/01.yaml": "new 1\n"}
    replace = os.replace
    calls = []

    def crash_on_second(src, dst):
        calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt
        replace(src, dst)

    monkeypatch.setattr(os, "replace", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        refresh_tree(target, new)
    monkeypatch.undo()
    assert (target / INCOMPLETE).exists() and not refreshable(target)
    assert (target / "manifests/00.yaml").read_text() == "new 0\n"  # complete, new
    assert (target / "manifests/01.yaml").read_text() == "object 1\n"  # complete, old
    assert not [p for p in target.rglob(".tmp-*")]
    write_tree(target, new)  # what the next run does: the whole folder, staged
    assert _tree(target) == {k: v.encode() for k, v in new.items()}
