"""CODEOWNERS follows ownership in the specs, and the committed file is never stale."""

from __future__ import annotations

import re

from compiler.cli import main
from compiler.codeowners import render_codeowners
from tests.conftest import REPO


def test_committed_codeowners_is_up_to_date(monkeypatch, capsys):
    monkeypatch.chdir(REPO)
    assert main(["codeowners", "--check"]) == 0, capsys.readouterr().err


def test_team_lines_come_before_platform_lines(example_ir):
    text = render_codeowners(example_ir("local").ir, "configs", {"fraud"})
    lines = [line.split() for line in text.splitlines() if line and not line.startswith("#")]
    order = [parts[0] for parts in lines]
    assert order[0] == "*"
    assert order.index("/configs/teams/fraud.yaml") < order.index("/configs/policies.yaml")
    owners = dict((parts[0], parts[1:]) for parts in lines)
    assert owners["/configs/teams/recsys/"] == [
        "carol.diaz@acme.example",
        "dan.okafor@acme.example",
    ]
    assert owners["/components/fraud/"] == ["alice.martin@acme.example", "bob.chen@acme.example"]
    assert "/components/search/" not in owners  # no step code for that team in this call
    assert owners["/configs/env/"] == ["platform-team@acme.example"]


def test_a_new_team_makes_the_committed_file_stale(configs, tmp_path, monkeypatch, capsys):
    out = tmp_path / ".github" / "CODEOWNERS"
    monkeypatch.chdir(tmp_path)
    assert main(["codeowners", "--configs", str(configs), "--out", str(out)]) == 0
    assert main(["codeowners", "--configs", str(configs), "--out", str(out), "--check"]) == 0
    (configs / "teams" / "vision.yaml").write_text(
        "owners: [vi@acme.example]\ncost_center: CC-4000\nquotas: {cpu: '4', memory: 8Gi}\n"
    )
    assert main(["codeowners", "--configs", str(configs), "--out", str(out), "--check"]) == 1
    assert "out of date" in capsys.readouterr().err
    assert main(["codeowners", "--configs", str(configs), "--out", str(out)]) == 0
    assert re.search(r"^/configs/teams/vision\.yaml +vi@acme\.example$", out.read_text(), re.M)


def test_a_hyphenated_team_owns_its_package_folder(configs):
    from compiler.frontend import load_platform

    (configs / "teams" / "credit-risk.yaml").write_text(
        "owners: [risk@acme.example]\ncost_center: CC-4000\nquotas: {cpu: '4', memory: 8Gi}\n"
    )
    ir = load_platform(configs, ["env=local"]).ir
    assert ir is not None
    text = render_codeowners(ir, "configs", {"fraud", "credit_risk"})
    owners = {
        p[0]: p[1:] for p in (line.split() for line in text.splitlines()) if p and p[0][0] == "/"
    }
    assert owners["/components/credit_risk/"] == ["risk@acme.example"]
    assert "/components/credit-risk/" not in owners
