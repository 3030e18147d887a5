"""How mlplat scales with the organisation: validate, compile and plan at N = 10, 100, 1000 teams.

For each N, on one generated organisation (benchmarks/generate_org.py, fixed seed), in one run:
  - the YAML parse floor: every config file loaded with libyaml's C loader, nothing else;
  - `mlplat validate`, `mlplat compile` and `mlplat plan`, each a fresh process, cold
    (no cache);
  - the same three after a one-file change, with the cache warm;
  - `mlplat watch` (one resident process): from a one-file change to its written plan.
Each figure is the median of --repeats runs (min-max in brackets) and the peak resident
memory of the process. Machines are noisy: compare ratios measured in the same run.

    python benchmarks/bench_scale.py                 # N = 10, 100, 1000
    python benchmarks/bench_scale.py --teams 10 100 --repeats 5
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate_org import generate

REPO = Path(__file__).resolve().parent.parent
MLPLAT = [sys.executable, "-m", "compiler.cli"]


@dataclass
class Sample:
    seconds: list[float] = field(default_factory=list)
    peak_mib: list[float] = field(default_factory=list)

    def add(self, seconds: float, peak_mib: float) -> None:
        self.seconds.append(seconds)
        self.peak_mib.append(peak_mib)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def cell(self) -> str:
        if not self.seconds:
            return "-"
        low, high = min(self.seconds), max(self.seconds)
        return f"{self.median:.2f} ({low:.2f}-{high:.2f})"

    def memory(self) -> str:
        return f"{max(self.peak_mib):.0f}" if self.peak_mib else "-"


def run(argv: list[str], cwd: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of one mlplat process; fails loudly on errors."""
    started = time.perf_counter()
    process = subprocess.Popen(
        [*MLPLAT, *argv],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO), "CI": "1"},
    )
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    out = process.stdout.read().decode() if process.stdout else ""
    err = process.stderr.read().decode() if process.stderr else ""
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"mlplat {' '.join(argv)} failed ({code}):\n{out}\n{err}")
    return seconds, usage.ru_maxrss / 1024


def parse_floor(configs: Path) -> float:
    files = sorted(configs.rglob("*.yaml"))
    started = time.perf_counter()
    for path in files:
        yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader)
    return time.perf_counter() - started


def touch_one_file(configs: Path) -> None:
    """The one-file change: the default of a team's first pipeline parameter grows by one.

    Every edit makes content no earlier run has seen, so nothing of the changed team can
    come from the cache (toggling between two values would find the old state cached).
    """
    path = sorted((configs / "teams").glob("*.yaml"))[0]
    text = path.read_text()
    found = re.search(r"default: (\d+)\n", text)
    assert found, path
    bumped = f"default: {int(found.group(1)) + 1}\n"
    path.write_text(text[: found.start()] + bumped + text[found.end() :])


def watch_rebuilds(configs: Path, build: Path, repeats: int) -> tuple[list[float], float]:
    """`mlplat watch` on `configs`: seconds from each one-file change to its result line
    (polling every 0.05 s included), and the watch process's peak RSS in MiB."""
    process = subprocess.Popen(
        [*MLPLAT, "watch", "--configs", str(configs), "--build-dir", str(build),
         "--interval", "0.05", "--builds", str(repeats + 1)],
        cwd=configs.parent,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "CI": "1"},
    )  # fmt: skip
    assert process.stdout is not None and process.stderr is not None

    def result_line() -> str:
        line = process.stdout.readline()  # type: ignore[union-attr]
        if not line.startswith("ok:"):
            process.kill()
            raise SystemExit(f"mlplat watch: {line}\n{process.stderr.read()}")  # type: ignore[union-attr]
        return line

    result_line()  # the first build (and the one-off warm-up after it)
    time.sleep(3)
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        touch_one_file(configs)
        result_line()
        seconds.append(time.perf_counter() - started)
        time.sleep(1)
    _, status, usage = os.wait4(process.pid, 0)
    process.stderr.read()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"mlplat watch exited with {os.waitstatus_to_exitcode(status)}")
    return seconds, usage.ru_maxrss / 1024


def set_aside(build: Path, trash: Path) -> None:
    """Start from no build folder without deleting the previous one yet.

    On this VM's file system (ext4 without a journal) creating files right after deleting
    tens of thousands is several times slower (the inode allocator skips recently freed
    inodes, and checks each): deleting the previous build before a cold run measured that
    clean-up rather than mlplat. A cold CI run starts from a fresh clone, with nothing just
    deleted; the folders set aside are deleted after the measurements of each N.
    """
    if build.exists():
        trash.mkdir(parents=True, exist_ok=True)
        build.rename(trash / f"build-{len(list(trash.iterdir()))}")


def bench(teams: int, repeats: int, work: Path) -> dict[str, Sample]:
    configs = generate(work / f"org{teams}" / "configs", teams)
    build = work / f"org{teams}" / "build"
    trash = work / f"org{teams}" / "set-aside"
    cwd = configs.parent
    results = {name: Sample() for name in (
        "parse floor", "validate", "compile", "plan", "validate (1 change)",
        "compile (1 change)", "plan (1 change)", "watch: plan (1 change)",
    )}  # fmt: skip
    base = ["--configs", str(configs)]
    out = ["--build-dir", str(build)]
    one = ["--env", "local"]  # validate checks every environment unless given one
    for round_ in range(repeats):
        set_aside(build, trash)  # cold: no cache, no previous build
        results["parse floor"].add(parse_floor(configs), 0)
        results["validate"].add(*run(["validate", *one, *base, *out, "--no-cache"], cwd))
        results["compile"].add(*run(["compile", *base, *out], cwd))
        set_aside(build, trash)
        results["plan"].add(*run(["plan", *base, *out], cwd))
        # warm: the cache and the previous build of the cold plan, then one team file edited
        touch_one_file(configs)
        results["validate (1 change)"].add(*run(["validate", *one, *base, *out], cwd))
        results["compile (1 change)"].add(*run(["compile", *base, *out], cwd))
        touch_one_file(configs)
        results["plan (1 change)"].add(*run(["plan", *base, *out], cwd))
        print(f"  N={teams}: round {round_ + 1}/{repeats} done", file=sys.stderr)
    # a resident `mlplat watch` on the same organisation and build folder, one change per round
    seconds, peak = watch_rebuilds(configs, build, repeats)
    for value in seconds:
        results["watch: plan (1 change)"].add(value, peak)
    print(f"  N={teams}: watch done", file=sys.stderr)
    shutil.rmtree(trash, ignore_errors=True)
    return results


def plan_resources(build: Path, env: str = "local") -> int:
    import json

    plan = json.loads((build / env / "plan.json").read_text())
    return int(plan["summary"]["resources"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", type=Path, help="keep the generated organisations here")
    args = parser.parse_args()
    work = args.keep or Path(tempfile.mkdtemp(prefix="mlplat-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(
        f"mlplat scale benchmark: {os.cpu_count()} cores, Python {sys.version.split()[0]}, "
        f"repeats={args.repeats}; medians in seconds (min-max), peak RSS in MiB\n"
    )
    rows = []
    for teams in args.teams:
        results = bench(teams, args.repeats, work)
        resources = plan_resources(work / f"org{teams}" / "build")
        rows.append((teams, results, resources))
    header = "| stage | " + " | ".join(f"N={t}" for t, _, _ in rows) + " | peak MiB |"
    print(header)
    print("|" + "---|" * (len(rows) + 2))
    for stage in rows[0][1]:
        cells = " | ".join(r[stage].cell() for _, r, _ in rows)
        print(f"| {stage} | {cells} | {rows[-1][1][stage].memory()} |")
    print("\nratios (same run):")
    for teams, results, resources in rows:
        floor = results["parse floor"].median
        print(
            f"  N={teams}: validate / parse floor = {results['validate'].median / floor:.2f}; "
            f"plan / resources = {results['plan'].median / resources * 1000:.2f} ms per resource "
            f"({resources} resources); incremental plan / full plan = "
            f"{results['plan (1 change)'].median / results['plan'].median:.2f}; "
            f"watch / full plan = "
            f"{results['watch: plan (1 change)'].median / results['plan'].median:.3f}"
        )
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
