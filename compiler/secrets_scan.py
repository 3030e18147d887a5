"""Recognise credentials pasted into specs: secrets belong in Kubernetes Secrets, by reference."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

_PATTERNS: tuple[tuple[str, tuple[str, ...], re.Pattern[str]], ...] = (
    # (what, literal triggers: one must occur for the pattern to be tried, pattern)
    ("an AWS access key id", ("AKIA", "ASIA"), re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b")),
    (
        "an AWS secret access key",
        ("ecret", "ECRET"),
        re.compile(r"(?i:aws.{0,20}secret.{0,20})[A-Za-z0-9/+=]{40}"),
    ),
    ("a private key", ("PRIVATE KEY",), re.compile(r"-----BEGIN ([A-Z]+ )?PRIVATE KEY-----")),
    (
        "a GitHub token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_"),
        re.compile(r"\bgh[pousr]_[A-Za-z0-9]{36,}\b"),
    ),
    ("a Slack token", ("xox",), re.compile(r"\bxox[abprs]-[A-Za-z0-9-]{10,}")),
    (
        "a JSON web token",
        ("eyJ",),
        re.compile(r"\beyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
    ),
    ("a Google API key", ("AIza",), re.compile(r"\bAIza[0-9A-Za-z_-]{35}\b")),
    ("an OpenAI-style API key", ("sk-",), re.compile(r"\bsk-[A-Za-z0-9_-]{32,}\b")),
    ("credentials in a URL", ("@",), re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:[^/\s@]{3,}@")),
)

_SECRET_NAME = re.compile(
    r"(?i)(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIALS?|ACCESS_?KEY)"
)
_HARMLESS = re.compile(
    r"^(|true|false|none|null|\$\{[^}]*\}|/[\w./-]*|[a-z0-9-]+\.(svc|local)(\.[a-z.]*)?)$", re.I
)


def credential_in_text(text: str) -> str | None:
    """What kind of credential a string contains, if any (high-confidence patterns only).

    Each pattern runs only when one of its literal triggers occurs: substring tests are
    cheap, and most specs contain none of them.
    """
    for what, triggers, pattern in _PATTERNS:
        if any(trigger in text for trigger in triggers) and pattern.search(text):
            return what
    return None


def credential_in_env(name: str, value: str) -> str | None:
    """A credential in an environment variable: a known pattern, or a secret-sounding name
    with a literal value (file paths and empty values are allowed)."""
    found = credential_in_text(value)
    if found:
        return found
    if _SECRET_NAME.search(name) and not _HARMLESS.match(value.strip()):
        return f"a literal value for the secret-looking variable {name}"
    return None


def credentials_in_tree(
    tree: Any, prefix: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """(path, what) of every string in a config tree that contains a credential."""
    # One regex pass over the serialised tree rules out the common case (no credential) fast.
    if credential_in_text(json.dumps(tree, ensure_ascii=False, default=str)) is None:
        return
    stack: list[tuple[tuple[str | int, ...], Any]] = [(prefix, tree)]
    while stack:
        path, node = stack.pop()
        if isinstance(node, dict):
            stack.extend(((*path, key), value) for key, value in node.items())
        elif isinstance(node, list):
            stack.extend(((*path, index), value) for index, value in enumerate(node))
        elif isinstance(node, str) and len(node) >= 16:
            found = credential_in_text(node)
            if found:
                yield path, found
