"""Golden files: the compiled Feast repository of the example organisation, per environment
(tests/golden/features/<env>/). `make golden` (MLPLAT_UPDATE_GOLDEN=1) rewrites them."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from compiler.features.repo import REPO_DIR, render_repo
from compiler.frontend import load_platform
from tests.conftest import CONFIGS
from tests.helpers import apply_edits

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "features"
UPDATE = os.environ.get("MLPLAT_UPDATE_GOLDEN") == "1"


@pytest.mark.golden
@pytest.mark.parametrize("env", ["local", "prod"])
def test_compiled_repository_matches_golden(example_ir, env):
    files = render_repo(example_ir(env).ir)
    produced = {Path(rel).relative_to(REPO_DIR).as_posix(): text for rel, text in files.items()}
    folder = GOLDEN / env
    if UPDATE:
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        for name, text in produced.items():
            (folder / name).write_text(text, encoding="utf-8")
    expected = {p.name: p.read_text(encoding="utf-8") for p in sorted(folder.iterdir())}
    assert produced == expected


def test_same_ir_gives_the_same_bytes(example_ir):
    ir = example_ir("local").ir
    assert render_repo(ir) == render_repo(load_platform(CONFIGS, ["env=local"]).ir)


def test_a_shared_view_is_imported_from_its_team(configs):
    case = {
        "write": {
            "file": "teams/fraud-features.yaml",
            "text": "owners: [alice.martin@acme.example]\ncost_center: CC-1043\n"
            "quotas: {cpu: '2', memory: 4Gi}\nfeature_services:\n  card-facts:\n"
            "    features:\n      - {view: card-profile, team: chargeback}\n",
        },
        "replace": {
            "file": "teams/chargeback.yaml",
            "old": "shared_with: [fraud]",
            "new": "shared_with: [fraud, fraud-features]",
        },
    }
    apply_edits(configs, case)
    result = load_platform(configs)
    assert result.ok, [d.render() for d in result.diagnostics]
    module = render_repo(result.ir)[f"{REPO_DIR}/features_fraud_features.py"]
    assert "from features_chargeback import view_chargeback__card_profile\n" in module
    assert 'view_chargeback__card_profile[["card_age_days", "credit_limit"]],' in module
    service = result.ir.teams["fraud-features"].feature_services["card-facts"]
    assert service.join_keys == {"card_id": "int64"}
    assert [f.name for f in service.features] == ["card_age_days", "credit_limit"]


def test_an_org_without_features_has_no_repository(configs):
    apply_edits(configs, {"delete": "teams/chargeback.yaml"})
    result = load_platform(configs)
    assert result.ok and result.ir is not None and result.ir.feature_store is None
    assert render_repo(result.ir) == {}
