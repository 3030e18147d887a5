"""What a configs folder may reach while it is loaded: nothing outside the repository.

Pull requests are planned on CI machines, often from people who may not read the runner's
environment or files. Loading therefore refuses, before Hydra reads anything:

- interpolations that call a resolver (``${oc.env:HOME}``, ``${oc.decode:...}``,
  ``${hydra:runtime.cwd}``, any other): resolvers read the environment, files or Hydra's own
  state, so their values could be posted in a plan's review (E014). Plain references to other
  keys (``${platform.region}``) keep working;
- defaults-list entries that climb out of ``configs/`` (``- ../../tmp/x``) and settings of
  Hydra itself (a ``hydra:`` key, a ``hydra`` package or group), which could add search paths
  (E015). The entry is refused for what it says, before any file is opened, so the error is
  the same whether the outside file exists or not;
- symbolic links under ``configs/`` or ``components/`` whose target leaves the repository
  (E016). Nothing is read through them and the target is not named.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from compiler.diagnostics import Diagnostic, Span, error
from compiler.yaml_source import Locator, Path_

COMPONENTS_DIR = "components"
HYDRA_KEY = "hydra"
RESOLVER_HINT = (
    "write the value itself, or refer to another key as ${platform.region}; "
    "specs never read the environment or files of the machine that plans them"
)


def _resolver_names(text: str) -> tuple[list[str], bool]:
    """(resolvers called by an interpolation in ``text``, whether it refers to Hydra's node).

    OmegaConf's own grammar parses the string, so nested and quoted forms are found the way
    OmegaConf would resolve them. Text that does not parse resolves to nothing: OmegaConf
    refuses it when composing.
    """
    from omegaconf import grammar_parser
    from omegaconf.errors import GrammarParseError
    from omegaconf.grammar.gen.OmegaConfGrammarParser import OmegaConfGrammarParser as P

    try:
        tree = grammar_parser.parse(text)
    except GrammarParseError:
        return [], False
    names: list[str] = []
    hydra_node = False
    pending: list[Any] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, P.InterpolationResolverContext):
            names.append(node.resolverName().getText())
        elif isinstance(node, P.InterpolationNodeContext):
            key = node.getText()[2:-1].strip()
            hydra_node = hydra_node or key == HYDRA_KEY or key.startswith(HYDRA_KEY + ".")
        pending.extend(node.getChild(i) for i in reversed(range(node.getChildCount())))
    return names, hydra_node


def _strings(tree: Any, path: Path_ = ()) -> Iterator[tuple[Path_, str]]:
    if isinstance(tree, str):
        yield path, tree
    elif isinstance(tree, dict):
        for key, value in tree.items():
            yield from _strings(value, (*path, key))
    elif isinstance(tree, list):
        for index, value in enumerate(tree):
            yield from _strings(value, (*path, index))


def _known_resolver(name: str) -> bool:
    from omegaconf import OmegaConf

    return name.startswith("oc.") or name in (HYDRA_KEY, "now") or OmegaConf.has_resolver(name)


def resolver_problems(
    tree: Any,
    where: Locator | Span,
    *,
    prefix: Path_ = (),
    only_known: bool = False,
) -> list[Diagnostic]:
    """E014 for each string of ``tree`` whose interpolation calls a resolver.

    ``only_known`` is for team files, which are never resolved: there only the names OmegaConf
    and Hydra resolve are refused, so shell text such as ``${VAR:-x}`` in container args stays
    a plain string.
    """
    problems: list[Diagnostic] = []
    for path, text in _strings(tree, prefix):
        if "${" not in text:
            continue
        names, hydra_node = _resolver_names(text)
        if only_known:
            names = [n for n in names if _known_resolver(n)]
            hydra_node = False
        if not names and not hydra_node:
            continue
        span = where if isinstance(where, Span) else where.locate(path)
        what = f"calls the resolver '{names[0]}'" if names else "refers to Hydra's settings"
        problems.append(
            error(
                "E014",
                f"interpolation in '{_dotted(path)}' {what}; specs may not use resolvers",
                span or Span("<unknown>"),
                RESOLVER_HINT,
            )
        )
    return problems


def _dotted(path: Path_) -> str:
    return ".".join(str(p) for p in path) or "<root>"


def _entry_words(entry: Any) -> Iterator[str]:
    """The group, choice and package names a defaults entry is made of."""
    if isinstance(entry, str):
        yield entry
    elif isinstance(entry, dict):
        for key, value in entry.items():
            yield str(key)
            if isinstance(value, list):
                yield from (str(v) for v in value)
            elif value is not None:
                yield str(value)


def _leaves_configs(word: str) -> bool:
    for keyword in ("override ", "optional "):
        word = word.strip().removeprefix(keyword)
    name, _, package = word.partition("@")
    parts = [p for p in re.split(r"[/\\]", name.strip()) if p]
    first = parts[0] if parts else ""
    package_root = package.strip().removeprefix("_global_.").split(".")[0]
    return (
        ".." in parts
        or ":" in name
        or first == HYDRA_KEY
        or package_root == HYDRA_KEY
        or bool(re.match(r"^[A-Za-z]:", name))
    )


def defaults_problems(
    data: Any, where: Locator, file: str, *, root: bool = True
) -> list[Diagnostic]:
    """E015 for defaults entries that leave configs/ or configure Hydra, for Hydra settings in
    a config file, and for a defaults list anywhere but in the root config (``root=False``):
    Hydra would compose files that loading never checked. Decided from the text alone: no
    file is opened."""
    if not isinstance(data, dict):
        return []
    if not root and "defaults" in data:
        return [
            error(
                "E015",
                "only platform.yaml has a defaults list",
                where.locate(("defaults",), at_key=True) or Span(file),
                "list the config in the defaults of platform.yaml instead",
            )
        ]
    problems: list[Diagnostic] = []
    if HYDRA_KEY in data:
        problems.append(
            error(
                "E015",
                "a config file may not configure Hydra ('hydra:' key)",
                where.locate((HYDRA_KEY,), at_key=True) or Span(file),
                "remove the 'hydra:' block; mlplat sets up composition itself",
            )
        )
    defaults = data.get("defaults")
    for index, entry in enumerate(defaults if isinstance(defaults, list) else []):
        words = list(_entry_words(entry))
        bad = next((w for w in words if _leaves_configs(w)), None)
        if bad is None:
            continue
        problems.append(
            error(
                "E015",
                f"defaults entry '{bad}' leads outside configs/ or into Hydra's settings",
                where.locate(("defaults", index)) or Span(file),
                "name a config inside configs/, e.g. '- policies' or '- env: prod'",
            )
        )
    return problems


def package_problem(package: str | None, file: str) -> Diagnostic | None:
    """E015 for a '# @package hydra...' header: it would write Hydra's settings."""
    if package is None:
        return None
    if package.removeprefix("_global_.").split(".")[0] != HYDRA_KEY:
        return None
    return error(
        "E015",
        f"'# @package {package}' writes Hydra's settings",
        Span(file),
        "use '# @package _global_' for an overlay, or no header",
    )


def repository_root(configs_dir: Path) -> Path:
    """The repository a configs folder belongs to: the folder holding configs/ and
    components/."""
    return configs_dir.resolve().parent


def _link_display(path: str) -> str:
    """A link's own name for diagnostics (resolving it would name its target)."""
    from compiler.compose import display_path

    return os.path.join(display_path(Path(path).parent), os.path.basename(path))


def link_problems(configs_dir: Path) -> list[Diagnostic]:
    """E016 for each symbolic link under configs/ or components/ leading out of the repository.

    Links that stay inside are followed (folders too) and what they lead to is checked the
    same way. Only entries that are links cost a system call beyond listing the folders.
    """
    repo = repository_root(configs_dir)
    problems: list[Diagnostic] = []
    seen: set[str] = set()
    pending = [str(configs_dir), str(repo / COMPONENTS_DIR)]
    while pending:
        folder = pending.pop()
        try:
            real = os.path.realpath(folder)
            if real in seen:
                continue
            seen.add(real)
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except (OSError, RuntimeError):
            continue
        for entry in entries:
            if entry.is_symlink():
                try:
                    target = Path(entry.path).resolve(strict=False)
                    inside = target.is_relative_to(repo)
                except (OSError, RuntimeError):  # a loop of links
                    inside = False
                if not inside:
                    problems.append(
                        error(
                            "E016",
                            "symbolic link to a path outside the repository; it is not read",
                            Span(_link_display(entry.path)),
                            "replace the link with the file itself; "
                            "mlplat reads nothing outside the repository",
                        )
                    )
                    continue
                if target.is_dir():
                    pending.append(entry.path)
            elif entry.is_dir(follow_symlinks=False):
                pending.append(entry.path)
    return sorted(problems, key=lambda d: d.span)


def override_problems(overrides: Iterable[tuple[str, Any, Span]]) -> list[Diagnostic]:
    """E014 for command-line override values (key, value, span) that call a resolver."""
    problems: list[Diagnostic] = []
    for key, value, span in overrides:
        problems.extend(resolver_problems(value, span, prefix=tuple(key.split("."))))
    return problems
