"""kfp's YAML dump, byte for byte, without PyYAML's per-event emitter.

kfp writes every compiled pipeline with `yaml.dump_all(documents, file, sort_keys=True)`:
PyYAML's pure-Python emitter runs its event state machine for every node, ≈ 60 % of a
pipeline's compile time here. For what kfp dumps (dicts of str keys, lists, str, int, float,
bool and None, in block style) the layout that machine produces is simple:

- a mapping's keys, sorted, each on its own line at the mapping's indentation, as `key:`;
  a nested mapping is indented two more; a sequence inside a mapping is not indented
  (`key:` then `- item` at the key's column); a sequence item's mapping or sequence starts
  on the item's line (`- key: ...`, `- - ...`); empty ones are written `{}` / `[]`;
- documents after the first start with `---`, and each ends with a line break.

`fast_dump_all` writes that layout itself and leaves every scalar, keys included, to
PyYAML's own emitter code (style, quoting, escaping, folding at the 80th column), cached:
the same names and types recur in every pipeline. A scalar's text depends only on the
scalar, except when it is too long for its line: then the column it starts at and its
indentation are part of the cache key.

Anything else falls back to PyYAML for the whole call: a key PyYAML writes as a complex
`? key` (multi-line, empty or very long), a container that appears twice (PyYAML writes
anchors and aliases), a top-level scalar, other types, or a PyYAML whose resolvers or
representers were changed. `tests/compiler/kfp_backend/test_fast_yaml.py` proves
byte-identical output on kfp's documents, on edge cases and on random documents
(hypothesis); `test_speedups.py` on a generated organisation against stock kfp.
"""

from __future__ import annotations

import io
from functools import lru_cache
from typing import Any

import yaml
from yaml.emitter import Emitter
from yaml.events import ScalarEvent
from yaml.nodes import ScalarNode
from yaml.representer import SafeRepresenter

PATCHED_PYYAML_VERSION = "6.0.4"

_TAG = "tag:yaml.org,2002:"
_STR, _INT, _FLOAT, _BOOL, _NULL = (_TAG + name for name in ("str", "int", "float", "bool", "null"))
_WIDTH = Emitter(io.StringIO()).best_width
_DUMPER = yaml.Dumper(io.StringIO())
"""Resolves implicit tags exactly as the `yaml.Dumper` of `yaml.dump_all` does."""
_STOCK_REPRESENTERS = {
    dict: SafeRepresenter.represent_dict,
    list: SafeRepresenter.represent_list,
    str: SafeRepresenter.represent_str,
    int: SafeRepresenter.represent_int,
    float: SafeRepresenter.represent_float,
    bool: SafeRepresenter.represent_bool,
    type(None): SafeRepresenter.represent_none,
}


class _Unsupported(Exception):
    """A shape this module does not reproduce: PyYAML dumps the call instead."""


def _emitter(out: io.StringIO) -> Emitter:
    emitter = Emitter(out)
    emitter.tag_prefixes = Emitter.DEFAULT_TAG_PREFIXES.copy()  # as at a document's start
    emitter.root_context = False
    emitter.simple_key_context = False
    return emitter


def _event(tag: str, value: str) -> ScalarEvent:
    """The event PyYAML's serializer emits for a scalar node (implicit tags resolved)."""
    implicit = (
        _DUMPER.resolve(ScalarNode, value, (True, False)) == tag,
        _DUMPER.resolve(ScalarNode, value, (False, True)) == tag,
    )
    return ScalarEvent(None, tag, implicit, value)


@lru_cache(maxsize=8192)
def _key(key: str) -> str:
    """A mapping key as PyYAML writes it at the start of its line (never folded)."""
    out = io.StringIO()
    emitter = _emitter(out)
    emitter.simple_key_context = True
    emitter.event = _event(_STR, key)
    if not emitter.check_simple_key():
        raise _Unsupported  # PyYAML writes it as a complex key: "? key"
    emitter.process_tag()
    emitter.process_scalar()
    return out.getvalue()


def _render(tag: str, value: str, column: int, indent: int) -> str:
    """A scalar as PyYAML writes it after `key:` or `-` ending at `column`, with the
    scalar's indentation `indent` (where folded lines continue)."""
    out = io.StringIO()
    emitter = _emitter(out)
    emitter.column = column
    emitter.indent = indent
    emitter.whitespace = False
    emitter.indention = False
    emitter.event = _event(tag, value)
    emitter.process_tag()
    emitter.process_scalar()
    return out.getvalue()


@lru_cache(maxsize=32768)
def _unfolded(tag: str, value: str) -> str:
    return _render(tag, value, 0, 2)


_folded = lru_cache(maxsize=2048)(_render)


def _value(tag: str, value: str, column: int, indent: int) -> str:
    if column + len(value) < _WIDTH:  # a written scalar is never shorter than its value
        text = _unfolded(tag, value)
        if column + len(text) <= _WIDTH and "\n" not in text:
            return text  # no column along the line passes the width: PyYAML folds nothing
    return _folded(tag, value, column, indent)


def _scalar(node: Any) -> tuple[str, str]:
    """Tag and text of a scalar, as PyYAML's representer makes them."""
    kind = type(node)
    if kind is str:
        return _STR, node
    if node is None:
        return _NULL, "null"
    if kind is bool:
        return _BOOL, "true" if node else "false"
    if kind is int:
        return _INT, str(node)
    if kind is float:
        return _FLOAT, str(_DUMPER.represent_float(node).value)
    raise _Unsupported


class _Writer:
    """The block layout of PyYAML's emitter for dicts and lists (see the module docstring)."""

    def __init__(self, sort_keys: bool) -> None:
        self.out: list[str] = []
        self.sort_keys = sort_keys
        self.seen: set[int] = set()

    def container(self, node: dict[Any, Any] | list[Any]) -> None:
        if id(node) in self.seen:
            raise _Unsupported  # PyYAML writes a shared container as an anchor and aliases
        self.seen.add(id(node))

    def mapping(self, node: dict[Any, Any], indent: int, inline: bool) -> None:
        """Keys at column `indent`; `inline`: the first key continues the current line."""
        out = self.out
        newline = "\n" + " " * indent
        for key, value in sorted(node.items()) if self.sort_keys else node.items():
            if type(key) is not str:
                raise _Unsupported
            if inline:
                inline = False
            else:
                out.append(newline)
            text = _key(key)
            out.append(text)
            out.append(":")
            self.after_indicator(value, indent + len(text) + 1, indent, True)

    def sequence(self, node: list[Any], indent: int, inline: bool) -> None:
        out = self.out
        newline = "\n" + " " * indent
        for item in node:
            if inline:
                inline = False
            else:
                out.append(newline)
            out.append("-")
            self.after_indicator(item, indent + 1, indent, False)

    def after_indicator(self, node: Any, column: int, indent: int, in_mapping: bool) -> None:
        """A mapping value (after `key:`) or a sequence item (after `-`) at `column`;
        `indent`: the mapping's or the sequence's indentation."""
        kind = type(node)
        if kind is dict or kind is list:
            self.container(node)
            if not node:
                self.out.append(" {}" if kind is dict else " []")
            elif kind is dict:
                if not in_mapping:
                    self.out.append(" ")
                self.mapping(node, indent + 2, not in_mapping)
            elif in_mapping:
                self.sequence(node, indent, False)  # a mapping's sequence is not indented
            else:
                self.out.append(" ")
                self.sequence(node, indent + 2, True)
        else:
            tag, value = _scalar(node)
            self.out.append(_value(tag, value, column, indent + 2))


def _stock_pyyaml() -> bool:
    """PyYAML's representers and resolvers as installed (the cached texts rely on them)."""
    representers = yaml.Dumper.yaml_representers
    if any(representers.get(kind) is not func for kind, func in _STOCK_REPRESENTERS.items()):
        return False
    return _resolvers_fingerprint() == _RESOLVERS


def _resolvers_fingerprint() -> tuple[tuple[Any, int], ...]:
    return tuple((first, len(rs)) for first, rs in yaml.Dumper.yaml_implicit_resolvers.items())


_RESOLVERS = _resolvers_fingerprint()


def block_dump_all(documents: list[Any], *, sort_keys: bool = True) -> str | None:
    """The layout path of `fast_dump_all`; None for documents it does not handle."""
    try:
        if not documents or not _stock_pyyaml():
            raise _Unsupported
        writer = _Writer(sort_keys)
        out = writer.out
        for index, document in enumerate(documents):
            kind = type(document)
            if kind is not dict and kind is not list:
                raise _Unsupported  # PyYAML may end a top-level scalar with "..."
            writer.seen = set()  # PyYAML's aliases are per document
            writer.container(document)
            if index:
                out.append("---")
            if not document:
                empty = "{}" if kind is dict else "[]"
                out.append(f" {empty}" if index else empty)
            elif kind is dict:
                writer.mapping(document, 0, not index)
            else:
                writer.sequence(document, 0, not index)
            out.append("\n")
        return "".join(out)
    except _Unsupported:
        return None


def fast_dump_all(documents: Any, *, sort_keys: bool = True) -> str:
    """`yaml.dump_all(documents, sort_keys=sort_keys)`, the same text, faster."""
    documents = list(documents)
    text = block_dump_all(documents, sort_keys=sort_keys)
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
    return yaml.__version__ == PATCHED_PYYAML_VERSION
