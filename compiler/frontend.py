"""The frontend in one call: compose → validate → link. Never raises for bad input."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from compiler.cache import BuildCache
from compiler.compose import Composed, compose_config
from compiler.diagnostics import Diagnostic, Span, has_errors
from compiler.ir import PlatformIR
from compiler.link import link
from compiler.policy.org import check_org_policies
from compiler.validate import validate_composed
from compiler.yaml_source import Locator, SourceMap


@dataclass(frozen=True)
class FrontendResult:
    ir: PlatformIR | None
    diagnostics: list[Diagnostic]
    composed: Composed | None

    @property
    def ok(self) -> bool:
        """Valid and within policy: the only state anything is built or deployed from."""
        return self.ir is not None and not has_errors(self.diagnostics)

    @property
    def sources(self) -> Locator:
        return self.composed.sources if self.composed else SourceMap()


def load_platform(
    configs_dir: Path | str,
    overrides: Sequence[str] = (),
    *,
    today: date | None = None,
    jobs: int = 1,
    cache: BuildCache | None = None,
) -> FrontendResult:
    """Build the IR of one environment from a configs folder and Hydra-style overrides.

    Organisation policies are part of validation; ``today`` decides which exceptions expired.
    """
    composed, diags = compose_config(Path(configs_dir), list(overrides), jobs, cache)
    if composed is None:
        return FrontendResult(None, diags, None)
    parsed, validation = validate_composed(composed)
    diags.extend(validation)
    ir, link_diags = link(parsed, cache)
    diags.extend(link_diags)
    if ir is not None:
        sources = composed.sources
        root = sources.locate(()) or Span(str(configs_dir))
        diags.extend(
            check_org_policies(
                ir, lambda path, key: sources.locate(path, at_key=key) or root, today
            )
        )
    # An IR that breaks only organisation policies is still complete: `mlplat check` runs the
    # security baseline on it too. `ok` stays false, so nothing builds or deploys from it.
    only_policy = all(d.code.startswith("G") for d in diags if d.is_error)
    return FrontendResult(ir if only_policy else None, diags, composed)
