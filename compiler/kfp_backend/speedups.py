"""Work around the hot spots of kfp 2.17.3 without changing a byte of its output.

`PipelineTask._ensure_container_spec_exists` (called by every `set_cpu_*`/`set_memory_*`
and accelerator setter) runs `inspect.stack()` to name its caller in an error message. That
reads source context for every frame and scans `sys.modules` per frame, so its cost grows
with the call depth and the number of loaded modules: 80 pipelines took 18 s of a 23 s
compile here. kfp only reads `stack()[1][3]` (the caller's function name).

kfp then dumps the pipeline with PyYAML's pure-Python emitter: `fast_yaml` writes the
same bytes with its own block layout and PyYAML's scalar code (see there). Each
kfp-kubernetes setting round-trips the task's whole Kubernetes config through protobuf's
JSON code: `kubernetes_batch` makes that one conversion per task. And `pipeline_text`
compiles to a string instead of a file in a temporary directory.

All are kfp internals, so the patches apply only to the pinned kfp (and PyYAML) versions,
and tests/compiler/kfp_backend/test_speedups.py proves byte-identical output against stock kfp.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import kfp
import yaml
from kfp.compiler import pipeline_spec_builder
from kfp.dsl import pipeline_task

from compiler.kfp_backend import fast_yaml, kubernetes_batch, pipeline_text, python_steps

PATCHED_KFP_VERSION = "2.17.3"


class _CallerNameInspect:
    """`inspect` as kfp's pipeline_task sees it: `stack()` without source context."""

    def __getattr__(self, name: str) -> Any:
        return getattr(inspect, name)

    @staticmethod
    def stack(context: int = 1) -> list[tuple[FrameType, str, int, str, None, None]]:
        frames: list[tuple[FrameType, str, int, str, None, None]] = []
        frame: FrameType | None = sys._getframe(1)
        while frame is not None and len(frames) < 3:
            code = frame.f_code
            frames.append((frame, code.co_filename, frame.f_lineno, code.co_name, None, None))
            frame = frame.f_back
        return frames


def applicable() -> bool:
    return kfp.__version__ == PATCHED_KFP_VERSION


def apply() -> bool:
    """Patch the pinned kfp in this process; returns whether anything was patched."""
    if not applicable():
        return False
    pipeline_task.inspect = _CallerNameInspect()
    if fast_yaml.applicable():
        pipeline_spec_builder.yaml = fast_yaml.KfpYaml()
    kubernetes_batch.install()
    pipeline_text.enable()
    return True


@contextmanager
def stock_kfp() -> Iterator[None]:
    """kfp exactly as installed, every python component made afresh: what tests compare
    the patched compile against."""
    saved = pipeline_task.inspect, pipeline_spec_builder.yaml
    batching, in_memory = kubernetes_batch.installed(), pipeline_text.enabled()
    pipeline_task.inspect, pipeline_spec_builder.yaml = inspect, yaml
    kubernetes_batch.uninstall()
    pipeline_text.enable(False)
    sharing = python_steps.share_components(False)
    try:
        yield
    finally:
        pipeline_task.inspect, pipeline_spec_builder.yaml = saved
        if batching:
            kubernetes_batch.install()
        pipeline_text.enable(in_memory)
        python_steps.share_components(sharing)
