"""Diagnostics are values: a stable code, a severity, a message, a hint and a source span.

Every stage returns them instead of raising; the CLI renders them once, as
``file:line:col: error[CODE]: message`` plus the hint (text), or as JSON.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


# Stable codes: tests, docs and users' CI filters depend on them. Never renumber.
CODES: dict[str, str] = {
    "E001": "YAML syntax error",
    "E002": "duplicate key",
    "E003": "input exceeds a limit (size, depth, aliases)",
    "E004": "file or folder layout problem",
    "E005": "a file cannot be written or read (disk full, permissions, read-only)",
    "E010": "invalid command-line override",
    "E011": "override matches nothing",
    "E012": "unknown environment",
    "E013": "config composition failed",
    "E014": "interpolation calls a resolver (environment, files or Hydra)",
    "E015": "defaults entry outside configs/, or Hydra configured from a config file",
    "E016": "symbolic link leads outside the repository",
    "E100": "invalid value",
    "E101": "unknown key",
    "E102": "missing required key",
    "E103": "wrong type",
    "E104": "value not among the allowed choices",
    "E105": "invalid name",
    "E106": "invalid quantity",
    "E107": "invalid cron schedule",
    "E108": "invalid duration",
    "E201": "duplicate name",
    "E202": "reference to something that does not exist",
    "E203": "dependency cycle between steps",
    "E204": "workload does not fit its node pool",
    "E205": "team quota exceeded",
    "E206": "team quota exceeds cluster capacity",
    "E207": "unknown instance type",
    "E208": "node pool GPU does not match the instance catalog",
    "E209": "secret value written inline",
    "E210": "type mismatch between connected steps",
    "E211": "python step function not found or does not match",
    "E212": "pipeline rejected by the Kubeflow Pipelines compiler",
    "E225": "python step function outside its team's package",
    "E300": "feature view names an entity that does not exist",
    "E301": "feature view names a source that does not exist",
    "E302": "reference to a feature view or team that does not exist",
    "E303": "feature service selects a feature its view does not have",
    "E304": "feature view of another team that does not share it",
    "E305": "feature service that the team does not declare",
    "E306": "training/serving skew: endpoint features differ from the model's training features",
    "E307": "feature type or column does not match the source",
    "E308": "two features of one service share a name",
    "E309": "feature source file or training frame cannot be used",
    "E310": "endpoint reads a feature view that is not kept online",
    "E311": "local endpoint cannot read its online features",
    "E312": "local feature store could not be applied or materialized",
    "E313": "local feature server failed to start",
    "E314": "on-demand view reads something that is not a feature view of its team",
    "E315": "on-demand feature expression is not arithmetic over its inputs",
    "E316": "on-demand feature expression reads an unknown input",
    "E317": "source written by a step output that is not a Dataset of the team",
    "E320": "invalid elastic bounds of a distributed step",
    "E321": "distributed job does not fit its node pool",
    "E322": "nccl backend without GPUs",
    "E323": "more processes per worker than GPUs",
    "E324": "elastic distributed job in an environment that cannot run one",
    "E330": "sweep refers to a parameter or step that does not exist",
    "E331": "invalid search range",
    "E332": "sweep objective not produced by its step",
    "E333": "invalid sweep settings",
    "E334": "searched parameter does not feed the objective step",
    "E340": "monitored endpoint without reference data",
    "E341": "monitoring reference does not exist or is not a Dataset",
    "E342": "monitored feature not taken by the model",
    "E343": "retraining pipeline does not produce the monitored model",
    "E344": "retrained versions would never serve (endpoint pins a version)",
    "E345": "no bucket for payload logs",
    "E346": "monitored endpoint has no reference data yet",
    "E347": "drifted endpoint not retrained: deploy checks failed",
    "G100": "policy exception expired",
    "G101": "policy: region not allowed",
    "G102": "policy: instance type not allowed",
    "G103": "policy: team GPU quota above the maximum",
    "G104": "policy: endpoint GPUs above the maximum",
    "G105": "policy: image from a registry that is not allowed",
    "G106": "policy: image not pinned by digest",
    "G107": "policy: pii data for a team not approved for it",
    "G108": "policy: classified data leaves its region",
    "G109": "policy: incomplete model card",
    "G110": "policy: model metrics below the card's thresholds",
    "G111": "policy: endpoint without a latency objective",
    "G112": "policy: too few endpoint replicas",
    "G113": "policy exception waives nothing",
    "L100": "local pipeline run failed",
    "L101": "model could not be registered in the local registry",
    "L102": "model version to serve is not registered",
    "L103": "model server runtime not installed",
    "L104": "model server port in use, or no free port",
    "L105": "model server failed to start",
    "L106": "local state folder cannot be used",
    "L107": "registered model misses its card's metric thresholds",
    "P100": "plan baseline cannot be used",
    "P101": "the platform program failed",
    "P102": "Kubernetes manifest does not validate",
    "C100": "Pulumi CLI not found",
    "C101": "cloud credentials not found",
    "C102": "Kubeflow Pipelines endpoint not configured or not reachable",
    "C103": "destructive change refused",
    "C104": "compiled pipelines missing",
    "C105": "Pulumi state backend not usable",
    "C106": "cloud deployment failed",
    "C107": "pipeline upload failed",
    "C108": "changes not confirmed",
    "C109": "feature view change that breaks serving models refused",
    "S101": "bucket public access not blocked",
    "S102": "bucket not encrypted with the platform's KMS key",
    "S103": "bucket encryption key does not rotate",
    "S104": "data bucket not versioned",
    "S105": "bucket policy allows plain HTTP",
    "S106": "bucket access not logged",
    "S107": "data bucket not protected from deletion",
    "S201": "IAM policy allows wildcard actions",
    "S202": "IAM policy allows actions on any resource",
    "S203": "AWS-managed policy attached beyond what EKS requires",
    "S204": "workload identity not scoped to one service account",
    "S205": "role assumable by anyone, or by people without MFA",
    "S206": "team principal is a cluster administrator",
    "S301": "cluster API reachable from the internet",
    "S302": "Kubernetes secrets not encrypted with a rotating key",
    "S303": "control-plane logs missing",
    "S304": "cluster, secrets key or control-plane logs not protected from deletion",
    "S401": "nodes allow IMDSv1 or a hop limit above 1",
    "S402": "nodes reachable over SSH",
    "S403": "node disks not encrypted",
    "S501": "team namespace does not enforce restricted pod security",
    "S502": "team namespace without a complete resource quota",
    "S503": "team namespace without container defaults",
    "S504": "team namespace without a default-deny network policy",
    "S505": "team RBAC with wildcards or escalation",
    "S506": "team RBAC reads secrets",
    "S507": "team RBAC execs, attaches or port-forwards into pods",
    "S601": "pod may run as root",
    "S602": "container may escalate privileges",
    "S603": "container keeps Linux capabilities",
    "S604": "container without the RuntimeDefault seccomp profile",
    "S605": "container without resource requests and limits",
    "S606": "serving container without readiness and liveness probes",
    "S607": "pipeline pods not completed to the restricted standard",
    "S701": "online feature table not encrypted with the platform's KMS key",
    "S702": "online feature table can be lost",
    "S703": "team feature store access beyond its views",
    "S721": "monitored endpoint does not log its payloads",
    "S722": "payload sink or drift job reaches beyond its prefix",
    "S723": "monitored endpoint without its drift job",
    "W301": "quotas oversubscribe cluster capacity",
    "W302": "CPU-only workload on a GPU node pool",
}


@dataclass(frozen=True, slots=True, order=True)
class Span:
    """A position in a config file: path as shown to the user, 1-based line and column."""

    file: str
    line: int = 1
    col: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    code: str
    message: str
    span: Span
    hint: str | None = None
    severity: Severity = Severity.ERROR
    notes: tuple[str, ...] = field(default=())

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def render(self) -> str:
        line = f"{self.span}: {self.severity.value}[{self.code}]: {self.message}"
        extra = [f"  = note: {note}" for note in self.notes]
        if self.hint:
            extra.append(f"  = hint: {self.hint}")
        return "\n".join([line, *extra])

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["severity"] = self.severity.value
        data["span"] = {"file": self.span.file, "line": self.span.line, "col": self.span.col}
        data["notes"] = list(self.notes)
        return data


def error(code: str, message: str, span: Span, hint: str | None = None, *notes: str) -> Diagnostic:
    assert code in CODES, code
    return Diagnostic(code, message, span, hint, Severity.ERROR, tuple(notes))


def warning(code: str, message: str, span: Span, hint: str | None = None) -> Diagnostic:
    assert code in CODES, code
    return Diagnostic(code, message, span, hint, Severity.WARNING)


def unique(diags: Iterable[Diagnostic]) -> list[Diagnostic]:
    """Each (code, position, message) once, in order: stages that read the same file, union
    members of a schema and environments sharing a team report the same problem."""
    seen: set[tuple[str, Span, str]] = set()
    out = []
    for diag in diags:
        key = (diag.code, diag.span, diag.message)
        if key not in seen:
            seen.add(key)
            out.append(diag)
    return out


def did_you_mean(word: str, options: Iterable[str], *, fallback_list: bool = True) -> str | None:
    """'did you mean 'x'?' for a close match, else the list of valid options (if short)."""
    choices = sorted({str(o) for o in options})
    close = difflib.get_close_matches(str(word), choices, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    if fallback_list and choices:
        shown = ", ".join(f"'{c}'" for c in choices[:12])
        more = f" (and {len(choices) - 12} more)" if len(choices) > 12 else ""
        return f"valid options: {shown}{more}"
    return None


def sort_key(diag: Diagnostic) -> tuple[str, int, int, str, str]:
    return (diag.span.file, diag.span.line, diag.span.col, diag.code, diag.message)


def has_errors(diags: Iterable[Diagnostic]) -> bool:
    return any(d.is_error for d in diags)


def _excerpt(diag: Diagnostic, root: Path | None) -> list[str]:
    """The offending source line with a caret under the column (rustc / dbt style)."""
    if root is None or diag.span.file.startswith("<"):
        return []
    path = root / diag.span.file
    if _through_link(root, path):
        return []  # never print from a file reached through a link (it may lead anywhere)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError, ValueError):
        return []
    if not 1 <= diag.span.line <= len(lines):
        return []
    text = lines[diag.span.line - 1]
    if len(text) > 200:
        return []
    gutter = str(diag.span.line)
    pad = " " * len(gutter)
    return [f" {pad} |", f" {gutter} | {text}", f" {pad} | {' ' * (diag.span.col - 1)}^"]


def _through_link(root: Path, path: Path) -> bool:
    """Whether ``path`` or a folder on its way below ``root`` is a symbolic link."""
    try:
        parts = path.relative_to(root).parts
        base = root
    except ValueError:
        parts, base = path.parts[1:], Path(path.anchor)
    for part in parts:
        base = base / part
        if base.is_symlink():
            return True
    return False


def render_text(
    diags: Sequence[Diagnostic], *, root: Path | None = None, color: bool = False
) -> str:
    """Human output: one block per diagnostic, with a source excerpt when the file is readable."""
    out: list[str] = []
    for diag in sorted(diags, key=sort_key):
        first, *rest = diag.render().split("\n")
        if color:
            tone = "\033[1;31m" if diag.is_error else "\033[1;33m"
            label = f"{diag.severity.value}[{diag.code}]"
            first = first.replace(label, f"{tone}{label}\033[0m", 1)
        out.extend([first, *_excerpt(diag, root), *rest])
    return "\n".join(out)


def summary(diags: Sequence[Diagnostic]) -> str:
    errors = sum(d.is_error for d in diags)
    warnings = len(diags) - errors
    return f"{errors} error{'s' * (errors != 1)}, {warnings} warning{'s' * (warnings != 1)}"


def render_json(diags: Sequence[Diagnostic]) -> str:
    return json.dumps(
        {"diagnostics": [d.to_json() for d in sorted(diags, key=sort_key)]},
        indent=2,
        sort_keys=True,
    )
