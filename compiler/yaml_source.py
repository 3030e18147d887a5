"""Load YAML with libyaml's C parser and remember where every key and value was written.

PyYAML's composer (C) builds the node graph; one linear Python walk turns it into plain
dicts and lists while recording a source map, rejecting duplicate keys and enforcing limits
(size, depth, node count: alias "billion laughs" expansions stop at the node limit).
Timestamps stay strings, as OmegaConf reads them, so both loaders agree on every value.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml
from yaml.constructor import ConstructorError, SafeConstructor

from compiler.diagnostics import Diagnostic, Span, error

try:
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - libyaml missing; pure-python fallback is ~10x slower
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

Path_ = tuple[str | int, ...]
"""A position in a config tree: keys and list indices from the root."""

MAX_FILE_BYTES = 2 * 1024 * 1024
MAX_DEPTH = 40
MAX_NODES = 200_000

_STR = "tag:yaml.org,2002:str"
_MAP = "tag:yaml.org,2002:map"
_SEQ = "tag:yaml.org,2002:seq"
_SCALARS = {
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
}
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_CONSTRUCTOR = SafeConstructor()
_PACKAGE = re.compile(r"^#\s*@package\s+(\S+)\s*$", re.MULTILINE)
_MAYBE_RESOLVER = re.compile(r"\$\{\s*(?:oc\.[\w.\-]+|hydra|now)\s*:")
"""A cheap test for text that may call a resolver OmegaConf or Hydra has, such as ${oc.env:X}
(`compiler.confine` decides); shell text such as ${VAR:-x} stays on the fast path."""


@dataclass
class SourceMap:
    """Where each path of a config tree was written: the key's position and the value's."""

    keys: dict[Path_, Span] = field(default_factory=dict)
    values: dict[Path_, Span] = field(default_factory=dict)

    def locate(self, path: Path_, *, at_key: bool = False) -> Span | None:
        """The span of ``path`` or of its nearest ancestor that has one."""
        table = self.keys if at_key else self.values
        for end in range(len(path), -1, -1):
            span = table.get(path[:end]) or self.values.get(path[:end])
            if span is not None:
                return span
        return None

    def update(self, other: SourceMap, prefix: Path_ = ()) -> None:
        if prefix:
            self.keys.update({prefix + p: s for p, s in other.keys.items()})
            self.values.update({prefix + p: s for p, s in other.values.items()})
        else:
            self.keys.update(other.keys)
            self.values.update(other.values)

    def has(self, path: Path_) -> bool:
        return path in self.values


class Locator(Protocol):
    """Anything that says where a config path was written."""

    def locate(self, path: Path_, *, at_key: bool = False) -> Span | None: ...

    def has(self, path: Path_) -> bool: ...


class SourceIndex:
    """The source map of a composed config: eager for the platform files, lazy per team.

    Team files are loaded without positions (see `fast_load`); a team's positions are
    recomputed by its factory the first time a diagnostic asks where something is.
    """

    def __init__(
        self,
        root: SourceMap,
        teams: dict[str, Callable[[], SourceMap]] | None = None,
        teams_key: str = "teams",
    ) -> None:
        self.root = root
        self._factories = dict(teams or {})
        self._teams: dict[str, SourceMap] = {}
        self._key = teams_key

    def team(self, name: str) -> SourceMap | None:
        if name not in self._teams and name in self._factories:
            self._teams[name] = self._factories[name]()
        return self._teams.get(name)

    def _split(self, path: Path_) -> tuple[SourceMap | None, Path_]:
        if len(path) >= 2 and path[0] == self._key and isinstance(path[1], str):
            return self.team(path[1]), path[2:]
        return None, path

    def locate(self, path: Path_, *, at_key: bool = False) -> Span | None:
        team, rest = self._split(path)
        if team is not None:
            span = team.locate(rest, at_key=at_key and bool(rest))
            if span is not None:
                return span
        return self.root.locate(path, at_key=at_key)

    def has(self, path: Path_) -> bool:
        team, rest = self._split(path)
        return team.has(rest) if team is not None else self.root.has(path)


@dataclass
class LoadedYaml:
    data: Any
    sources: SourceMap
    diagnostics: list[Diagnostic]
    package: str | None = None
    """The Hydra '# @package' header, if the file has one."""


class _Limit(Exception):
    def __init__(self, message: str, span: Span, hint: str) -> None:
        super().__init__(message)
        self.span = span
        self.hint = hint


def _span(file: str, mark: yaml.Mark) -> Span:
    return Span(file, mark.line + 1, mark.column + 1)


class _Builder:
    def __init__(self, file: str) -> None:
        self.file = file
        self.sources = SourceMap()
        self.diagnostics: list[Diagnostic] = []
        self.nodes = 0

    def build(self, node: yaml.Node, path: Path_, depth: int) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise _Limit(
                f"file expands to more than {MAX_NODES:,} YAML nodes",
                self.sources.keys.get(path[:1]) or _span(self.file, node.start_mark),
                "split the file, or remove aliases that repeat large blocks",
            )
        if depth > MAX_DEPTH:
            raise _Limit(
                f"nesting deeper than {MAX_DEPTH} levels",
                _span(self.file, node.start_mark),
                "flatten the structure (recursive aliases are not allowed)",
            )
        if isinstance(node, yaml.MappingNode):
            return self._mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _SEQ:
                raise _Limit(
                    f"unsupported YAML tag {node.tag}",
                    _span(self.file, node.start_mark),
                    "remove the tag",
                )
            items = []
            for index, item in enumerate(node.value):
                self.sources.values[(*path, index)] = _span(self.file, item.start_mark)
                items.append(self.build(item, (*path, index), depth + 1))
            return items
        return self._scalar(node)

    def _scalar(self, node: yaml.Node) -> Any:
        tag = node.tag
        if tag in (_STR, _TIMESTAMP):
            return node.value
        if tag in _SCALARS:
            return SafeConstructor.yaml_constructors[tag](_CONSTRUCTOR, node)
        raise _Limit(
            f"unsupported YAML tag {tag}",
            _span(self.file, node.start_mark),
            "remove the tag; specs use plain strings, numbers, booleans, lists and mappings",
        )

    def _mapping(self, node: yaml.MappingNode, path: Path_, depth: int) -> dict[Any, Any]:
        if node.tag != _MAP:
            raise _Limit(
                f"unsupported YAML tag {node.tag}",
                _span(self.file, node.start_mark),
                "remove the tag",
            )
        explicit = sum(1 for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge")
        try:
            _CONSTRUCTOR.flatten_mapping(node)  # YAML merge keys ('<<: *base') go first
        except ConstructorError as exc:
            mark = exc.problem_mark or node.start_mark
            raise _Limit(
                str(exc.problem), _span(self.file, mark), "merge keys take a mapping alias"
            ) from None
        result: dict[Any, Any] = {}
        first_seen: dict[Any, yaml.Node | None] = {}
        merged = len(node.value) - explicit
        for position, (key_node, value_node) in enumerate(node.value):
            if not isinstance(key_node, yaml.ScalarNode):
                raise _Limit(
                    "mapping keys must be plain scalars",
                    _span(self.file, key_node.start_mark),
                    "use a string key",
                )
            key = self._scalar(key_node)
            if key is None:
                key = "null"
            try:
                hash(key)
            except TypeError:  # pragma: no cover - scalars are hashable
                key = str(key)
            key_span = _span(self.file, key_node.start_mark)
            if key in first_seen and position < merged:
                continue  # an earlier merged mapping already supplied this key
            earlier = first_seen.get(key)
            if earlier is not None:
                first = earlier.start_mark
                self.diagnostics.append(
                    error(
                        "E002",
                        f"duplicate key '{key}'",
                        key_span,
                        f"'{key}' is already set at line {first.line + 1}; keep one of them",
                    )
                )
                continue
            first_seen[key] = key_node if position >= merged else None
            child = (*path, key)
            self.sources.keys[child] = key_span
            self.sources.values[child] = _span(self.file, value_node.start_mark)
            result[key] = self.build(value_node, child, depth + 1)
        return result


def package_header(text: str) -> str | None:
    """Hydra's '# @package X' header: decides where an overlay's keys land."""
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        if match := _PACKAGE.match(line):
            return match.group(1)
    return None


def _context_note(exc: yaml.MarkedYAMLError, mark: yaml.Mark | None) -> tuple[str, ...]:
    """Where the construct that failed began, when that is elsewhere (e.g. an unclosed '[')."""
    start = exc.context_mark
    if exc.context and start is not None and mark is not None and start.line != mark.line:
        return (
            f"{exc.context.removeprefix('while ')} started at line {start.line + 1}, column {start.column + 1}",
        )
    return ()


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _syntax_hint(text: str, exc: yaml.MarkedYAMLError, mark: yaml.Mark | None) -> str:
    """Say what is wrong with the indentation when that is the cause, else the general advice.

    libyaml's messages ("found character that cannot start any token", "did not find expected
    key") do not tell a tab or a key indented less than its siblings from other mistakes.
    """
    general = "check indentation, quotes and ':' around this position"
    if mark is None:
        return general
    lines = text.splitlines()
    if not 0 <= mark.line < len(lines):
        return general
    line = lines[mark.line]
    leading = line[: len(line) - len(line.lstrip(" \t"))]
    if "\t" in leading:
        return (
            f"line {mark.line + 1} is indented with a tab (column {leading.index(chr(9)) + 1}); "
            "YAML indents with spaces only: replace the tab with spaces"
        )
    if not (exc.problem or "").startswith("did not find expected key"):
        return general
    indent = _indent(line)
    above = [
        (number, _indent(lines[number]))
        for number in range(mark.line - 1, -1, -1)
        if lines[number].strip() and not lines[number].lstrip().startswith("#")
    ]
    if not above or above[0][1] <= indent:
        return general
    previous, previous_indent = above[0]
    outer = next((i for _, i in above if i < indent), None)
    spaces = f"{indent} space{'s' * (indent != 1)}"
    leave = f", or by {outer} to leave it" if outer is not None else ""
    return (
        f"line {mark.line + 1} is indented less than line {previous + 1} above it "
        f"({spaces} instead of {previous_indent}): indent it by {previous_indent} spaces "
        f"to stay in that block{leave}"
    )


def parse_yaml(text: str, file: str) -> LoadedYaml:
    """Parse one document; never raises for bad input, returns diagnostics instead."""
    start = Span(file)
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        return LoadedYaml(
            None,
            SourceMap(),
            [
                error(
                    "E003",
                    f"file is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB",
                    start,
                    "split it: a team may use a folder with several files",
                )
            ],
        )
    builder = _Builder(file)
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        span = _span(file, mark) if mark else start
        problem = exc.problem or "invalid YAML"
        context = f" ({exc.context})" if exc.context else ""
        return LoadedYaml(
            None,
            SourceMap(),
            [
                error(
                    "E001",
                    f"YAML syntax error: {problem}{context}",
                    span,
                    _syntax_hint(text, exc, mark),
                    *_context_note(exc, mark),
                )
            ],
        )
    except yaml.YAMLError as exc:
        return LoadedYaml(None, SourceMap(), [error("E001", f"YAML error: {exc}", start, None)])
    except (RecursionError, MemoryError):
        return LoadedYaml(
            None,
            SourceMap(),
            [error("E003", "YAML nesting is too deep", start, "flatten the structure")],
        )
    if node is None:
        return LoadedYaml({}, builder.sources, [], package_header(text))
    try:
        data = builder.build(node, (), 0)
    except _Limit as exc:
        return LoadedYaml(None, SourceMap(), [error("E003", str(exc), exc.span, exc.hint)])
    except RecursionError:
        return LoadedYaml(
            None,
            SourceMap(),
            [error("E003", "YAML nesting is too deep", start, "flatten the structure")],
        )
    builder.sources.values.setdefault((), _span(file, node.start_mark))
    if data is None:  # an explicit null document is as empty as an empty file
        data = {}
    return LoadedYaml(data, builder.sources, builder.diagnostics, package_header(text))


def read_yaml(path: str, display: str) -> LoadedYaml:
    """Read and parse a file; unreadable or non-UTF-8 files become diagnostics."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return LoadedYaml(
            None,
            SourceMap(),
            [error("E004", f"cannot read file: {exc.strerror}", Span(display), None)],
        )
    if len(raw) > MAX_FILE_BYTES:
        return LoadedYaml(
            None,
            SourceMap(),
            [
                error(
                    "E003",
                    f"file is larger than {MAX_FILE_BYTES // 1024 // 1024} MiB",
                    Span(display),
                    "split it: a team may use a folder with several files",
                )
            ],
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return LoadedYaml(
            None,
            SourceMap(),
            [
                error(
                    "E001",
                    "file is not valid UTF-8 text",
                    Span(display, line, 1),
                    "save the file as UTF-8",
                )
            ],
        )
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        return LoadedYaml(
            None,
            SourceMap(),
            [
                error(
                    "E001",
                    "file contains a NUL byte",
                    Span(display, line, 1),
                    "save the file as plain UTF-8 text",
                )
            ],
        )
    return parse_yaml(text, display)


class NeedsPositions(Exception):
    """The fast loader met something unusual: the position-tracking loader must explain it."""


class _FastLoader(_Loader):
    """libyaml plus plain dict construction, rejecting what `parse_yaml` would report."""


def _fast_mapping(loader: Any, node: yaml.MappingNode) -> dict[Any, Any]:
    if node.tag != _MAP:
        raise NeedsPositions
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            raise NeedsPositions
        key = loader.construct_object(key_node, deep=True)
        if key is None:
            key = "null"
        if key in mapping:
            raise NeedsPositions  # duplicate key
        mapping[key] = loader.construct_object(value_node, deep=True)
    return mapping


def _fast_sequence(loader: Any, node: yaml.SequenceNode) -> list[Any]:
    if node.tag != _SEQ:
        raise NeedsPositions
    return [loader.construct_object(child, deep=True) for child in node.value]


def _unsupported(loader: Any, node: yaml.Node) -> Any:
    raise NeedsPositions


_FastLoader.add_constructor(_MAP, _fast_mapping)
_FastLoader.add_constructor(_SEQ, _fast_sequence)
_FastLoader.add_constructor(_TIMESTAMP, lambda loader, node: node.value)
for _tag in (
    "tag:yaml.org,2002:set",
    "tag:yaml.org,2002:omap",
    "tag:yaml.org,2002:pairs",
    "tag:yaml.org,2002:binary",
    None,
):
    _FastLoader.add_constructor(_tag, _unsupported)


def _expanded_size(tree: Any) -> tuple[int, int]:
    """(node count with aliases expanded, depth), memoised so shared subtrees cost once."""
    memo: dict[int, tuple[int, int]] = {}

    def visit(node: Any) -> tuple[int, int]:
        if not isinstance(node, dict | list):
            return 1, 0
        known = memo.get(id(node))
        if known is not None:
            return known
        children = node.values() if isinstance(node, dict) else node
        size, depth = 1 + (len(node) if isinstance(node, dict) else 0), 0
        for child in children:
            child_size, child_depth = visit(child)
            size += child_size
            depth = max(depth, child_depth)
            if size > MAX_NODES:
                break
        memo[id(node)] = result = (size, depth + 1)
        return result

    return visit(tree)


def fast_load(path: str) -> Any:
    """Load a config file as fast as libyaml allows, without positions.

    Raises `NeedsPositions` for anything a diagnostic must explain (syntax errors, duplicate
    keys, tags, merge keys, limits, bad encoding): `read_yaml` then reports it with a location.
    Positions of valid files are computed only when a diagnostic needs them.
    """
    try:
        with open(path, "rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
        if len(raw) > MAX_FILE_BYTES or b"\x00" in raw:
            raise NeedsPositions
        text = raw.decode("utf-8")
        loader = _FastLoader(text)
        try:
            data = loader.get_single_data()
        finally:
            loader.dispose()
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError, TypeError, ValueError):
        raise NeedsPositions from None
    if "${" in text and may_call_resolver(text):
        raise NeedsPositions  # an interpolation to check (see compiler.confine)
    if "&" in text:
        size, depth = _expanded_size(data)
        if size > MAX_NODES or depth > MAX_DEPTH:
            raise NeedsPositions
    return {} if data is None else data


def may_call_resolver(text: str) -> bool:
    """Whether text may hold an interpolation calling a resolver of OmegaConf or Hydra."""
    return "${" in text and _MAYBE_RESOLVER.search(text) is not None


def walk(tree: Any, path: Path_ = ()) -> Iterator[tuple[Path_, Any]]:
    """Every (path, value) of a tree, parents before children."""
    yield path, tree
    if isinstance(tree, dict):
        for key, value in tree.items():
            yield from walk(value, (*path, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from walk(value, (*path, index))
