"""Diagnostics as SARIF 2.1.0, for GitHub code scanning (github/codeql-action/upload-sarif).

One run whose driver lists every rule: the organisation policies (G), the security baseline
(S) and any other code that appears in the results. Each result points at the YAML line of
the spec object, with a URI relative to the repository root (GitHub resolves it against the
checkout) and a fingerprint from its rule and message, so an alert follows its finding when
lines move. The output is deterministic: sorted keys, sorted results, no timestamps.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from compiler.diagnostics import CODES, Diagnostic, Severity, sort_key
from compiler.policy.baseline import RULES
from compiler.policy.org import POLICY_CODES

SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
SARIF_VERSION = "2.1.0"
SOURCE_ROOT = "%SRCROOT%"
TOOL = "mlplat"
FINGERPRINT = "mlplatFinding/v1"
_POLICY_NAMES = {code: name for name, code in POLICY_CODES.items()}
ORG_POLICY_HELP = (
    "Organisation policy declared in configs/policies.yaml. A team may be exempted by an "
    "exception with a reason, an approver and an expiry date."
)


def repository_root(start: Path) -> Path:
    """The nearest folder above `start` holding `.git` (the folder itself if none)."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    return start


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def rule_descriptor(code: str) -> dict[str, Any]:
    title = CODES.get(code, code)
    level = "error"
    tags = ["mlplat"]
    if code in RULES:
        rule = RULES[code]
        name, help_text = rule.name, rule.help
        level = "warning" if rule.severity is Severity.WARNING else "error"
        tags.append("security")
    elif code in _POLICY_NAMES:
        name, help_text = _POLICY_NAMES[code], ORG_POLICY_HELP
        level = "warning" if code == "G113" else "error"
        tags.append("policy")
    else:
        name, help_text = _slug(title), title
    return {
        "id": code,
        "name": name,
        "shortDescription": {"text": title},
        "fullDescription": {"text": help_text},
        "help": {"text": help_text},
        "defaultConfiguration": {"level": level},
        "properties": {"tags": tags},
    }


def _uri(file: str, root: Path, cwd: Path) -> str:
    path = Path(file)
    absolute = path if path.is_absolute() else cwd / path
    try:
        return absolute.resolve().relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def to_sarif(
    diagnostics: Sequence[Diagnostic],
    *,
    root: Path,
    cwd: Path | None = None,
    fallback_file: str,
    category: str,
    version: str,
) -> dict[str, Any]:
    """The SARIF log of `diagnostics`.

    `root` is the repository root URIs are relative to, `cwd` the folder diagnostic paths are
    relative to, `fallback_file` where findings without a file (command line) are shown,
    `category` distinguishes runs of different environments in code scanning.
    """
    cwd = cwd or Path.cwd()
    codes = sorted({*RULES, *_POLICY_NAMES, *(d.code for d in diagnostics)})
    index = {code: i for i, code in enumerate(codes)}
    results = []
    for diagnostic in sorted(diagnostics, key=sort_key):
        span = diagnostic.span
        file, line, column = span.file, span.line, span.col
        if file.startswith("<"):
            file, line, column = fallback_file, 1, 1
        text = "\n".join([diagnostic.message, *diagnostic.notes])
        digest = hashlib.sha256(f"{diagnostic.code}\0{diagnostic.message}".encode()).hexdigest()
        results.append(
            {
                "ruleId": diagnostic.code,
                "ruleIndex": index[diagnostic.code],
                "level": "error" if diagnostic.severity is Severity.ERROR else "warning",
                "message": {"text": text},
                "locations": [
                    {
                        "physicalLocation": {
                            "artifactLocation": {
                                "uri": _uri(file, root, cwd),
                                "uriBaseId": SOURCE_ROOT,
                            },
                            "region": {"startLine": max(line, 1), "startColumn": max(column, 1)},
                        }
                    }
                ],
                "partialFingerprints": {FINGERPRINT: digest},
            }
        )
    run = {
        "tool": {
            "driver": {
                "name": TOOL,
                "version": version,
                "rules": [rule_descriptor(code) for code in codes],
            }
        },
        "automationDetails": {"id": f"{category}/"},
        "columnKind": "unicodeCodePoints",
        "results": results,
    }
    return {"$schema": SARIF_SCHEMA, "version": SARIF_VERSION, "runs": [run]}


def render_sarif(log: dict[str, Any]) -> str:
    return json.dumps(log, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
