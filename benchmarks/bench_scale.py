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
    peak_pss_mib: list[float] = field(default_factory=list)

    def add(self, seconds: float, peak_mib: float, peak_pss_mib: float = 0.0) -> None:
        self.seconds.append(seconds)
        self.peak_mib.append(peak_mib)
        self.peak_pss_mib.append(peak_pss_mib)

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

    def proportional(self) -> str:
        return f"{max(self.peak_pss_mib):.0f}" if any(self.peak_pss_mib) else "-"


PAGE = os.sysconf("SC_PAGE_SIZE")


def process_tree(root: int) -> list[int]:
    """`root` and every process below it (the planner and its forked workers)."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stat:
                ppid = int(stat.read().rsplit(b")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def resident_mib(pids: list[int]) -> float:
    """Summed resident memory of `pids`: pages a forked worker shares with the planner count
    in both (an upper bound of what they use together)."""
    pages = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/statm", "rb") as statm:
                pages += int(statm.read().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return pages * PAGE / 2**20


def proportional_mib(pids: list[int]) -> float:
    """Summed proportional set size of `pids` (`Pss` of /proc/<pid>/smaps_rollup): a page
    shared by k processes counts 1/k in each, so the sum is the memory they use together."""
    kib = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
                for line in rollup:
                    if line.startswith(b"Pss:"):
                        kib += int(line.split()[1])
                        break
        except (OSError, IndexError, ValueError):
            continue
    return kib / 1024


def run(argv: list[str], cwd: Path) -> tuple[float, float, float]:
    """Wall seconds (the exit seen within 0.01 s) and peak memory (MiB) of one mlplat process
    and its workers: resident sets summed (sampled every 0.1 s, never below the largest
    process's own peak) and proportional sets summed (sampled every 0.5 s); fails loudly on
    errors."""
    started = time.perf_counter()
    # files, not pipes: a process that writes more than a pipe holds never blocks on it
    stdout, stderr = tempfile.TemporaryFile(), tempfile.TemporaryFile()  # noqa: SIM115
    process = subprocess.Popen(
        [*MLPLAT, *argv],
        cwd=cwd,
        stdout=stdout,
        stderr=stderr,
        env={**os.environ, "PYTHONPATH": str(REPO), "CI": "1"},
    )
    peak = pss = 0.0
    polls = 0
    while True:  # the end is seen within 0.01 s; memory is sampled every 0.1 s
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        if polls % 10 == 0:
            tree = process_tree(process.pid)
            peak = max(peak, resident_mib(tree))
            if polls % 50 == 0:  # smaps_rollup walks page tables: every 0.5 s only
                pss = max(pss, proportional_mib(tree))
        polls += 1
        time.sleep(0.01)
    seconds = time.perf_counter() - started
    stdout.seek(0)
    stderr.seek(0)
    out, err = stdout.read().decode(), stderr.read().decode()
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise SystemExit(f"mlplat {' '.join(argv)} failed ({code}):\n{out}\n{err}")
    return seconds, max(peak, usage.ru_maxrss / 1024), pss


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
    errors = tempfile.TemporaryFile()  # noqa: SIM115 - a file, not a pipe: never blocks
    process = subprocess.Popen(
        [*MLPLAT, "watch", "--configs", str(configs), "--build-dir", str(build),
         "--interval", "0.05", "--builds", str(repeats + 1)],
        cwd=configs.parent,
        stdout=subprocess.PIPE,
        stderr=errors,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO), "CI": "1"},
    )  # fmt: skip
    assert process.stdout is not None

    def result_line() -> str:
        line = process.stdout.readline()  # type: ignore[union-attr]
        if not line.startswith("ok:"):
            process.kill()
            errors.seek(0)
            raise SystemExit(f"mlplat watch: {line}\n{errors.read().decode()}")
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


STAGES = (
    "parse floor", "validate", "compile", "plan", "validate (no change)",
    "validate (1 change)", "plan (1 change)", "compile (1 change)", "watch: plan (1 change)",
)  # fmt: skip


def bench(teams: int, repeats: int, work: Path) -> dict[str, Sample]:
    configs = generate(work / f"org{teams}" / "configs", teams)
    build = work / f"org{teams}" / "build"
    trash = work / f"org{teams}" / "set-aside"
    cwd = configs.parent
    results = {name: Sample() for name in STAGES}
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
        # what a pull request sees: the cache and the build of the base (the cold plan)
        run(["validate", *one, *base, *out], cwd)  # a validation of this very state, then:
        results["validate (no change)"].add(*run(["validate", *one, *base, *out], cwd))
        touch_one_file(configs)
        results["validate (1 change)"].add(*run(["validate", *one, *base, *out], cwd))
        touch_one_file(configs)
        results["plan (1 change)"].add(*run(["plan", *base, *out], cwd))
        touch_one_file(configs)
        results["compile (1 change)"].add(*run(["compile", *base, *out], cwd))
        print(f"  N={teams}: round {round_ + 1}/{repeats} done", file=sys.stderr)
    # a resident `mlplat watch` on the same organisation and build folder, one change per round
    seconds, peak = watch_rebuilds(configs, build, repeats)
    for value in seconds:
        results["watch: plan (1 change)"].add(value, peak)
    print(f"  N={teams}: watch done", file=sys.stderr)
    shutil.rmtree(trash, ignore_errors=True)
    return results


def lifecycle(configs: Path) -> dict[str, int]:
    """How much of the lifecycle the generated organisation holds (counted in its team files)."""
    counts = dict.fromkeys(
        ("teams", "pipelines", "feature views", "feature services", "distributed steps",
         "sweeps", "monitored endpoints"), 0,
    )  # fmt: skip
    for path in sorted((configs / "teams").glob("*.yaml")):
        team = yaml.load(path.read_bytes(), Loader=yaml.CSafeLoader) or {}
        pipelines = team.get("pipelines") or {}
        counts["teams"] += 1
        counts["pipelines"] += len(pipelines)
        counts["feature views"] += len(team.get("feature_views") or {})
        counts["feature services"] += len(team.get("feature_services") or {})
        for pipeline in pipelines.values():
            counts["sweeps"] += "tuning" in pipeline
            steps = (pipeline.get("steps") or {}).values()
            counts["distributed steps"] += sum("distributed" in step for step in steps)
        endpoints = (team.get("endpoints") or {}).values()
        counts["monitored endpoints"] += sum("monitoring" in e for e in endpoints)
    return counts


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
        counts = lifecycle(work / f"org{teams}" / "configs")
        rows.append((teams, results, resources, counts))
    header = (
        "| stage | "
        + " | ".join(f"N={t}" for t, *_ in rows)
        + " | peak MiB, RSS summed | peak MiB, PSS summed |"
    )
    print(header)
    print("|" + "---|" * (len(rows) + 3))
    for stage in STAGES:
        cells = " | ".join(r[stage].cell() for _, r, *_ in rows)
        largest = rows[-1][1][stage]
        print(f"| {stage} | {cells} | {largest.memory()} | {largest.proportional()} |")
    print("\nthe generated organisations (resources: planned by `mlplat plan --env local`):")
    for teams, _, resources, counts in rows:
        shown = ", ".join(f"{value:,} {name}" for name, value in counts.items())
        print(f"  N={teams}: {shown}; {resources:,} resources")
    print("\nratios (same run):")
    for teams, results, resources, _ in rows:
        floor = results["parse floor"].median
        print(
            f"  N={teams}: validate / parse floor = {results['validate'].median / floor:.2f}; "
            f"plan / resources = {results['plan'].median / resources * 1000:.2f} ms per resource "
            f"({resources} resources); incremental plan / full plan = "
            f"{results['plan (1 change)'].median / results['plan'].median:.2f}; "
            f"watch / full plan = "
            f"{results['watch: plan (1 change)'].median / results['plan'].median:.3f}"
        )
    by_size = {teams: results for teams, results, *_ in rows}
    for small, large in zip(sorted(by_size), sorted(by_size)[1:], strict=False):
        for stage in ("plan (1 change)", "validate (1 change)", "plan"):
            ratio = by_size[large][stage].median / by_size[small][stage].median
            print(f"  {stage}: N={large} / N={small} = {ratio:.2f}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
