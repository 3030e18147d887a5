"""What a security-baseline check declares (a rule) and what it reports (a violation).

Checks are plain functions from a `PlanView` to violations; `baseline.py` turns violations
into diagnostics located at the YAML of the spec object they concern.
"""

from __future__ import annotations

from dataclasses import dataclass

from compiler.diagnostics import Severity
from compiler.yaml_source import Path_


@dataclass(frozen=True, slots=True)
class Rule:
    code: str
    """Stable id (S1xx storage, S2xx identity, S3xx cluster, S4xx node groups, S5xx
    namespaces and RBAC, S6xx pod templates, S7xx feature store); also a key of diagnostics.CODES."""
    name: str
    """Short kebab-case name, shown in messages as `[name]`."""
    title: str
    """One line: what is wrong when the rule fails."""
    help: str
    """Why the rule exists and how to fix a violation (SARIF help, README)."""
    severity: Severity = Severity.ERROR


@dataclass(frozen=True, slots=True)
class Violation:
    code: str
    subject: str
    """The spec object in the user's words: "bucket 'datasets'", "team 'fraud'"."""
    problem: str
    path: Path_
    """Config path of the spec object (or of the field at fault), for the location."""
    resource: str = ""
    """The planned resource at fault, `<type> <name>`, for the diagnostic's note."""
    hint: str | None = None
    at_key: bool = True
