"""The baseline a plan is compared with: `configs/` at a git revision, or an earlier build.

- A git revision (default: the merge base of HEAD with `main`, else `origin/main`): its
  `configs/` folder is extracted with `git archive` into a temporary folder, validated and
  run through this checkout's program. Program changes of a branch therefore show only
  against a build directory made by the base branch's own code.
- A directory: an earlier `build/<env>/` holding plan.json (and ir.json, for the cost delta
  and the blast radius of removed objects).

Without a usable default (not a git repository, no main branch) the plan goes on with an
empty baseline and the report says why; an explicit `--base` that cannot be used is an error.
"""

from __future__ import annotations

import io
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from compiler.build import BuildOptions
from compiler.config_layout import CLI_FILE
from compiler.diagnostics import Diagnostic, Span, error
from compiler.frontend import load_platform
from compiler.ir import PlatformIR
from compiler.plan.model import Plan
from compiler.plan.report import Baseline

DEFAULT_BRANCHES = ("main", "origin/main")


class BaselineError(Exception):
    def __init__(self, message: str, hint: str) -> None:
        super().__init__(message)
        self.diagnostic: Diagnostic = error("P100", message, Span(CLI_FILE), hint)


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", *args], cwd=cwd, capture_output=True, check=False, timeout=120)


def _text(completed: subprocess.CompletedProcess[bytes]) -> str:
    return completed.stdout.decode().strip()


def _repository(configs: Path) -> Path | None:
    try:
        found = _git(configs, "rev-parse", "--show-toplevel")
    except (FileNotFoundError, subprocess.TimeoutExpired):
        return None
    return Path(_text(found)) if found.returncode == 0 else None


def _commit(repo: Path, ref: str) -> str | None:
    found = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    return _text(found) if found.returncode == 0 else None


def default_ref(repo: Path) -> tuple[str, str] | None:
    """(`name`, commit) of the merge base of HEAD with main (or origin/main)."""
    for branch in DEFAULT_BRANCHES:
        if _commit(repo, branch) is None:
            continue
        base = _git(repo, "merge-base", "HEAD", branch)
        if base.returncode == 0:
            return f"merge base with {branch}", _text(base)
    return None


def extract_configs(repo: Path, commit: str, configs: Path, into: Path) -> Path | None:
    """`configs/` as of `commit` under `into`; None if the folder did not exist then."""
    relative = configs.resolve().relative_to(repo.resolve()).as_posix()
    archive = _git(repo, "archive", "--format=tar", commit, "--", relative)
    if archive.returncode != 0:
        return None
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4: refuse odd members
            tar.extractall(into, filter="data")
        else:  # pragma: no cover - the archive comes from our own repository
            tar.extractall(into)
    folder = into / relative
    return folder if folder.is_dir() else None


def plan_of(ir: PlatformIR, options: BuildOptions | None = None) -> Plan:
    from compiler.plan.sharded import plan_program

    options = options or BuildOptions()
    return plan_program(ir, options.cache, options.jobs)


def _from_git(
    repo: Path,
    label: str,
    commit: str,
    configs: Path,
    overrides: Sequence[str],
    progress: Callable[[str], None],
    options: BuildOptions | None = None,
) -> Baseline:
    short = f"`{label}` ({commit[:7]})"
    with tempfile.TemporaryDirectory(prefix="mlplat-base-") as tmp:
        folder = extract_configs(repo, commit, configs, Path(tmp))
        if folder is None:
            return Baseline(short, None, None, f"`{configs.name}/` did not exist at {short}.")
        progress(f"planning the baseline {label} ({commit[:7]}) ...")
        result = load_platform(folder, overrides)
    if not result.ok or result.ir is None:
        errors = sum(d.is_error for d in result.diagnostics)
        return Baseline(
            short,
            None,
            None,
            f"The specs at {short} do not validate ({errors} errors): every resource is "
            "shown as created.",
        )
    return Baseline(f"{short} configs", plan_of(result.ir, options), result.ir)


def _from_directory(folder: Path) -> Baseline:
    plan_file = folder / "plan.json"
    if not plan_file.is_file():
        raise BaselineError(
            f"baseline folder '{folder}' has no plan.json",
            "run `mlplat plan` on the baseline first; it writes build/<env>/plan.json",
        )
    try:
        plan = Plan.from_json(plan_file.read_text(encoding="utf-8"))
    except (ValueError, KeyError) as exc:
        raise BaselineError(
            f"baseline '{plan_file}' cannot be read: {exc}", "re-plan the baseline"
        ) from None
    ir = None
    ir_file = folder / "ir.json"
    if ir_file.is_file():
        try:
            ir = PlatformIR.model_validate_json(ir_file.read_text(encoding="utf-8"))
        except ValueError:
            ir = None
    return Baseline(f"`{folder.as_posix()}`", plan, ir)


def resolve_baseline(
    base: str | None,
    configs: Path,
    overrides: Sequence[str],
    progress: Callable[[str], None] = lambda _m: None,
    options: BuildOptions | None = None,
) -> Baseline:
    """The baseline named by `--base` (or the default one); see the module docstring.

    `options` (cache, workers) make planning a git baseline cheap: most of it is cached.
    """
    if base is not None and Path(base).is_dir():
        return _from_directory(Path(base))
    repo = _repository(configs)
    if base is None:
        if repo is None:
            return Baseline(
                "none",
                None,
                None,
                f"No baseline: `{configs}` is not in a git repository, so every resource is "
                "shown as created. Pass `--base DIR` (an earlier build) to compare.",
            )
        found = default_ref(repo)
        if found is None:
            return Baseline(
                "none",
                None,
                None,
                "No baseline: this repository has no `main` or `origin/main` branch, so every "
                "resource is shown as created. Pass `--base REF` or `--base DIR`.",
            )
        label, commit = found
        return _from_git(repo, label, commit, configs, overrides, progress, options)
    if repo is None:
        raise BaselineError(
            f"--base '{base}' is not a folder, and '{configs}' is not in a git repository",
            "pass a build folder holding plan.json, or run inside a git checkout",
        )
    revision = _commit(repo, base)
    if revision is None:
        raise BaselineError(
            f"--base '{base}' is neither a folder nor a git revision",
            "pass a branch, tag or commit (e.g. origin/main), or a build folder with plan.json",
        )
    return _from_git(repo, base, revision, configs, overrides, progress, options)
