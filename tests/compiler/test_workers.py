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
