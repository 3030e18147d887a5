"""map_unordered: every result once, on forked workers when it pays, and the caller's own
work (`meanwhile`) done while they run."""

from __future__ import annotations

from tests.helpers import run_fresh_python

# In a fresh interpreter: forking is only used while the process has one thread.
MEANWHILE = """
import json, os, time
from compiler.workers import map_unordered

parent = os.getpid()

def slow(n):
    time.sleep(0.3)
    return n, os.getpid(), time.monotonic()

def meanwhile():
    calls.append(time.monotonic())

report = {}
for jobs, label in ((2, "parallel"), (1, "sequential")):
    calls = []
    results = list(map_unordered(slow, list(range(4)), jobs, meanwhile=meanwhile))
    report[label] = {
        "results": sorted(n for n, _, _ in results),
        "meanwhile calls": len(calls),
        "in workers": all(pid != parent for _, pid, _ in results),
        "meanwhile before the last result": calls[0] < max(t for _, _, t in results),
    }
print(json.dumps(report))
"""


def test_meanwhile_runs_once_while_the_workers_run_or_first_without_them():
    report = run_fresh_python(MEANWHILE)
    assert report["parallel"] == {
        "results": [0, 1, 2, 3],
        "meanwhile calls": 1,
        "in workers": True,
        "meanwhile before the last result": True,
    }
    assert report["sequential"] == {
        "results": [0, 1, 2, 3],
        "meanwhile calls": 1,
        "in workers": False,
        "meanwhile before the last result": True,
    }


FORKED = """
import json, os, threading, time
from compiler.workers import fork_safe, map_unordered

parent = os.getpid()

def slow(n):
    time.sleep(0.3)
    return n, os.getpid()

def broken(n):
    raise ValueError(f"no {n}")

seen = {}

def meanwhile():  # may fork workers of its own while the single task runs
    seen["threads"] = threading.active_count()
    seen["fork_safe"] = fork_safe()
    seen["inner"] = sorted(r[0] for r in map_unordered(slow, [1, 2], 2))

started = time.monotonic()
((n, pid),) = list(map_unordered(slow, [7], 2, min_batch=1, meanwhile=meanwhile))
took = time.monotonic() - started
try:
    list(map_unordered(broken, [3], 2, min_batch=1, meanwhile=lambda: None))
    error = None
except ValueError as exc:
    error = str(exc)
print(json.dumps({"n": n, "child": pid != parent, "overlapped": took < 0.55, "error": error,
                  **seen}))
"""


def test_a_single_task_runs_in_a_forked_process_while_the_caller_forks_its_own_workers():
    """`plan` runs a pull request's few teams through the program this way while it compiles
    on workers of its own: no pool threads in the caller, so it may fork again."""
    found = run_fresh_python(FORKED)
    assert found == {
        "n": 7, "child": True, "overlapped": True, "error": "no 3",
        "threads": 1, "fork_safe": True, "inner": [1, 2],
    }  # fmt: skip
