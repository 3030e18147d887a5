"""Same configs, byte-identical build: across runs, processes, hash seeds, folders and file order."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys

from compiler.cli import main
from tests.conftest import CONFIGS, REPO
from tests.helpers import tree_bytes


def test_ir_is_byte_identical_across_processes_and_locations(tmp_path):
    outputs = []
    for index, seed in enumerate(["0", "12345"]):
        configs = tmp_path / f"copy{index}" / "configs"
        # copy files in a different order each time: discovery must not depend on it
        files = sorted(CONFIGS.rglob("*"), reverse=bool(index))
        for path in files:
            target = configs / path.relative_to(CONFIGS)
            if path.is_dir():
                target.mkdir(parents=True, exist_ok=True)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(path, target)
        build = tmp_path / f"build{index}"
        env = {**os.environ, "PYTHONHASHSEED": seed}
        subprocess.run(
            [
                sys.executable,
                "-m",
                "compiler.cli",
                "compile",
                "--env",
                "prod",
                "--configs",
                str(configs),
                "--build-dir",
                str(build),
            ],
            check=True,
            cwd=tmp_path,
            env=env,
            capture_output=True,
        )
        outputs.append(tree_bytes(build / "prod"))
    assert outputs[0] == outputs[1]
    assert "ir.json" in outputs[0]


def test_recompiling_in_process_gives_the_same_bytes(tmp_path, monkeypatch):
    monkeypatch.chdir(REPO)
    for name in ("a", "b"):
        assert main(["compile", "--env", "local", "--build-dir", str(tmp_path / name)]) == 0
    assert tree_bytes(tmp_path / "a" / "local") == tree_bytes(tmp_path / "b" / "local")
    assert tree_bytes(tmp_path / "a" / "local")  # not vacuous
