"""What `pulumi up` runs in this folder: read the compiled IR and build the platform.

The IR comes from the stack config `mlplat:irPath`, else the environment variable
`MLPLAT_IR`, else `build/<stack>/ir.json` at the root of the repository (written by
`mlplat compile --env <stack>`). The project name must match the spec's, so that the
same stack is never managed under two names.
"""

from __future__ import annotations

import os
from pathlib import Path

import pulumi

from compiler.ir import PlatformIR
from platform_iac.program import build_platform

REPO = Path(__file__).resolve().parent.parent


def ir_path() -> Path:
    configured = pulumi.Config("mlplat").get("irPath") or os.environ.get("MLPLAT_IR")
    if configured:
        return Path(configured) if Path(configured).is_absolute() else REPO / configured
    return REPO / "build" / pulumi.get_stack() / "ir.json"


def load_ir() -> PlatformIR:
    path = ir_path()
    if not path.is_file():
        raise pulumi.RunError(
            f"no compiled platform at {path}: run `mlplat compile --env {pulumi.get_stack()}` "
            "first, or set the stack config mlplat:irPath"
        )
    ir = PlatformIR.model_validate_json(path.read_text(encoding="utf-8"))
    if ir.platform.pulumi.project != pulumi.get_project():
        raise pulumi.RunError(
            f"{path} belongs to Pulumi project '{ir.platform.pulumi.project}', this is "
            f"'{pulumi.get_project()}': set `name: {ir.platform.pulumi.project}` in "
            "platform_iac/Pulumi.yaml, or deploy with `mlplat deploy`"
        )
    return ir


build_platform(load_ir())
