"""Workers load and validate the teams of a large organisation: same IR, same diagnostics."""

from __future__ import annotations

from benchmarks.generate_org import generate
from tests.helpers import run_fresh_python

# A fresh interpreter: workers are forked only while the process runs a single thread.
CHECK = """
import json, sys
from compiler import compose
from compiler.frontend import load_platform
compose.PARALLEL_MIN_TEAMS = 8
out = {}
for jobs in (1, 2):
    result = load_platform(sys.argv[1], jobs=jobs)
    out[jobs] = {
        "ir": result.ir.canonical_json() if result.ir else None,
        "diagnostics": [d.render() for d in sorted(result.diagnostics, key=lambda d: (d.span.file, d.span.line, d.code))],
        "prevalidated": len(result.composed.prevalidated),
    }
print(json.dumps(out))
"""


def _run(configs) -> dict:
    return dict(run_fresh_python(CHECK, str(configs)))


def test_parallel_loading_gives_the_same_ir(tmp_path):
    configs = generate(tmp_path / "configs", teams=12, seed=9)
    out = _run(configs)
    assert out["1"]["ir"] is not None
    assert out["2"]["ir"] == out["1"]["ir"]
    assert out["2"]["prevalidated"] == out["1"]["prevalidated"] == 12


def test_teams_with_problems_are_explained_the_same_way(tmp_path):
    configs = generate(tmp_path / "configs", teams=12, seed=9)
    broken = sorted((configs / "teams").glob("*.yaml"))[3]
    broken.write_text(broken.read_text().replace("cost_center:", "cost_centre:", 1))
    duplicate = sorted((configs / "teams").glob("*.yaml"))[7]
    duplicate.write_text(duplicate.read_text() + "owners: [again@acme.example]\n")
    out = _run(configs)
    assert out["2"]["diagnostics"] == out["1"]["diagnostics"]
    codes = " ".join(out["2"]["diagnostics"])
    assert (
        "error[E101]: unknown key 'cost_centre'" in codes
        and "error[E002]: duplicate key 'owners'" in codes
    )
    assert out["2"]["prevalidated"] == 10
