"""Link a team's on-demand views: features computed at read time from the team's feature
views and from values each request carries (Feast's on-demand feature views).

An expression is arithmetic over input names, checked here so that a typo is a diagnostic
at its line rather than an error in the feature server: it must parse, use only + - * / //
** %, unary signs, parentheses and numbers, and name only features of its source views or
its request values. Codes E314 (a source that is not a feature view of the team), E315 (an
expression that is not such arithmetic), E316 (a name that is not an input).
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from typing import TYPE_CHECKING

from compiler.config_layout import TEAMS_DIR
from compiler.diagnostics import did_you_mean
from compiler.ir_features import Feature, FeatureView, OnDemandFeature, OnDemandView, feast_name
from schemas.features import OnDemandViewSpec

if TYPE_CHECKING:
    from compiler.link import _Linker

ALLOWED = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Pow,
    ast.Mod,
    ast.UAdd,
    ast.USub,
)


SAID = {
    "Call": "a function call",
    "Attribute": "an attribute",
    "Subscript": "indexing",
    "Compare": "a comparison",
    "BoolOp": "and/or",
    "IfExp": "a conditional",
    "Lambda": "a lambda",
}
"""How a construct that is not allowed is named in the diagnostic."""


def expression_problem(expression: str) -> tuple[str | None, list[str]]:
    """(what is wrong with the expression's form or None, the names it reads)."""
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        return f"is not an expression ({exc.msg})", []
    names: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ALLOWED):
            what = SAID.get(type(node).__name__, type(node).__name__)
            return f"uses {what}, which an on-demand feature may not", []
        if isinstance(node, ast.Constant) and (
            isinstance(node.value, bool) or not isinstance(node.value, int | float)
        ):
            return f"uses the constant {node.value!r}; only numbers are allowed", []
        if isinstance(node, ast.Name) and node.id not in names:
            names.append(node.id)
    if not names:
        return "reads none of its inputs (a constant is not a feature)", []
    return None, names


def link_on_demand(
    ln: _Linker,
    team: str,
    name: str,
    spec: OnDemandViewSpec,
    views: Mapping[str, FeatureView],
    declared: Mapping[str, object],
) -> OnDemandView | None:
    """The linked view, or None after reporting what is wrong. `views`: the team's linked
    feature views; `declared`: the names of all its feature views (linked or not)."""
    at = (TEAMS_DIR, team, "on_demand", name)
    inputs: dict[str, str] = {}
    sources: list[str] = []
    ok = True
    for index, source in enumerate(spec.sources):
        view = views.get(source)
        if view is None:
            if source not in declared:
                ln.err(
                    "E314",
                    f"on-demand view '{name}' reads '{source}', which is not a feature view of "
                    f"team '{team}'",
                    (*at, "sources", index),
                    did_you_mean(source, declared),
                )
            ok = False  # a declared view that did not link has its own diagnostics
            continue
        sources.append(view.feast_name)
        inputs.update({f.name: f.type for f in view.features})
    inputs.update(spec.request)
    for fname, fspec in spec.features.items():
        where = (*at, "features", fname, "expression")
        problem, names = expression_problem(fspec.expression)
        if problem is not None:
            ln.err(
                "E315",
                f"expression of on-demand feature '{fname}' {problem}",
                where,
                "write arithmetic over the inputs: + - * / // ** %, parentheses and numbers",
            )
            ok = False
            continue
        for unknown in (n for n in names if n not in inputs):
            if not ok:  # a source did not link: its features are not known
                break
            ln.err(
                "E316",
                f"expression of on-demand feature '{fname}' reads '{unknown}', which is neither "
                f"a feature of its sources nor a request value of '{name}'",
                where,
                did_you_mean(unknown, inputs)
                or f"add it under on_demand.{name}.request if each request carries it",
            )
            ok = False
    if not ok:
        return None
    return OnDemandView(
        name=name,
        team=team,
        feast_name=feast_name(team, name),
        description=spec.description,
        sources=tuple(sources),
        request=tuple(Feature(name=k, type=v) for k, v in spec.request.items()),
        features=tuple(
            OnDemandFeature(
                name=k,
                type=v.type,
                expression=v.expression.strip(),
                inputs=tuple(expression_problem(v.expression)[1]),
            )
            for k, v in spec.features.items()
        ),
    )
