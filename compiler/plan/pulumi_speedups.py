"""Cheaper equivalents of Pulumi SDK hot spots, for mocked runs of the program only.

The SDK spends most of a mocked run on its own bookkeeping, not on the program. For the
pinned SDK only (`PATCHED_PULUMI_VERSION`) and only while `compiler.plan.mocks.run_program`
runs, a few of its internals are replaced by equivalent, cheaper ones (`sdk_speedups`), and
the stack trace it walks for source positions is skipped (`without_source_positions`).
tests/plan/test_mocks_speedups.py proves the plans byte-identical with and without them.
"""

from __future__ import annotations

import asyncio
import functools
import importlib.metadata
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

from google.protobuf import struct_pb2
from pulumi import _types as pulumi_types
from pulumi.output import Output, Unknown, _OutputData
from pulumi.resource import Alias, Resource
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings

PATCHED_PULUMI_VERSION = "3.272.0"
"""The SDK whose internals `_sdk_speedups` replaces (pinned in requirements.lock)."""


@functools.cache
def applicable() -> bool:
    """The speed-ups stand in for SDK internals: only for the version they were checked on."""
    try:
        return importlib.metadata.version("pulumi") == PATCHED_PULUMI_VERSION
    except importlib.metadata.PackageNotFoundError:
        return False


_SCALARS = frozenset({str, int, float, bool, type(None)})


def _contains_unknowns(value: Any) -> bool:
    """`rpc.contains_unknowns` without its recursive closure.

    The stock function defines a recursive inner function on every call (dozens of calls per
    registration); each call leaves a reference cycle (function, cell, annotations) that
    only the cyclic GC frees: most of a run's garbage. Same walk: dict values and list
    items, each container once.
    """
    if not isinstance(value, (dict, list)):
        return isinstance(value, Unknown)
    seen: set[int] = set()
    pending: list[Any] = [value]
    while pending:
        current = pending.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        items = [current[key] for key in current] if isinstance(current, dict) else current
        for item in items:
            if isinstance(item, (dict, list)):
                pending.append(item)
            elif isinstance(item, Unknown):
                return True
    return False


def _known(value: Any) -> Output[Any]:
    """An Output that is already resolved (known, not secret), as `Output.from_input` makes."""
    data: asyncio.Future[Any] = asyncio.Future()
    data.set_result(_OutputData(resources=set(), value=value, is_known=True, is_secret=False))
    return Output._from_data(data)


def _fast_create_urn(original: Callable[..., Any]) -> Callable[..., Any]:
    def create_urn(
        name: Any, type_: Any, parent: Any = None, project: Any = None, stack: Any = None
    ) -> Any:
        """From plain strings (the URN `do_register` computes for every registration) the
        same value as one resolved Output instead of a chain of five."""
        if type(name) is str and type(type_) is str and type(parent) is str:
            return _known(f"{parent[: parent.rfind('::')]}${type_}::{name}")
        return original(name, type_, parent, project, stack)

    return create_urn


def _fast_collapse_alias(original: Callable[..., Any]) -> Callable[..., Any]:
    def collapse_alias_to_urn(
        alias: Any, default_name: Any, default_type: Any, default_parent: Any
    ) -> Any:
        """An `Alias` of plain strings (pulumi-kubernetes gives each object some) becomes its
        URN in one apply on the parent's URN instead of about twelve Outputs."""
        if type(alias) is Alias:
            name = default_name if alias.name is ... else alias.name
            type_ = default_type if alias.type_ is ... else alias.type_
            parent = default_parent if alias.parent is ... else alias.parent
            project = alias.project
            if project is ... or project is None:
                project = pulumi_settings.get_project()
            stack = alias.stack
            if stack is ... or stack is None:
                stack = pulumi_settings.get_stack()
            if all(type(part) is str for part in (name, type_, project, stack)):
                suffix = f"{type_}::{name}"
                if parent is None:
                    return _known(f"urn:pulumi:{stack}::{project}::{suffix}")
                if isinstance(parent, Resource):
                    return parent.urn.apply(lambda urn: f"{urn[: urn.rfind('::')]}${suffix}")
        return original(alias, default_name, default_type, default_parent)

    return collapse_alias_to_urn


def _memoised(function: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Type unwrapping is a pure function of a type hint, asked again for every property."""
    cache: dict[Any, Any] = {}

    def memoised(hint: Any) -> Any:
        try:
            return cache[hint]
        except KeyError:
            result = cache[hint] = function(hint)
            return result
        except TypeError:  # an unhashable hint
            return function(hint)

    return memoised


_unwrap_type = _memoised(pulumi_types.unwrap_type)
_unwrap_optional_type = _memoised(pulumi_types.unwrap_optional_type)


def _fast_serialize_property(original: Callable[..., Any]) -> Callable[..., Any]:
    async def serialize_property(
        value: Any,
        deps: Any,
        property_key: Any,
        resource_obj: Any = None,
        input_transformer: Any = None,
        typ: Any = None,
        keep_output_values: bool = False,
        exclude_resource_refs_from_deps: bool = False,
        return_protobuf_value: bool = False,
    ) -> Any:
        """Strings, numbers, booleans and None serialise to themselves: skip the dozen type
        checks the stock function makes before it says so."""
        if type(value) in _SCALARS and not return_protobuf_value:
            return value
        return await original(
            value,
            deps,
            property_key,
            resource_obj,
            input_transformer,
            typ,
            keep_output_values,
            exclude_resource_refs_from_deps,
            return_protobuf_value,
        )

    return serialize_property


def _resolve_output(
    resource: Any,
    data: asyncio.Future[Any],
    value: Any,
    is_known: bool,
    is_secret: bool,
    deps: Any,
    failed: Exception | None,
) -> None:
    resources = set(deps) if deps else set()
    resources.add(resource)
    if failed is not None:
        data.set_exception(failed)
    else:
        data.set_result(
            _OutputData(resources=resources, value=value, is_known=is_known, is_secret=is_secret)
        )


def _transfer_properties(resource: Any, props: Any, custom: bool) -> dict[str, Any]:
    """`rpc.transfer_properties` with one future per output property.

    Stock: four futures (value, known, secret, dependencies) and a task that gathers them
    into the Output; here the resolver sets the Output's data directly, as the SDK already
    does for `urn` and `id` (`resource_output`). Same value, flags, dependencies (the
    resource itself included) and exception.
    """
    resolvers: dict[str, Any] = {}
    for name in props:
        if name == "urn" or (name == "id" and custom):
            continue
        data: asyncio.Future[Any] = asyncio.Future()
        resolvers[name] = functools.partial(_resolve_output, resource, data)
        resource.__dict__[name] = Output._from_data(data)
    return resolvers


def _fast_deserialize(
    original_properties: Callable[..., Any], original_property: Callable[..., Any]
) -> tuple[Callable[..., Any], Callable[..., Any]]:
    """`rpc.deserialize_properties` / `deserialize_property` reading protobuf values directly.

    The stock functions go through protobuf's pure-Python Struct wrappers and import
    `Unknown` on every call. Same results: unknowns, secrets pushed up to their container,
    None dropped from structs, internal keys; asset, archive, secret, resource and output
    structs (the signature key) are left to the stock function.
    """
    signature = rpc._special_sig_key
    unknown = rpc.UNKNOWN
    is_secret, wrap, unwrap = rpc.is_rpc_secret, rpc.wrap_rpc_secret, rpc.unwrap_rpc_secret

    def from_value(value: Any, keep_unknowns: Any, keep_internal: Any) -> Any:
        kind = value.WhichOneof("kind")
        if kind == "string_value":
            text = value.string_value
            if text == unknown:
                return Unknown() if pulumi_settings.is_dry_run() or keep_unknowns else None
            return text
        if kind == "struct_value":
            return from_struct(value.struct_value, keep_unknowns, keep_internal)
        if kind == "list_value":
            return from_list(value.list_value, keep_unknowns, keep_internal)
        if kind == "number_value":
            return value.number_value
        if kind == "bool_value":
            return value.bool_value
        if kind == "null_value":
            return None
        raise ValueError("Value not set")

    def from_list(values: Any, keep_unknowns: Any, keep_internal: Any) -> Any:
        items = [from_value(item, keep_unknowns, keep_internal) for item in values.values]
        if any(is_secret(item) for item in items):
            return wrap([unwrap(item) for item in items])
        return items

    def from_struct(struct: Any, keep_unknowns: Any, keep_internal: Any) -> Any:
        props = deserialize_properties(struct, keep_unknowns, keep_internal)
        if isinstance(props, dict) and any(is_secret(v) for v in props.values()):
            return wrap({k: unwrap(v) for k, v in props.items()})
        return props

    def deserialize_properties(
        props_struct: Any, keep_unknowns: Any = None, keep_internal: Any = True
    ) -> Any:
        fields = props_struct.fields
        if signature in fields:
            return original_properties(props_struct, keep_unknowns, keep_internal)
        output = {}
        for key in fields:
            if keep_internal is False and key.startswith("__") and key != "__provider":
                continue
            value = from_value(fields[key], keep_unknowns, keep_internal)
            if value is not None:
                output[key] = value
        return output

    def deserialize_property(
        value: Any, keep_unknowns: Any = None, keep_internal: Any = True
    ) -> Any:
        if type(value) is struct_pb2.Struct:
            return from_struct(value, keep_unknowns, keep_internal)
        if type(value) is struct_pb2.ListValue:
            return from_list(value, keep_unknowns, keep_internal)
        return original_property(value, keep_unknowns, keep_internal)

    return deserialize_properties, deserialize_property


@contextmanager
def _replaced(owner: Any, name: str, replacement: Any) -> Iterator[None]:
    original = getattr(owner, name)
    setattr(owner, name, replacement)
    try:
        yield
    finally:
        setattr(owner, name, original)


class _InlineRpcLoop(asyncio.SelectorEventLoop):
    """An event loop that runs `run_in_executor(None, call)` inline.

    The SDK sends each resource monitor call through the loop's default thread pool, since
    against a real engine it is a blocking gRPC call. Under mocks the monitor is Python in
    this process: the pool only adds a thread hand-off, a contended GIL and a wake-up write to
    the loop's self-pipe per registration (≈ 10% of a mocked run, plus the pool's shutdown).
    The calls the SDK makes this way never wait on the loop (they are the monitor's
    RegisterResource, ReadResource, Invoke, RegisterResourceOutputs and SupportsFeature), so
    running them inline cannot deadlock; their results are the same.
    """

    def run_in_executor(  # type: ignore[override]
        self, executor: Any, func: Callable[..., Any], *args: Any
    ) -> asyncio.Future[Any]:
        if executor is not None:
            return super().run_in_executor(executor, func, *args)
        if self.is_closed():
            raise RuntimeError("Event loop is closed")
        future = self.create_future()
        try:
            future.set_result(func(*args))
        except Exception as exc:  # delivered to the awaiting task, as from the pool
            future.set_exception(exc)
        return future


def use_inline_loop() -> None:
    """Make a fresh `_InlineRpcLoop` this thread's event loop, for the next run (the run's
    end closes it and starts a fresh default loop: `mocks._release_threads`)."""
    asyncio.set_event_loop(_InlineRpcLoop())


@contextmanager
def sdk_speedups(enabled: bool = True) -> Iterator[None]:
    """Cheaper equivalents of SDK hot spots, for the duration of one mocked run.

    Each replaces a module attribute the SDK looks up at call time, keeps the stock function
    for every case it does not cover, and is restored on exit; real deploys (the Automation
    API) never pass through here. Share of the instructions each saved on the generated
    organisation (callgrind, in the order applied after the lean responses): contains_unknowns
    4% (plus most of the cyclic garbage), create_urn 9%, type unwrapping 8%, scalar
    serialisation 7%, transfer_properties 7%, aliases 11%, deserialisation 16%.
    """
    if not enabled:
        yield
        return
    from pulumi import resource as pulumi_resource
    from pulumi.runtime import resource as runtime_resource

    deserialize_properties, deserialize_property = _fast_deserialize(
        rpc.deserialize_properties, rpc.deserialize_property
    )
    with ExitStack() as stack:
        for owner, name, replacement in (
            (rpc, "contains_unknowns", _contains_unknowns),
            (rpc, "serialize_property", _fast_serialize_property(rpc.serialize_property)),
            (rpc, "transfer_properties", _transfer_properties),
            (rpc, "deserialize_properties", deserialize_properties),
            (rpc, "deserialize_property", deserialize_property),
            (pulumi_types, "unwrap_type", _unwrap_type),
            (pulumi_types, "unwrap_optional_type", _unwrap_optional_type),
            (runtime_resource, "create_urn", _fast_create_urn(runtime_resource.create_urn)),
            (
                pulumi_resource,
                "collapse_alias_to_urn",
                _fast_collapse_alias(pulumi_resource.collapse_alias_to_urn),
            ),
        ):
            stack.enter_context(_replaced(owner, name, replacement))
        yield


@contextmanager
def without_source_positions() -> Iterator[None]:
    """Skip the stack trace Pulumi walks for every registration (about a tenth of its cost).

    It only feeds the engine's source positions, which a plan under mocks never records;
    real deploys (the Automation API) do not pass through here.
    """
    from pulumi.runtime import resource as runtime_resource
    from pulumi.runtime.proto import source_pb2

    original = runtime_resource._get_stack_trace
    runtime_resource._get_stack_trace = source_pb2.StackTrace
    try:
        yield
    finally:
        runtime_resource._get_stack_trace = original
