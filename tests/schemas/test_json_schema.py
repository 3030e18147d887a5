"""The committed JSON Schema matches the models, and every example file is wired to it."""

from __future__ import annotations

import re
from pathlib import Path

import jsonschema
import pytest
import yaml

from compiler.yaml_source import parse_yaml
from schemas.export import JSON_DIR, export_schemas
from tests.conftest import CONFIGS

MODELINE = re.compile(r"^# yaml-language-server: \$schema=(\S+)$", re.MULTILINE)
CONFIG_FILES = sorted(CONFIGS.rglob("*.yaml"))


def test_committed_json_schema_matches_the_models():
    exported = export_schemas()
    committed = {p.name: p.read_text(encoding="utf-8") for p in JSON_DIR.glob("*.json")}
    assert committed == exported, "schemas/json/ is stale: run `make schemas` and commit the result"


@pytest.mark.parametrize(
    "path", CONFIG_FILES, ids=[str(p.relative_to(CONFIGS)) for p in CONFIG_FILES]
)
def test_each_config_file_validates_against_the_schema_its_modeline_names(path: Path):
    text = path.read_text(encoding="utf-8")
    match = MODELINE.search(text)
    assert match, f"{path} has no yaml-language-server modeline"
    schema_path = (path.parent / match.group(1)).resolve()
    assert schema_path.parent == JSON_DIR.resolve() and schema_path.is_file()
    schema = yaml.safe_load(schema_path.read_text())
    data = parse_yaml(text, str(path)).data or {}  # YAML as editors see it: dates stay strings
    data.pop("defaults", None) if path.name == "platform.yaml" else None
    jsonschema.validate(data, schema, cls=jsonschema.Draft202012Validator)


def test_the_schema_rejects_an_unknown_key():
    schema = yaml.safe_load((JSON_DIR / "team.schema.json").read_text())
    bad = {
        "owners": ["a@acme.example"],
        "cost_center": "CC-1000",
        "quotas": {"cpu": "1", "memory": "1Gi"},
        "ownr": 1,
    }
    with pytest.raises(jsonschema.ValidationError, match="ownr"):
        jsonschema.validate(bad, schema, cls=jsonschema.Draft202012Validator)
