"""Export the JSON Schema of the spec language; `schemas/json/` holds the committed copy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from schemas.platform import RootSpec
from schemas.policy import PolicySpec
from schemas.team import TeamSpec
from schemas.types import SpecModel


class PoliciesFile(SpecModel):
    """`configs/policies.yaml`: the organisation's policies, listed in platform.yaml's defaults."""

    policies: PolicySpec


JSON_DIR = Path(__file__).parent / "json"
_ENV_NOTE = (
    "An environment overlay (configs/env/<name>.yaml): same keys as platform.yaml, every one "
    "optional, plus 'teams' to change a team's spec in this environment."
)


def _loosen(schema: dict[str, Any]) -> dict[str, Any]:
    """An overlay may set any subset of keys: drop 'required' everywhere."""
    if isinstance(schema, dict):
        return {k: _loosen(v) for k, v in schema.items() if k != "required"}
    if isinstance(schema, list):
        return [_loosen(v) for v in schema]
    return schema


def _dump(schema: dict[str, Any]) -> str:
    return json.dumps(schema, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def export_schemas() -> dict[str, str]:
    """File name → JSON text for the root config, a team file and an environment overlay."""
    root = RootSpec.model_json_schema()
    root["properties"]["defaults"] = {
        "type": "array",
        "description": "Hydra defaults list: '_self_' and the environment overlay, e.g. '- env: local'.",
    }
    root["required"] = [k for k in root.get("required", []) if k != "environment"]  # set by env/
    root["title"] = "mlplat platform.yaml"
    team = TeamSpec.model_json_schema()
    team["title"] = "mlplat team file"
    env = _loosen(RootSpec.model_json_schema())
    env["properties"]["teams"] = {
        "type": "object",
        "description": "Per-team changes for this environment: teams: {<team>: {...team keys...}}",
        "additionalProperties": {"type": "object"},
    }
    env["title"] = "mlplat environment overlay"
    env["description"] = _ENV_NOTE
    fragment = _loosen(TeamSpec.model_json_schema())
    fragment["title"] = "mlplat team folder file"
    fragment["description"] = (
        "One file of a team folder (configs/teams/<team>/*.yaml): any subset of a team's keys; "
        "the folder's files are merged and a key may be set in only one of them."
    )
    policies = PoliciesFile.model_json_schema()
    policies["title"] = "mlplat policies.yaml"
    for schema in (root, team, fragment, env, policies):
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    return {
        "platform.schema.json": _dump(root),
        "team.schema.json": _dump(team),
        "team-fragment.schema.json": _dump(fragment),
        "env.schema.json": _dump(env),
        "policies.schema.json": _dump(policies),
    }


def write_schemas(folder: Path = JSON_DIR) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in export_schemas().items():
        path = folder / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_schemas():
        print(path)
