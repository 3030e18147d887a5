"""Run the Pulumi program in-process under Pulumi's mocks and record every registration.

Pulumi's `MockMonitor` receives each `RegisterResource` request: type, name, inputs, parent,
provider, dependencies and the options that matter for review (protect, retain on delete,
ignore changes). A subclass records them; `PlanMocks` answers with outputs derived only
from the resource's type and name (ids, ARNs, the cluster's OIDC issuer), so two runs of
the same IR give byte-identical plans. No CLI, no cloud account, no network.

The SDK spends most of a run on its own bookkeeping, not on the program. For the pinned
SDK only and only while `run_program` runs, a few of its internals are replaced by
equivalent, cheaper ones (compiler/plan/pulumi_speedups.py), and the monitor answers with
only the outputs that differ from the inputs, and monitor calls run inline on the run's own
event loop instead of a thread pool: ≈ 0.8 instead of ≈ 2.0 ms of CPU per registration.
`run_program(..., speedups=False)` is the stock behaviour; tests/plan/test_mocks_speedups.py
proves the plans byte-identical.
"""

from __future__ import annotations

import asyncio
import base64
import gc
import hashlib
import json
import threading
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi
from google.protobuf import struct_pb2
from pulumi.runtime import rpc
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.mocks import (
    MockCallArgs,
    MockMonitor,
    MockResourceArgs,
    Mocks,
    _resolve_callbacks,
)
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.sync_await import _ensure_event_loop, _sync_await

from compiler.ir import PlatformIR
from compiler.plan import pulumi_speedups
from compiler.plan.model import Plan, PlannedResource, ResourceKind
from platform_iac.naming import PLAN_ACCOUNT_ID, SpecRef, spec_ref

STACK_TYPE = "pulumi:pulumi:Stack"
PROVIDERS_SPEC = SpecRef("platform", "providers")
_EC2_ID_PREFIX = {
    "Vpc": "vpc",
    "Subnet": "subnet",
    "InternetGateway": "igw",
    "NatGateway": "nat",
    "Eip": "eipalloc",
    "RouteTable": "rtb",
    "RouteTableAssociation": "rtbassoc",
    "VpcEndpoint": "vpce",
    "DefaultSecurityGroup": "sg",
    "LaunchTemplate": "lt",
}


def _hex(*parts: str, length: int = 17) -> str:
    return hashlib.sha256("::".join(parts).encode()).hexdigest()[:length]


def _file_asset(asset: Any) -> dict[str, str]:
    """A file to upload, as the plan shows it: its path (relative to the repository, so the
    plan is the same on every machine) and the SHA-256 of its bytes (a new file is a change)."""
    import hashlib
    from pathlib import Path

    from compiler.cache import REPO

    path = Path(asset.path)
    shown = path.relative_to(REPO).as_posix() if path.is_relative_to(REPO) else path.as_posix()
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
    return {"file": shown, "sha256": digest}


def normalise(value: Any) -> Any:
    """Pulumi hands numbers over as floats: whole ones become ints again, for YAML and diffs;
    a file asset becomes its path and content hash."""
    from pulumi import FileAsset

    if isinstance(value, FileAsset):
        return _file_asset(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): normalise(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [normalise(v) for v in value]
    return value


class PlanMocks(Mocks):
    """Deterministic stand-ins for what AWS would return; Kubernetes objects echo their inputs."""

    def __init__(self, region: str) -> None:
        self.region = region
        self._local = threading.local()
        self._provider_regions: dict[str, str] = {}

    def last_inputs(self) -> dict[str, Any]:
        return getattr(self._local, "inputs", {})

    def new_resource(self, args: MockResourceArgs) -> tuple[str | None, dict[str, Any]]:
        self._local.inputs = args.inputs
        if args.typ == "pulumi:providers:aws" and args.inputs.get("region"):
            self._provider_regions[args.name] = str(args.inputs["region"])
        region = self.region
        if args.provider:
            provider_name = args.provider.rsplit("::", 1)[0].rsplit("::", 1)[-1]
            region = self._provider_regions.get(provider_name, region)
        return self.outputs(args.typ, args.name, dict(args.inputs), region)

    def outputs(
        self, typ: str, name: str, inputs: dict[str, Any], region: str
    ) -> tuple[str, dict[str, Any]]:
        package, module, kind = [*typ.split(":", 2), "", ""][:3]
        account = PLAN_ACCOUNT_ID
        service = module.split("/", 1)[0]
        out = dict(inputs)
        if package == "pulumi" and module == "providers":
            return f"{kind}-provider", out
        if package == "kubernetes":
            meta = inputs.get("metadata") or {}
            ident = "/".join(p for p in (meta.get("namespace"), meta.get("name")) if p) or name
            return ident, out
        if typ == "aws:s3/bucket:Bucket":
            bucket = inputs.get("bucket", name)
            out.update(bucket=bucket, arn=f"arn:aws:s3:::{bucket}")
            return bucket, out
        if typ == "aws:iam/role:Role":
            role = inputs.get("name", name)
            out.update(name=role, arn=f"arn:aws:iam::{account}:role/{role}")
            return role, out
        if typ == "aws:iam/openIdConnectProvider:OpenIdConnectProvider":
            host = str(inputs.get("url", "")).removeprefix("https://")
            arn = f"arn:aws:iam::{account}:oidc-provider/{host}"
            out["arn"] = arn
            return arn, out
        if typ == "aws:kms/key:Key":
            digest = _hex(typ, name, length=32)
            key_id = f"{digest[:8]}-{digest[8:12]}-{digest[12:16]}-{digest[16:20]}-{digest[20:]}"
            out.update(keyId=key_id, arn=f"arn:aws:kms:{region}:{account}:key/{key_id}")
            return key_id, out
        if typ == "aws:eks/cluster:Cluster":
            cluster = inputs.get("name", name)
            issuer = _hex(typ, name, length=32).upper()
            out.update(
                name=cluster,
                arn=f"arn:aws:eks:{region}:{account}:cluster/{cluster}",
                endpoint=f"https://{issuer}.gr7.{region}.eks.amazonaws.com",
                certificateAuthority={"data": base64.b64encode(b"plan-ca").decode()},
                identities=[
                    {"oidcs": [{"issuer": f"https://oidc.eks.{region}.amazonaws.com/id/{issuer}"}]}
                ],
            )
            return cluster, out
        if typ == "aws:eks/nodeGroup:NodeGroup":
            group = inputs.get("nodeGroupName", name)
            out.update(
                nodeGroupName=group,
                arn=f"arn:aws:eks:{region}:{account}:nodegroup/{inputs.get('clusterName')}/{group}",
            )
            return f"{inputs.get('clusterName')}:{group}", out
        if package == "aws" and service == "ec2" and kind in _EC2_ID_PREFIX:
            ident = f"{_EC2_ID_PREFIX[kind]}-{_hex(typ, name)}"
            out.setdefault("arn", f"arn:aws:ec2:{region}:{account}:{kind.lower()}/{ident}")
            if kind == "LaunchTemplate":
                out["latestVersion"] = 1
            return ident, out
        ident = inputs.get("name") or name
        out.setdefault("arn", f"arn:aws:{service}:{region}:{account}:{kind.lower()}/{ident}")
        return str(ident), out

    def call(self, args: MockCallArgs) -> dict[str, Any]:  # type: ignore[override]
        region, account = self.region, PLAN_ACCOUNT_ID
        if args.token == "aws:index/getCallerIdentity:getCallerIdentity":
            return {
                "accountId": account,
                "arn": f"arn:aws:iam::{account}:role/plan",
                "userId": "PLAN",
                "id": account,
            }
        if args.token == "aws:index/getAvailabilityZones:getAvailabilityZones":
            letters = "abcdef"
            return {
                "id": region,
                "names": [f"{region}{c}" for c in letters],
                "zoneIds": [f"{region[:2]}{region.split('-')[-1]}-az{i + 1}" for i in range(6)],
                "state": "available",
            }
        if args.token == "aws:ec2/getSubnets:getSubnets":
            seed = json.dumps(args.args.get("filters") or [], sort_keys=True, default=str)
            return {"id": region, "ids": [f"subnet-{_hex(seed, str(i))}" for i in range(3)]}
        return {}


@dataclass
class _Request:
    urn: str
    type: str
    name: str
    parent: str
    custom: bool
    remote: bool
    provider: str
    dependencies: tuple[str, ...]
    protect: bool
    retain_on_delete: bool
    delete_before_replace: bool
    ignore_changes: tuple[str, ...]
    inputs: dict[str, Any]


class RecordingMonitor(MockMonitor):
    """Pulumi's mock monitor, plus a record of every registration request.

    With `lean_responses` (the pinned SDK only), a registration's response carries only the
    outputs that differ from its inputs. The SDK resolves every output missing from a
    response with the input it sent (`rpc.resolve_outputs`), so the program sees the same
    values, without the stock round trip that serialises every echoed input on a private
    event loop and deserialises it again.
    """

    def __init__(self, mocks: PlanMocks, lean_responses: bool = False) -> None:
        super().__init__(mocks)
        self.plan_mocks = mocks
        self.lean_responses = lean_responses
        self.requests: list[_Request] = []
        self._lock = threading.Lock()

    def RegisterResource(self, request: Any) -> Any:
        if request.type == STACK_TYPE:
            return super().RegisterResource(request)
        if self.lean_responses:
            response, inputs = self._register_lean(request)
        else:
            response = super().RegisterResource(request)
            inputs = self.plan_mocks.last_inputs()
        recorded = _Request(
            urn=response.urn,
            type=request.type,
            name=request.name,
            parent=request.parent,
            custom=bool(request.custom),
            remote=bool(request.remote),
            provider=request.provider,
            dependencies=tuple(request.dependencies),
            protect=bool(request.protect),
            retain_on_delete=bool(request.retainOnDelete),
            delete_before_replace=bool(request.deleteBeforeReplace),
            ignore_changes=tuple(request.ignoreChanges),
            inputs=inputs,
        )
        with self._lock:
            self.requests.append(recorded)
        return response

    def _register_lean(self, request: Any) -> tuple[Any, dict[str, Any]]:
        """`MockMonitor.RegisterResource`, answering with the outputs that are not inputs."""
        urn = self.make_urn(request.parent, request.type, request.name)
        _ensure_event_loop()  # deserialising resource references needs one
        inputs = rpc.deserialize_properties(request.object)
        args = MockResourceArgs(
            typ=request.type,
            name=request.name,
            inputs=inputs,
            provider=request.provider,
            resource_id=request.importId,
            custom=request.custom or False,
            transforms=_resolve_callbacks(request.transforms),
        )
        resource_id: Any
        resource_id, state = self.mocks.new_resource(args)
        self.resources[urn] = MockMonitor.ResourceRegistration(urn, resource_id, state)
        changed = {
            key: value
            for key, value in state.items()
            if value is not None and (key not in inputs or inputs[key] is not value)
        }
        outputs = struct_pb2.Struct()
        try:
            outputs.update(changed)
        except (TypeError, ValueError):  # not plain data: the SDK's own serialiser
            outputs = _sync_await(rpc.serialize_properties(changed, {}))
        response = resource_pb2.RegisterResourceResponse(urn=urn, id=resource_id, object=outputs)
        return response, inputs


def resource_key(urn: str) -> str:
    """`urn:pulumi:<stack>::<project>::<type chain>::<name>` → `<type chain>::<name>`."""
    if not urn:
        return ""
    rest = urn.split("::", 2)[2]
    return rest.removeprefix(f"{STACK_TYPE}$")


def _to_plan(ir: PlatformIR, requests: list[_Request]) -> Plan:
    by_urn = {r.urn: r for r in requests}
    chains: dict[str, str] = {}

    def chain(request: _Request) -> str:
        """The full type chain, as the Pulumi engine builds URNs (the mock keeps one level)."""
        if request.urn not in chains:
            parent = by_urn.get(request.parent)
            chains[request.urn] = f"{chain(parent)}${request.type}" if parent else request.type
        return chains[request.urn]

    def key(urn: str) -> str:
        return f"{chain(by_urn[urn])}::{by_urn[urn].name}"

    def provider_key(reference: str) -> str | None:
        urn = reference.rsplit("::", 1)[0] if reference else ""
        return key(urn) if urn in by_urn else None

    def owner(request: _Request) -> SpecRef:
        current: _Request | None = request
        while current is not None:
            if not current.custom and not current.remote:
                ref = spec_ref(current.type, current.name)
                if ref is not None:
                    return ref
            current = by_urn.get(current.parent)
        return PROVIDERS_SPEC

    resources = []
    for request in requests:
        kind: ResourceKind = (
            "resource" if request.custom else "remote" if request.remote else "component"
        )
        resources.append(
            PlannedResource(
                key=key(request.urn),
                type=request.type,
                name=request.name,
                kind=kind,
                parent=key(request.parent) if request.parent in by_urn else None,
                provider=provider_key(request.provider),
                inputs=normalise(request.inputs),
                dependencies=tuple(sorted({key(d) for d in request.dependencies if d in by_urn})),
                protect=request.protect,
                retain_on_delete=request.retain_on_delete,
                delete_before_replace=request.delete_before_replace,
                ignore_changes=tuple(sorted(request.ignore_changes)),
                spec=owner(request),
            )
        )
    return Plan.of(ir, resources)


def run_program(
    ir: PlatformIR,
    program: Callable[[PlatformIR], object] | None = None,
    *,
    speedups: bool = True,
    collect: bool = True,
) -> Plan:
    """Register the platform of `ir` under mocks and return what was registered.

    Exceptions raised by the program propagate. Python's cyclic GC is paused while the
    program runs: it is a large share of the registration cost (NOTES.md). `speedups=False`
    runs the stock SDK (the speed-ups never change the plan; they apply to the pinned SDK only).
    `collect=False` leaves the cyclic GC paused after the run, for a worker that exits after
    it: collecting a large run's garbage costs ≈ 10% of the run, and exiting frees it anyway.
    """
    if program is None:
        from platform_iac.program import build_platform

        program = build_platform
    fast = speedups and pulumi_speedups.applicable()
    mocks = PlanMocks(ir.platform.region)
    monitor = RecordingMonitor(mocks, lean_responses=fast)
    if fast:
        pulumi_speedups.use_inline_loop()  # before set_mocks: its futures use this loop
    enabled = gc.isenabled()
    try:
        pulumi_settings.ROOT.set(None)
        pulumi.runtime.set_mocks(
            mocks,
            project=ir.platform.pulumi.project,
            stack=ir.platform.pulumi.stack,
            preview=False,
            monitor=monitor,
        )
        chosen = program

        def main() -> None:
            chosen(ir)

        gc.disable()
        with (
            warnings.catch_warnings(),
            pulumi_speedups.without_source_positions(),
            pulumi_speedups.sdk_speedups(fast),
        ):
            # pulumi-aws warns about its own deprecated resources when its modules load
            warnings.filterwarnings("ignore", category=DeprecationWarning, module=r"pulumi_aws\.")
            pulumi.runtime.test(main)()
    finally:
        if enabled and collect:
            gc.enable()
        _release_threads()
    return _to_plan(ir, monitor.requests)


def _release_threads() -> None:
    """Close the run's event loop (stopping the executor threads a stock run leaves on it)
    and start the next run on a fresh loop: a process that runs the program can then still
    fork workers safely."""
    loop = asyncio.get_event_loop()
    if loop.is_running():  # pragma: no cover - a caller inside an event loop keeps it
        return
    loop.run_until_complete(loop.shutdown_default_executor())
    loop.close()
    asyncio.set_event_loop(asyncio.new_event_loop())
