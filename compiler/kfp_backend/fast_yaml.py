"""kfp's YAML dump, byte for byte, at libyaml's speed.

kfp writes every compiled pipeline with `yaml.dump_all(documents, file, sort_keys=True)`:
PyYAML's pure-Python emitter, ≈ 60 % of a pipeline's compile time here. libyaml's C emitter
writes the same bytes except in one place: it folds long double-quoted scalars (the shell
and Python sources kfp embeds for python steps) at other points than PyYAML does.

So: the documents are represented as PyYAML would (directly: its generic representer is the
next cost), every string PyYAML would write double-quoted is swapped for a unique plain
token, the nodes are serialised by libyaml, and each token is replaced by PyYAML's own
rendering of the string (`Emitter.write_double_quoted`) at the column and indentation the
token landed on. Anything outside the shapes handled here (a key that needs double quotes,
a shared container, a token in an unexpected position) falls back to PyYAML for the call.

`tests/compiler/kfp_backend/test_fast_yaml.py` proves byte-identical output on the example's
pipelines, on edge cases and on random documents (hypothesis); `test_speedups.py` on a
generated organisation against stock kfp.
"""

from __future__ import annotations

import io
import re
from functools import lru_cache
from typing import Any

import yaml
from yaml.emitter import Emitter
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

PATCHED_PYYAML_VERSION = "6.0.4"
_TOKEN = "mlplatdq{}z"
_TOKEN_PATTERN = re.compile(r"mlplatdq(\d+)z")


class _Analyzer:
    """Just enough of an `Emitter` for `Emitter.analyze_scalar` (kfp's defaults)."""

    allow_unicode = False


_ANALYZER = _Analyzer()


def double_quoted_by_pyyaml(text: str) -> bool:
    """Whether PyYAML's emitter writes `text`, a block mapping value or sequence item, in
    double quotes (`Emitter.choose_scalar_style` for an untagged plain-implicit string)."""
    if text.isascii() and text.isprintable():
        return False  # no line breaks, no special characters: plain or single-quoted
    return _needs_double_quotes(text)


@lru_cache(maxsize=4096)
def _needs_double_quotes(text: str) -> bool:
    """Cached: the same embedded sources recur in every pipeline with python steps."""
    analysis = Emitter.analyze_scalar(_ANALYZER, text)  # type: ignore[arg-type]
    return not analysis.allow_block_plain and not analysis.allow_single_quoted


class _Unsupported(Exception):
    """A shape this module does not reproduce: PyYAML dumps the call instead."""


_TAG = "tag:yaml.org,2002:"
_REPRESENTER = yaml.representer.Representer()


def _represent(node: Any, strings: list[str], containers: set[int], sort_keys: bool) -> Node:
    """PyYAML's representation of `node` (`Representer.represent_data` for JSON-like data,
    block style), with tokens for the strings it would double-quote (kept in `strings`)."""
    kind = type(node)
    if kind is str:
        if "mlplatdq" in node:
            raise _Unsupported  # could be mistaken for a token
        if double_quoted_by_pyyaml(node):
            strings.append(node)
            node = _TOKEN.format(len(strings) - 1)
        return ScalarNode(_TAG + "str", node)
    if kind is dict or kind is list:
        if id(node) in containers:
            raise _Unsupported  # PyYAML writes a shared container as an anchor and aliases
        containers.add(id(node))
        if kind is list:
            items = [_represent(item, strings, containers, sort_keys) for item in node]
            return SequenceNode(_TAG + "seq", items, flow_style=False)
        pairs = []
        for key, value in sorted(node.items()) if sort_keys else node.items():
            if type(key) is not str or double_quoted_by_pyyaml(key) or "mlplatdq" in key:
                raise _Unsupported
            pairs.append(
                (ScalarNode(_TAG + "str", key), _represent(value, strings, containers, sort_keys))
            )
        return MappingNode(_TAG + "map", pairs, flow_style=False)
    if node is None:
        return ScalarNode(_TAG + "null", "null")
    if kind is bool:
        return ScalarNode(_TAG + "bool", "true" if node else "false")
    if kind is int:
        return ScalarNode(_TAG + "int", str(node))
    if kind is float:
        return _REPRESENTER.represent_float(node)
    raise _Unsupported  # other types: whatever PyYAML's representer makes of them


def _scalar_indent(prefix: str) -> int:
    """PyYAML's indentation for a scalar written after `prefix` on its line."""
    if prefix.endswith("- "):
        return len(prefix)  # a sequence item: continuation lines align with the item
    if prefix.endswith(": "):
        start = len(prefix) - len(prefix.lstrip(" "))
        while prefix.startswith("- ", start):
            start += 2
        if prefix.startswith("?", start) or start >= len(prefix) - 2:
            raise _Unsupported  # a complex or empty key
        return start + 2  # a mapping value: its key's column plus the indent step
    raise _Unsupported


@lru_cache(maxsize=4096)
def _render(text: str, column: int, indent: int) -> str:
    """`text` double-quoted exactly as PyYAML folds it when it starts at `column`."""
    out = io.StringIO()
    emitter = Emitter(out)
    emitter.column = column
    emitter.indent = indent
    emitter.whitespace = True
    emitter.indention = False
    emitter.write_double_quoted(text, split=True)
    return out.getvalue()


def _restore(dumped: str, strings: list[str]) -> str:
    pieces: list[str] = []
    seen: set[int] = set()
    position = 0
    for match in _TOKEN_PATTERN.finditer(dumped):
        index = int(match.group(1))
        line_start = dumped.rfind("\n", 0, match.start()) + 1
        line_end = dumped.find("\n", match.end())
        if index >= len(strings) or index in seen or line_end != match.end():
            raise _Unsupported  # not one of ours, or not alone at the end of its line
        seen.add(index)
        prefix = dumped[line_start : match.start()]
        pieces.append(dumped[position : match.start()])
        pieces.append(_render(strings[index], len(prefix), _scalar_indent(prefix)))
        position = match.end()
    if len(seen) != len(strings):
        raise _Unsupported
    pieces.append(dumped[position:])
    return "".join(pieces)


def c_dump_all(documents: list[Any], *, sort_keys: bool = True) -> str | None:
    """The libyaml path of `fast_dump_all`; None for documents it does not handle."""
    try:
        if not all(isinstance(document, dict | list) for document in documents):
            raise _Unsupported  # PyYAML ends a top-level scalar with "...", libyaml does not
        strings: list[str] = []
        nodes = [_represent(document, strings, set(), sort_keys) for document in documents]
        out = io.StringIO()
        dumper = yaml.CDumper(out, default_flow_style=False, sort_keys=sort_keys)
        try:
            dumper.open()
            for node in nodes:
                dumper.serialize(node)
            dumper.close()
        finally:
            dumper.dispose()
        return _restore(out.getvalue(), strings)
    except _Unsupported:
        return None


def fast_dump_all(documents: Any, *, sort_keys: bool = True) -> str:
    """`yaml.dump_all(documents, sort_keys=sort_keys)`, the same text, mostly in C."""
    documents = list(documents)
    text = c_dump_all(documents, sort_keys=sort_keys)
    return text if text is not None else str(yaml.dump_all(documents, sort_keys=sort_keys))


class KfpYaml:
    """`yaml` as kfp's compiler module sees it: `dump_all` goes through `fast_dump_all`."""

    def __getattr__(self, name: str) -> Any:
        return getattr(yaml, name)

    @staticmethod
    def dump_all(documents: Any, stream: Any = None, **options: Any) -> Any:
        if set(options) - {"sort_keys"} or stream is None:
            return yaml.dump_all(documents, stream, **options)
        stream.write(fast_dump_all(documents, sort_keys=options.get("sort_keys", True)))
        return None


def applicable() -> bool:
    return bool(getattr(yaml, "__with_libyaml__", False)) and (
        yaml.__version__ == PATCHED_PYYAML_VERSION
    )
