"""A validation's verdict is served from the cache only when nothing it read changed, with
the same report, and without loading the schemas; failures are always checked again."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import date
from pathlib import Path

import compiler.cache
import compiler.verdict
from compiler.cache import BuildCache
from compiler.diagnostics import Diagnostic, Severity, Span
from compiler.verdict import STAGE, Verdict, recall, remember, verdict_key
from tests.conftest import REPO

VALIDATE = """
import sys
from compiler.cli import main
code = main(sys.argv[1:])
loaded = sorted({m.split('.')[0] for m in sys.modules} & {'schemas', 'pydantic', 'hydra', 'omegaconf', 'pyarrow'})
print("exit", code, "loaded", ",".join(loaded) or "-")
"""


def _validate(configs: Path, build: Path, *argv: str) -> tuple[str, str]:
    done = subprocess.run(
        [sys.executable, "-c", VALIDATE, "validate", "--configs", str(configs), "--build-dir",
         str(build), "--no-color", *argv],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    out = re.sub(r"in \d+\.\d+s", "in <seconds>", done.stdout)
    return out, done.stderr


def test_an_unchanged_organisation_is_answered_from_the_cache_without_the_schemas(
    configs, tmp_path
):
    build = tmp_path / "build"
    first, first_err = _validate(configs, build, "--env", "prod")
    second, second_err = _validate(configs, build, "--env", "prod")
    assert first.splitlines()[0].startswith("ok: environment 'prod' is valid (5 teams")
    assert first.splitlines()[-1] == "exit 0 loaded hydra,omegaconf,pyarrow,pydantic,schemas"
    assert second.splitlines()[:-1] == first.splitlines()[:-1]
    assert second_err == first_err  # the same warnings, in the same words
    assert second.splitlines()[-1] == "exit 0 loaded -"
    every, _ = _validate(configs, build)  # every environment: a verdict of its own
    assert every.splitlines()[-1].endswith("schemas")
    again, _ = _validate(configs, build)
    assert again.splitlines()[0] == every.splitlines()[0]
    assert again.splitlines()[-1] == "exit 0 loaded -"


def test_an_edited_file_is_validated_again_and_a_failure_is_never_kept(configs, tmp_path):
    build = tmp_path / "build"
    _validate(configs, build, "--env", "prod")
    fraud = configs / "teams" / "fraud.yaml"
    fraud.write_text(fraud.read_text().replace("memory: 96Gi", "memory: lots"))
    for _ in range(2):
        out, err = _validate(configs, build, "--env", "prod")
        assert re.fullmatch(r"exit 1 loaded .*schemas", out.splitlines()[-1])
        assert "error[E106]" in err and "teams/fraud.yaml:11:" in err
    added = configs / "env" / "notes.txt"  # any file under configs/ is part of the key
    fraud.write_text(fraud.read_text().replace("memory: lots", "memory: 96Gi"))
    _validate(configs, build, "--env", "prod")
    added.write_text("not a spec\n")
    out, _ = _validate(configs, build, "--env", "prod")
    assert re.fullmatch(r"exit 0 loaded .*schemas", out.splitlines()[-1])


def test_the_key_covers_the_date_the_environments_and_the_overrides(configs, monkeypatch):
    key = verdict_key(configs, ["prod"], [])
    assert verdict_key(configs, ["prod"], []) == key
    assert verdict_key(configs, ["dev"], []) != key
    assert verdict_key(configs, ["prod"], ["platform.region=us-east-1"]) != key

    class Tomorrow(date):
        @classmethod
        def today(cls) -> date:
            return date(2999, 1, 1)  # a policy exception may have expired since

    monkeypatch.setattr(compiler.verdict, "date", Tomorrow)
    assert verdict_key(configs, ["prod"], []) != key


def test_a_changed_source_file_is_not_served_a_stale_verdict(tmp_path, monkeypatch):
    """Validation checks feature sources' columns: their bytes are checked after the lookup."""
    monkeypatch.setattr(compiler.cache, "REPO", tmp_path)
    monkeypatch.setattr(compiler.verdict, "REPO", tmp_path)
    data = tmp_path / "components" / "rows.parquet"
    data.parent.mkdir(parents=True)
    data.write_bytes(b"PAR1 first")
    cache = BuildCache(tmp_path / "cache")
    warning = Diagnostic(
        "G110", "a warning", Span("teams/a.yaml", 3, 5), "a hint", Severity.WARNING
    )
    remember(cache, "k", Verdict([warning], {"prod": "1 teams"}), ["components/rows.parquet"])
    assert recall(cache, "k") == Verdict([warning], {"prod": "1 teams"})
    data.write_bytes(b"PAR1 second")
    assert recall(cache, "k") is None
    error = Diagnostic("E106", "bad", Span("teams/a.yaml", 3, 5))
    remember(cache, "e", Verdict([error], {}), [])
    assert cache.get(STAGE, "e") is None


def test_hydras_composition_and_source_columns_come_from_the_cache_and_follow_edits(
    configs, tmp_path
):
    """After one validation, an edited team file is validated again with the schemas, but
    neither Hydra (the composition of platform.yaml and the overlay) nor pyarrow (the feature
    sources' columns) is loaded; an edited overlay is composed again."""
    build = tmp_path / "build"
    _validate(configs, build, "--env", "prod")
    fraud = configs / "teams" / "fraud.yaml"
    fraud.write_text(fraud.read_text().replace("memory: 96Gi", "memory: 95Gi"))
    out, _ = _validate(configs, build, "--env", "prod")
    assert out.splitlines()[-1] == "exit 0 loaded pydantic,schemas"
    overlay = configs / "env" / "prod.yaml"
    text = overlay.read_text()
    assert text.count("gpu-t4: {min_size: 2, max_size: 8}") == 1
    overlay.write_text(
        text.replace("gpu-t4: {min_size: 2, max_size: 8}", "gpu-t4: {min_size: 9, max_size: 8}")
    )
    out, err = _validate(configs, build, "--env", "prod")
    assert out.splitlines()[-1].startswith("exit 1 loaded hydra")
    assert "env/prod.yaml:17:" in err
