"""Cloud deploy: the Pulumi program through the Automation API, then pipelines to Kubeflow.

1. Check, before anything changes, that everything needed is there: the Pulumi CLI, AWS
   credentials, a usable state backend (and its secrets passphrase), the compiled pipelines
   and a reachable Kubeflow Pipelines endpoint. Each missing piece is one diagnostic that
   says what is missing and how to get it.
2. Open the environment's stack (project and stack from the spec, backend from the spec),
   with the provider plugins pinned to the installed pulumi-aws and pulumi-kubernetes.
3. Preview; refuse destructive changes (delete or replace of a stateful or protected
   resource, the same rules as `mlplat plan`) unless `--allow-destroy`; ask before applying
   unless `--yes`; apply.
4. Upload each compiled pipeline as a new version (named by its content hash, so an
   unchanged pipeline is not uploaded again) to its team's namespace, and create or
   update its recurring run; disable recurring runs whose schedule was removed.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import socket
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from compiler.cli import EXIT_INVALID, EXIT_OK, Console
from compiler.config_layout import CLI_FILE
from compiler.diagnostics import Diagnostic, Span, error
from compiler.frontend import FrontendResult
from compiler.ir import PlatformIR
from compiler.plan.features import FeatureViewChange, feature_changes
from compiler.plan.rules import STATEFUL

SKIP_UPLOAD_ENV = "MLPLAT_SKIP_PIPELINE_UPLOAD"
KFP_TOKEN_ENV = "KFP_TOKEN"
PLUGINS = (("aws", "pulumi_aws"), ("kubernetes", "pulumi_kubernetes"))
DESTRUCTIVE_OPS = frozenset({"delete", "replace", "create-replacement", "delete-replaced"})


# --- 1. preflight -------------------------------------------------------------------------


@dataclass(frozen=True)
class Environment:
    """What the preflight looks at; tests pass their own."""

    env: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    home: Path = field(default_factory=Path.home)
    which: Callable[[str], str | None] = shutil.which
    connect_timeout: float = 5.0


def _where(result: FrontendResult, *path: str) -> Span:
    return result.sources.locate(tuple(path)) or Span(CLI_FILE)


def _profiles(path: Path) -> set[str]:
    """Profile names in an AWS shared config or credentials file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError:
        return set()
    names = set()
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("[") and line.endswith("]"):
            names.add(line[1:-1].removeprefix("profile ").strip())
    return names


def aws_credentials_source(env: Mapping[str, str], home: Path) -> str | None:
    """Where the AWS SDKs would find credentials, checked without calling AWS; None if nowhere."""
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return "AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
    if env.get("AWS_WEB_IDENTITY_TOKEN_FILE") and env.get("AWS_ROLE_ARN"):
        return "web identity (AWS_ROLE_ARN)"
    if env.get("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI") or env.get(
        "AWS_CONTAINER_CREDENTIALS_FULL_URI"
    ):
        return "container credentials"
    profile = env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or "default"
    files = [
        Path(env.get("AWS_SHARED_CREDENTIALS_FILE") or home / ".aws" / "credentials"),
        Path(env.get("AWS_CONFIG_FILE") or home / ".aws" / "config"),
    ]
    for path in files:
        if profile in _profiles(path):
            return f"profile '{profile}' in {path}"
    return None


def _reachable(url: str, timeout: float) -> str | None:
    """None when a TCP connection to the URL's host and port opens, else the reason."""
    parsed = urlparse(url)
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "", port), timeout=timeout):
            return None
    except OSError as exc:
        return str(exc) or type(exc).__name__


def backend_url(ir: PlatformIR, cwd: Path) -> str:
    """The spec's backend; a relative file:// path is taken from the working directory."""
    url = ir.platform.pulumi.backend_url
    if url.startswith("file://") and not url.startswith("file:///"):
        path = url.removeprefix("file://")
        if not path.startswith("~"):
            return f"file://{(cwd / path).resolve().as_posix()}"
    return url


def pipeline_files(folder: Path) -> list[Path]:
    return sorted(p for p in (folder / "pipelines").glob("*/*.yaml") if ".schedule." not in p.name)


def preflight(
    result: FrontendResult, build_dir: Path, where: Environment | None = None
) -> list[Diagnostic]:
    """Everything missing for a cloud deploy, as diagnostics; empty when all is there."""
    assert result.ir is not None
    ir, where = result.ir, where or Environment()
    env, problems = where.env, []
    if where.which("pulumi") is None:
        problems.append(
            error(
                "C100",
                "the Pulumi CLI is not installed (no `pulumi` on PATH): cloud deploys run "
                "the platform program through it",
                Span(CLI_FILE),
                "install it with `curl -fsSL https://get.pulumi.com | sh` (or `brew install "
                "pulumi`), open a new shell so ~/.pulumi/bin is on PATH, then deploy again; "
                "`mlplat plan` shows what would change without it",
            )
        )
    if aws_credentials_source(env, where.home) is None:
        problems.append(
            error(
                "C101",
                f"no AWS credentials found for deploying '{ir.environment}' to {ir.platform.region}",
                Span(CLI_FILE),
                "sign in with `aws sso login --profile NAME` and `export AWS_PROFILE=NAME`, or "
                "export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; in CI use OIDC "
                "(aws-actions/configure-aws-credentials)",
            )
        )
    url = ir.platform.pulumi.backend_url
    backend_at = _where(result, "platform", "pulumi", "backend_url")
    if url.startswith("https://"):
        logged_in = (where.home / ".pulumi" / "credentials.json").is_file()
        if not env.get("PULUMI_ACCESS_TOKEN") and not logged_in:
            problems.append(
                error(
                    "C105",
                    f"no access token for the Pulumi state backend {url}",
                    backend_at,
                    "run `pulumi login` or export PULUMI_ACCESS_TOKEN",
                )
            )
    elif not (env.get("PULUMI_CONFIG_PASSPHRASE") or env.get("PULUMI_CONFIG_PASSPHRASE_FILE")):
        problems.append(
            error(
                "C105",
                f"the state backend {url} needs a passphrase to encrypt the stack's secrets, "
                "and none is set",
                backend_at,
                "export PULUMI_CONFIG_PASSPHRASE (or PULUMI_CONFIG_PASSPHRASE_FILE) from your "
                "secret store; every deploy of this stack must use the same one",
            )
        )
    folder = build_dir / ir.environment
    if ir.pipelines() and not pipeline_files(folder):
        problems.append(
            error(
                "C104",
                f"no compiled pipelines in {folder}/pipelines/",
                Span(CLI_FILE),
                f"run `mlplat compile --env {ir.environment}` first (mlplat deploy does)",
            )
        )
    if ir.pipelines() and not env.get(SKIP_UPLOAD_ENV):
        endpoint = ir.platform.kfp.endpoint
        if endpoint is None:
            problems.append(
                error(
                    "C102",
                    f"environment '{ir.environment}' has pipelines but no Kubeflow Pipelines "
                    "endpoint to upload them to",
                    _where(result, "platform", "kfp"),
                    "set platform.kfp.endpoint in the environment's overlay, e.g. "
                    "https://kfp.example.com",
                )
            )
        else:
            reason = _reachable(endpoint, where.connect_timeout)
            if reason is not None:
                problems.append(
                    error(
                        "C102",
                        f"the Kubeflow Pipelines endpoint {endpoint} is not reachable ({reason})",
                        _where(result, "platform", "kfp", "endpoint"),
                        "connect to the network it is on (VPN), or fix the endpoint; on the "
                        f"first deploy of a cluster it does not exist yet: {SKIP_UPLOAD_ENV}=1 "
                        "deploys the infrastructure only, then deploy again",
                    )
                )
    return problems


# --- 4. pipelines -------------------------------------------------------------------------


@dataclass(frozen=True)
class PipelineUpload:
    team: str
    name: str
    namespace: str
    package: Path
    version: str
    """`<name>-<content hash>`: the same file is never uploaded twice."""
    schedule: dict[str, Any] | None
    description: str = ""


def pipeline_uploads(ir: PlatformIR, folder: Path) -> list[PipelineUpload]:
    """The compiled pipelines of the build, with their recurring runs, read from files."""
    uploads = []
    for package in pipeline_files(folder):
        team_name, name = package.parent.name, package.stem
        team = ir.teams.get(team_name)
        if team is None or name not in team.pipelines:
            continue
        digest = hashlib.sha256(package.read_bytes()).hexdigest()[:12]
        schedules = sorted(package.parent.glob(f"{name}.schedule.*"))
        schedule = json.loads(schedules[0].read_text(encoding="utf-8")) if schedules else None
        uploads.append(
            PipelineUpload(
                team_name,
                name,
                team.namespace,
                package,
                f"{name}-{digest}",
                schedule,
                team.pipelines[name].description,
            )
        )
    return uploads


def _equals(key: str, value: str) -> str:
    return json.dumps({"predicates": [{"operation": "EQUALS", "key": key, "stringValue": value}]})


def upload_pipeline(client: Any, upload: PipelineUpload) -> tuple[str, str, bool]:
    """(pipeline id, version id, uploaded?) of the upload's version, uploading it if new."""
    found = client.list_pipelines(
        filter=_equals("display_name", upload.name), namespace=upload.namespace
    )
    pipelines = found.pipelines or []
    if not pipelines:
        created = client.upload_pipeline(
            str(upload.package),
            pipeline_name=upload.name,
            description=upload.description or None,
            namespace=upload.namespace,
        )
        pipeline_id = created.pipeline_id
    else:
        pipeline_id = pipelines[0].pipeline_id
        versions = client.list_pipeline_versions(
            pipeline_id, filter=_equals("display_name", upload.version)
        )
        if versions.pipeline_versions:
            return pipeline_id, versions.pipeline_versions[0].pipeline_version_id, False
    version = client.upload_pipeline_version(
        str(upload.package),
        pipeline_version_name=upload.version,
        pipeline_id=pipeline_id,
        description=upload.description or None,
    )
    return pipeline_id, version.pipeline_version_id, True


def sync_schedule(client: Any, upload: PipelineUpload, pipeline_id: str, version_id: str) -> str:
    """Create, replace or disable the pipeline's recurring run; what was done, in words."""
    job_name = f"{upload.name}-schedule"
    if upload.schedule is not None:
        job_name = upload.schedule["recurring_run"]["job_name"]
    experiment = client.create_experiment(upload.name, namespace=upload.namespace)
    existing = (
        client.list_recurring_runs(
            experiment_id=experiment.experiment_id, filter=_equals("display_name", job_name)
        ).recurring_runs
        or []
    )
    if upload.schedule is None:
        for run in existing:
            client.disable_recurring_run(run.recurring_run_id)
        return f"disabled {len(existing)} recurring run(s)" if existing else "no schedule"
    for run in existing:
        reference = getattr(run, "pipeline_version_reference", None)
        if reference is not None and reference.pipeline_version_id == version_id:
            return "schedule unchanged"
        client.delete_recurring_run(run.recurring_run_id)
    spec = {
        k: v
        for k, v in upload.schedule["recurring_run"].items()
        if k not in ("pipeline_package_path", "job_name")
    }
    client.create_recurring_run(
        experiment.experiment_id,
        job_name,
        pipeline_id=pipeline_id,
        version_id=version_id,
        **spec,
    )
    return "schedule replaced" if existing else "schedule created"


def upload_all(
    uploads: Sequence[PipelineUpload], client_for: Callable[[str], Any], console: Console
) -> list[Diagnostic]:
    problems = []
    for upload in uploads:
        try:
            client = client_for(upload.namespace)
            pipeline_id, version_id, uploaded = upload_pipeline(client, upload)
            done = sync_schedule(client, upload, pipeline_id, version_id)
        except Exception as exc:  # the KFP API's errors are many; report each pipeline's
            problems.append(
                error(
                    "C107",
                    f"uploading pipeline {upload.team}/{upload.name} failed: {exc}",
                    Span(CLI_FILE),
                    "the infrastructure is deployed; fix the cause and run mlplat deploy again "
                    "(unchanged pipelines are skipped)",
                )
            )
            continue
        state = f"uploaded {upload.version}" if uploaded else "unchanged"
        console.step(f"pipeline {upload.team}/{upload.name}: {state}, {done}")
    return problems


def kfp_client_factory(endpoint: str) -> Callable[[str], Any]:
    def client_for(namespace: str) -> Any:
        import kfp

        return kfp.Client(
            host=endpoint, namespace=namespace, existing_token=os.environ.get(KFP_TOKEN_ENV)
        )

    return client_for


# --- 2. and 3. the stack ------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewStep:
    op: str
    urn: str
    type: str
    protected: bool

    @property
    def destructive(self) -> bool:
        return self.op in DESTRUCTIVE_OPS and (self.protected or self.type in STATEFUL)


def open_stack(ir: PlatformIR, cwd: Path) -> Any:
    """The environment's stack with the inline program, plugins pinned to the installed SDKs."""
    from pulumi import automation as auto

    from platform_iac.program import build_platform

    project = ir.platform.pulumi.project
    settings = auto.ProjectSettings(
        name=project,
        runtime="python",
        backend=auto.ProjectBackend(url=backend_url(ir, cwd)),
    )

    def program() -> None:
        build_platform(ir)

    stack = auto.create_or_select_stack(
        stack_name=ir.platform.pulumi.stack,
        project_name=project,
        program=program,
        opts=auto.LocalWorkspaceOptions(project_settings=settings),
    )
    for plugin, package in PLUGINS:
        stack.workspace.install_plugin(plugin, f"v{importlib.metadata.version(package)}")
    stack.set_config("aws:region", auto.ConfigValue(ir.platform.region))
    return stack


def breaking_feature_changes(stack: Any, ir: PlatformIR) -> list[FeatureViewChange]:
    """Feature view changes from what the stack serves now (its `feature_views` output, as
    the last deploy left it) to `ir` that break a serving model: a feature an endpoint reads
    removed or retyped, or its view removed or taken offline. A first deploy has no output."""
    deployed = stack.outputs().get("feature_views")
    if deployed is None or not isinstance(deployed.value, Mapping):
        return []
    return [c for c in feature_changes(deployed.value, ir) if c.breaking]


def preview(stack: Any, console: Console) -> list[PreviewStep]:
    steps: list[PreviewStep] = []

    def on_event(event: Any) -> None:
        pre = getattr(event, "resource_pre_event", None)
        if pre is None or pre.metadata is None:
            return
        meta = pre.metadata
        op = getattr(meta.op, "value", str(meta.op))
        if op in ("same", "read", "refresh"):
            return
        protected = bool(meta.old.protect) if meta.old is not None else False
        steps.append(PreviewStep(op, meta.urn, meta.type, protected))

    stack.preview(on_event=on_event, on_output=console.progress)
    return steps


def _ask(console: Console, question: str) -> bool:
    console.done()
    console.err.write(f"{question} [y/N] ")
    console.err.flush()
    try:
        return input().strip().lower() in ("y", "yes")
    except EOFError:
        return False


def deploy_cloud(
    result: FrontendResult, *, build_dir: Path, console: Console, allow_destroy: bool, yes: bool
) -> int:
    """Deploy a cloud environment; returns the exit code. Stops before any change if
    something it needs is missing."""
    assert result.ir is not None
    ir = result.ir
    problems = preflight(result, build_dir)
    if problems:
        console.diagnostics(problems)
        console.err.write("mlplat: nothing was changed\n")
        return EXIT_INVALID
    uploads = pipeline_uploads(ir, build_dir / ir.environment)

    from pulumi import automation as auto

    try:
        console.step(
            f"opening stack {ir.platform.pulumi.project}/{ir.platform.pulumi.stack} "
            f"({ir.platform.pulumi.backend_url})"
        )
        stack = open_stack(ir, Path.cwd())
        console.step("previewing changes ...")
        steps = preview(stack, console)
    except auto.CommandError as exc:
        console.diagnostics([_failed("preview", exc)])
        console.err.write("mlplat: nothing was changed\n")
        return EXIT_INVALID
    breaking = breaking_feature_changes(stack, ir)
    if breaking and not allow_destroy:
        listed = "; ".join(
            f"{c.kind} {c.label} ({', '.join(c.details) or 'the view'}) breaks "
            + ", ".join(c.endpoints)
            for c in breaking
        )
        console.diagnostics(
            [
                error(
                    "C109",
                    f"{len(breaking)} feature view change(s) would break serving models: {listed}",
                    Span(CLI_FILE),
                    "retrain the models on the new features and serve them, or keep the old "
                    "features; if serving may break, deploy again with --allow-destroy",
                )
            ]
        )
        console.err.write("mlplat: nothing was changed\n")
        return EXIT_INVALID
    destructive = [s for s in steps if s.destructive]
    if destructive and not allow_destroy:
        listed = ", ".join(
            f"{s.op} {s.urn.rsplit('::', 1)[-1]} ({s.type})" for s in destructive[:10]
        )
        console.diagnostics(
            [
                error(
                    "C103",
                    f"{len(destructive)} destructive change(s) refused: {listed}",
                    Span(CLI_FILE),
                    "review `mlplat plan` (report.md lists them with their blast radius); if "
                    "they are intended, deploy again with --allow-destroy",
                )
            ]
        )
        console.err.write("mlplat: nothing was changed\n")
        return EXIT_INVALID
    if steps:
        console.step(f"{len(steps)} change(s) to apply ({len(destructive)} destructive)")
        if not yes:
            if not console.interactive:
                console.diagnostics(
                    [
                        error(
                            "C108",
                            f"{len(steps)} change(s) to apply and no confirmation",
                            Span(CLI_FILE),
                            "review the preview and pass --yes (required outside a terminal)",
                        )
                    ]
                )
                return EXIT_INVALID
            if not _ask(console, f"Apply {len(steps)} change(s) to {ir.environment}?"):
                console.err.write("mlplat: nothing was changed\n")
                return EXIT_INVALID
        try:
            stack.up(on_output=console.step)
        except auto.CommandError as exc:
            console.diagnostics([_failed("update", exc)])
            return EXIT_INVALID
    else:
        console.step("infrastructure is up to date")
    if os.environ.get(SKIP_UPLOAD_ENV):
        console.result(f"ok: deployed {ir.environment}; pipelines not uploaded ({SKIP_UPLOAD_ENV})")
        return EXIT_OK
    endpoint = ir.platform.kfp.endpoint
    problems = upload_all(uploads, kfp_client_factory(endpoint), console) if endpoint else []
    console.diagnostics(problems)
    if problems:
        return EXIT_INVALID
    console.result(f"ok: deployed {ir.environment} and {len(uploads)} pipeline(s)")
    return EXIT_OK


def _failed(what: str, exc: Exception) -> Diagnostic:
    lines = [line for line in str(exc).splitlines() if line.strip()]
    detail = " / ".join(lines[-3:])[:600]
    return error(
        "C106",
        f"pulumi {what} failed: {detail}",
        Span(CLI_FILE),
        "the Pulumi output above has the details; state is kept in the backend, so fixing "
        "the cause and deploying again continues from where it stopped",
    )
