"""All of a task's kfp-kubernetes settings on one message, converted to a dict once.

Each kfp-kubernetes function (`add_pod_label`, `add_node_selector`, `set_timeout`, ...)
parses the task's whole Kubernetes config from `task.platform_config["kubernetes"]` into a
protobuf message (`common.get_existing_kubernetes_config_as_message`), changes it, and
converts it back with `json_format.MessageToDict`: protobuf's pure-Python JSON code, twice
per setting, over a config that grows with each one. Inside `batched(task)` the functions
share one message and the dict is made once, when the block ends.

The result is the same because a `MessageToDict` / `ParseDict` round trip gives back an
equal message (proto3 JSON keeps every field that is set), so converting after each change
or only after the last one yields the same dict. Outside a block, and for any other task or
message, the functions behave exactly as installed. These are kfp-kubernetes internals, so
`install()` patches only the pinned version; tests/compiler/kfp_backend/test_speedups.py
proves byte-identical output against stock kfp.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType, ModuleType
from typing import Any

from google.protobuf import json_format
from kfp.dsl import PipelineTask
from kfp.kubernetes import common

PATCHED_VERSION = "2.17.3"
SETTING_MODULES = (
    "config_map",
    "empty_dir",
    "field",
    "image",
    "node_affinity",
    "node_selector",
    "pod_metadata",
    "secret",
    "security_context",
    "timeout",
    "toleration",
    "volume",
)
"""The kfp.kubernetes modules whose functions read, change and write back the config."""

_STOCK_EXISTING = common.get_existing_kubernetes_config_as_message
_state = threading.local()


class _Batch:
    """The task a block configures and, once a setting asked for it, its message."""

    __slots__ = ("message", "task")

    def __init__(self, task: PipelineTask) -> None:
        self.task = task
        self.message: Any = None


def _current(task: PipelineTask) -> _Batch | None:
    batch: _Batch | None = getattr(_state, "batch", None)
    return batch if batch is not None and batch.task is task else None


def _existing_message(task: PipelineTask) -> Any:
    """`get_existing_kubernetes_config_as_message`: parsed once per block, then shared."""
    batch = _current(task)
    if batch is None:
        return _STOCK_EXISTING(task)
    if batch.message is None:
        batch.message = _STOCK_EXISTING(task)
    return batch.message


_PENDING: Mapping[str, Any] = MappingProxyType({})
"""What a setting writes to platform_config inside a block; replaced when the block ends."""


class _BatchingJsonFormat:
    """`json_format` as the setting modules see it: no conversion of a block's message."""

    def __getattr__(self, name: str) -> Any:
        return getattr(json_format, name)

    @staticmethod
    def MessageToDict(message: Any, *args: Any, **kwargs: Any) -> Any:
        batch: _Batch | None = getattr(_state, "batch", None)
        if batch is not None and message is batch.message and not args and not kwargs:
            return _PENDING
        return json_format.MessageToDict(message, *args, **kwargs)


_JSON = _BatchingJsonFormat()


def _setting_modules() -> list[ModuleType] | None:
    """The modules to patch, or None when they do not have the expected shape."""
    modules = [importlib.import_module(f"kfp.kubernetes.{name}") for name in SETTING_MODULES]
    if any(getattr(module, "json_format", None) not in (json_format, _JSON) for module in modules):
        return None
    return modules


def applicable() -> bool:
    try:
        version = importlib.metadata.version("kfp-kubernetes")
    except importlib.metadata.PackageNotFoundError:
        return False
    return version == PATCHED_VERSION and _setting_modules() is not None


def installed() -> bool:
    return common.get_existing_kubernetes_config_as_message is _existing_message


def install() -> bool:
    """Patch the pinned kfp-kubernetes in this process; returns whether it was patched."""
    modules = _setting_modules() if applicable() else None
    if modules is None:
        return False
    for module in modules:
        module.json_format = _JSON  # type: ignore[attr-defined]
    common.get_existing_kubernetes_config_as_message = _existing_message
    return True


def uninstall() -> None:
    """kfp-kubernetes exactly as installed."""
    for name in SETTING_MODULES:
        module = importlib.import_module(f"kfp.kubernetes.{name}")
        if getattr(module, "json_format", None) is _JSON:
            module.json_format = json_format  # type: ignore[attr-defined]
    common.get_existing_kubernetes_config_as_message = _STOCK_EXISTING


@contextmanager
def batched(task: PipelineTask) -> Iterator[None]:
    """kfp-kubernetes settings of `task` made in this block share one message.

    The task's `platform_config["kubernetes"]` holds the settings when the block ends
    (also when it ends with an exception, so the config is never left half-written).
    """
    if not installed():
        yield
        return
    batch, outer = _Batch(task), getattr(_state, "batch", None)
    _state.batch = batch
    try:
        yield
    finally:
        _state.batch = outer
        if batch.message is not None:
            task.platform_config["kubernetes"] = json_format.MessageToDict(batch.message)
