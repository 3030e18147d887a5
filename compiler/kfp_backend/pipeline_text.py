"""kfp's compiled YAML of a pipeline as a string, without a file.

`Compiler().compile` only writes files, so a compile used to cost a temporary directory
made and removed per pipeline. Its YAML path (`pipeline_spec_builder.write_pipeline_spec_to_file`
of kfp 2.17.3) is: the pipeline spec as a dict, kfp's header comments, then
`yaml.dump_all([spec, platform spec if any], sort_keys=True)`. `compiled_text` does the same
steps with kfp's own functions into a string. It also takes the dict kfp's check for
`importer(download_to_workspace=True)` needs from the spec's dict instead of converting the
deployment spec a second time; pipelines that use that feature take the stock path, which
raises kfp's own error.

It returns None, and the caller writes a file as before, for another kfp version, while
`speedups.stock_kfp()` is active, and for text a file round trip could change (non-ASCII or
carriage returns, which the file's encoding and universal newlines would touch).
`tests/compiler/kfp_backend/test_speedups.py` proves byte-identical output against stock kfp.
"""

from __future__ import annotations

import io
from typing import Any

import kfp
from google.protobuf import json_format
from kfp.compiler import pipeline_spec_builder as builder
from kfp.dsl.graph_component import GraphComponent
from kfp.dsl.types import type_utils

PATCHED_KFP_VERSION = "2.17.3"

_enabled = False


def applicable() -> bool:
    return kfp.__version__ == PATCHED_KFP_VERSION and all(
        hasattr(builder, name)
        for name in (
            "modify_pipeline_spec_with_override",
            "extract_comments_from_pipeline_spec",
            "write_pipeline_spec_to_file",
        )
    )


def enable(on: bool = True) -> bool:
    """Use the in-memory path (pinned kfp only); returns whether it is now in use."""
    global _enabled
    _enabled = on and applicable()
    return _enabled


def enabled() -> bool:
    return _enabled


def _downloads_to_workspace(spec: dict[str, Any]) -> bool:
    """kfp's `_uses_workspace_download`, on the deployment spec inside the spec's dict."""
    executors = spec.get("deploymentSpec", {}).get("executors", {})
    if not isinstance(executors, dict):
        return False
    for executor in executors.values():
        if isinstance(executor, dict) and "importer" in executor:
            importer = executor["importer"]
            if isinstance(importer, dict) and importer.get("downloadToWorkspace", False):
                return True
    return False


def compiled_text(graph: GraphComponent) -> str | None:
    """What `Compiler().compile(graph, "x.yaml")` writes, or None to let it write a file."""
    compiled = compiled_documents(graph)
    return None if compiled is None else compiled[0]


def compiled_documents(graph: GraphComponent) -> tuple[str, list[dict[str, Any]]] | None:
    """`compiled_text` and the documents it is the YAML of (plain data: the pipeline spec,
    then the platform spec when there is one), or None to let kfp write a file."""
    if not _enabled:
        return None
    with type_utils.TypeCheckManager(enable=True):
        spec = builder.modify_pipeline_spec_with_override(
            pipeline_spec=graph.pipeline_spec,
            pipeline_name=None,
            pipeline_parameters=None,
            pipeline_display_name=None,
        )
        spec_dict = json_format.MessageToDict(spec)
        if _downloads_to_workspace(spec_dict):
            return None
        platform_spec = graph.platform_spec
        out = io.StringIO()
        out.write(builder.extract_comments_from_pipeline_spec(spec_dict, graph.description))
        documents = [spec_dict]
        if len(platform_spec.platforms) > 0:
            documents.append(json_format.MessageToDict(platform_spec))
        builder.yaml.dump_all(documents, out, sort_keys=True)
    text = out.getvalue()
    if not text.isascii() or "\r" in text:
        return None
    return text, documents
