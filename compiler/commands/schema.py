"""`mlplat schema`: print or write the JSON Schema of the spec language (for editors)."""

from __future__ import annotations

import argparse
from pathlib import Path

from compiler.cli import EXIT_OK, Console


def run(args: argparse.Namespace, console: Console) -> int:
    from schemas.export import export_schemas

    schemas = export_schemas()
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for name, text in schemas.items():
            (out / name).write_text(text, encoding="utf-8")
        console.result(f"wrote {len(schemas)} JSON Schemas to {out}/")
    else:
        console.out.write(schemas[f"{args.kind}.schema.json"])
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("schema", help="print or write the JSON Schema of the spec language")
    parser.add_argument(
        "--kind", choices=("platform", "team", "team-fragment", "env", "policies"), default="team"
    )
    parser.add_argument("--out", help="write every schema to this folder instead of printing one")
    parser.set_defaults(func=run, format="text", no_color=False)
