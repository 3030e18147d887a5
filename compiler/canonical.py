"""Canonical JSON of large build outputs (ir.json, plan.json, changes.json), fast.

Sorted keys, two-space indent, UTF-8, a trailing newline: the same bytes for the same data
on every machine. orjson writes it about 15x faster than the standard library (whose
pretty-printer is pure Python); for data orjson does not take (integers beyond 64 bits,
non-string keys) the standard library writes the same layout. Floats are written in their
shortest round-trip form (`1e-05` is written `0.00001`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import orjson

if TYPE_CHECKING:
    from compiler.cache import BuildCache

_OPTIONS = orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE


def canonical_json(data: Any) -> str:
    try:
        return orjson.dumps(data, option=_OPTIONS).decode("utf-8")
    except TypeError:
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


_SLOT = "\x01mlplat-slot\x01"
_SLOT_TEXT = orjson.dumps(_SLOT).decode("utf-8")
M = TypeVar("M")


def canonical_json_with(
    data: dict[str, Any],
    key: str,
    members: Sequence[M] | Mapping[str, M],
    to_json: Callable[[M], Any],
    memo: BuildCache | None = None,
) -> str:
    """`canonical_json` of `data` with `key` holding `members` as JSON (a list, or a mapping).

    A resident process (`mlplat watch`, `memo.resident`) remembers each member's rendered
    text while the member is the same object, so plan.json, ir.json and changes.json are
    assembled from the texts of unchanged members and only the changed ones are rendered
    (byte-identical to one dump: tests/compiler/test_canonical.py).
    """
    if memo is None or not memo.resident:
        if isinstance(members, Mapping):
            return canonical_json({**data, key: {k: to_json(v) for k, v in members.items()}})
        return canonical_json({**data, key: [to_json(m) for m in members]})

    def text(member: M) -> str:
        return memo.recall(f"json-{key}", member, None, partial(_nested_text, to_json, member))

    if not members:
        inner = "{}" if isinstance(members, Mapping) else "[]"
    elif isinstance(members, Mapping):
        rows = (f"{orjson.dumps(k).decode('utf-8')}: {text(members[k])}" for k in sorted(members))
        inner = "{\n    " + ",\n    ".join(rows) + "\n  }"
    else:
        inner = "[\n    " + ",\n    ".join(text(m) for m in members) + "\n  ]"
    outer = canonical_json({**data, key: _SLOT})
    assert outer.count(_SLOT_TEXT) == 1, "the slot marker appears in the data"
    return outer.replace(_SLOT_TEXT, inner, 1)


def _nested_text(to_json: Callable[[M], Any], member: M) -> str:
    """A member's canonical JSON as it appears two levels deep (no trailing newline)."""
    return canonical_json(to_json(member)).rstrip("\n").replace("\n", "\n    ")
