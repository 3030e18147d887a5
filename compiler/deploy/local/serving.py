"""Serve endpoints on localhost with MLServer (open inference protocol V2, as KServe serves).

Each endpoint is one `mlserver start <folder>` process in a session of its own, with the
settings written here: listening on 127.0.0.1 only, metrics off, inference in the server
process, the model file read straight from the registry's artifact store.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import re
import shlex
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from compiler.deploy.local import payload_log
from compiler.deploy.local.ports import HOST
from compiler.deploy.local.processes import child_env
from compiler.deploy.local.state import ModelVersionRecord

# Runtime of the spec → (python module, MLServer implementation, package to install).
# Where `runtimes` has a checked variant of a runtime, it is served (bad requests answer 400).
MLSERVER_RUNTIMES: dict[str, tuple[str, str, str]] = {
    "sklearn": (
        "mlserver_sklearn",
        "compiler.deploy.local.runtimes.ValidatedSKLearnModel",
        "mlserver-sklearn",
    ),
    "xgboost": ("mlserver_xgboost", "mlserver_xgboost.XGBoostModel", "mlserver-xgboost"),
    "lightgbm": ("mlserver_lightgbm", "mlserver_lightgbm.LightGBMModel", "mlserver-lightgbm"),
    "huggingface": (
        "mlserver_huggingface",
        "mlserver_huggingface.HuggingFaceRuntime",
        "mlserver-huggingface",
    ),
    "pytorch": ("torch", "compiler.deploy.local.torch_runtime.TorchScriptModel", "torch"),
}
# Runtimes that only exist as serving containers in the cluster.
CLUSTER_ONLY: dict[str, str] = {
    "triton": "runtime 'triton' is served by Triton Inference Server in the cluster only",
    "tensorflow": "runtime 'tensorflow' is served by TensorFlow Serving in the cluster only",
    "onnx": "runtime 'onnx' is served by Triton in the cluster only",
    "custom": "runtime 'custom' runs the team's own image, which needs a container engine",
}
READY_TIMEOUT = 90.0


@dataclass(frozen=True)
class RuntimeProblem:
    skip: bool
    """True: the runtime does not exist locally (not an error); False: a missing package."""
    message: str
    hint: str | None = None


def runtime_problem(runtime: str) -> RuntimeProblem | None:
    if runtime in CLUSTER_ONLY:
        return RuntimeProblem(True, CLUSTER_ONLY[runtime])
    if runtime not in MLSERVER_RUNTIMES:
        return RuntimeProblem(True, f"runtime '{runtime}' has no local model server")
    module, _, package = MLSERVER_RUNTIMES[runtime]
    if importlib.util.find_spec(module) is None:
        return RuntimeProblem(
            False,
            f"the MLServer runtime for '{runtime}' ({package}) is not installed",
            f"install it into this environment: pip install '{package}>=1.7,<1.8'",
        )
    return None


def mlserver_command() -> list[str]:
    script = Path(sys.executable).with_name("mlserver")
    if script.exists():
        return [str(script)]
    found = shutil.which("mlserver")
    return [found] if found else [sys.executable, "-m", "mlserver.cli.main"]


def write_server_folder(
    server_dir: Path,
    *,
    endpoint: str,
    runtime: str,
    version: ModelVersionRecord,
    port: int,
    grpc_port: int,
    wrap: tuple[str, dict[str, Any]] | None = None,
    payloads: payload_log.PayloadLog | None = None,
) -> None:
    """settings.json (server) and <endpoint>/model-settings.json (model) for `mlserver start`.

    `wrap`: (implementation, extra parameters) of a runtime that wraps the endpoint's own;
    `payloads`: log each request and response there (a monitored endpoint), in front of
    every other runtime, so the log holds what the endpoint was really asked."""
    if server_dir.exists():
        shutil.rmtree(server_dir)
    model_dir = server_dir / endpoint
    model_dir.mkdir(parents=True)
    settings = {
        "debug": False,
        "host": HOST,
        "http_port": port,
        "grpc_port": grpc_port,
        "metrics_endpoint": None,
        "parallel_workers": 0,
        "load_models_at_startup": True,
        "model_repository_root": str(server_dir),
        "environments_dir": str(server_dir / ".envs"),
        "metrics_dir": str(server_dir / ".metrics"),
    }
    model_settings: dict[str, Any] = {
        "name": endpoint,
        "implementation": MLSERVER_RUNTIMES[runtime][1],
        "parameters": {"uri": version.model_path, "version": str(version.version)},
    }
    if wrap is not None:
        model_settings["implementation"] = wrap[0]
        model_settings["parameters"]["extra"] = wrap[1]
    model_settings = payload_log.wrap(model_settings, payloads)
    for path, data in (
        (server_dir / "settings.json", settings),
        (model_dir / "model-settings.json", model_settings),
    ):
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def start_server(server_dir: Path, log: Path) -> subprocess.Popen[bytes]:
    """Start MLServer in the background, in its own session (Ctrl-C of the caller spares it)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as sink:
        return subprocess.Popen(
            [*mlserver_command(), "start", str(server_dir)],
            cwd=server_dir,
            stdout=sink,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=child_env(),
            start_new_session=True,
        )


def http_ok(url: str, timeout: float = 1.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def is_ready(port: int, endpoint: str, host: str = HOST) -> bool:
    base = f"http://{host}:{port}/v2"
    return http_ok(f"{base}/health/ready") and http_ok(f"{base}/models/{endpoint}/ready")


@dataclass
class StartFailure:
    message: str
    hint: str | None
    tail: list[str]
    port_in_use: bool = False


@dataclass
class Launch:
    """A model server being started."""

    key: str
    endpoint: str
    process: subprocess.Popen[bytes]
    port: int
    log: Path
    log_offset: int
    started: float


def poll_launch(launch: Launch) -> bool | StartFailure:
    """True when ready, a failure when the server died, False while it is still starting."""
    code = launch.process.poll()
    if code is not None:
        return explain_exit(code, launch.log, launch.log_offset, launch.port)
    return is_ready(launch.port, launch.endpoint)


def timed_out(launch: Launch, timeout: float) -> StartFailure:
    return StartFailure(
        f"the model server did not become ready within {timeout:.0f}s",
        "look at the server log; a large model may need longer",
        log_tail(launch.log, launch.log_offset),
    )


def log_tail(log: Path, offset: int = 0, lines: int = 15) -> list[str]:
    try:
        with log.open("rb") as handle:
            handle.seek(offset)
            text = handle.read().decode(errors="replace")
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip()][-lines:]


def explain_exit(code: int, log: Path, offset: int, port: int) -> StartFailure:
    tail = log_tail(log, offset, 40)
    text = "\n".join(tail)
    if re.search(r"address already in use|Errno 98|Errno 48", text, re.IGNORECASE):
        return StartFailure(
            f"port {port} is already in use by another program",
            "stop that program, or run mlplat deploy again to pick another port",
            tail[-5:],
            port_in_use=True,
        )
    missing = re.search(r"No module named '([\w.]+)'", text)
    if missing:
        return StartFailure(
            f"the model server cannot import '{missing.group(1)}'",
            f"install the package that provides '{missing.group(1)}' into this environment",
            tail[-5:],
        )
    return StartFailure(f"the model server exited with status {code}", None, tail[-15:])


def example_request(version: ModelVersionRecord) -> dict[str, Any] | None:
    """A V2 inference request with one row shaped like the model's input."""
    outputs = [{"name": "predict_proba"}] if "predict_proba" in version.outputs else None
    example = version.input_example
    if version.features:
        row = {name: (example or {}).get(name, 0.0) for name in version.features}
        request: dict[str, Any] = {
            "parameters": {"content_type": "pd"},
            "inputs": [
                {"name": name, "shape": [1], "datatype": _datatype(value), "data": [value]}
                for name, value in row.items()
            ],
        }
    elif version.n_features:
        request = {
            "inputs": [
                {
                    "name": "input-0",
                    "shape": [1, version.n_features],
                    "datatype": "FP64",
                    "data": [0.0] * version.n_features,
                }
            ]
        }
    else:
        return None
    if outputs:
        request["outputs"] = outputs
    return request


def _datatype(value: Any) -> str:
    if isinstance(value, bool):
        return "BOOL"
    if isinstance(value, int):
        return "INT64"
    if isinstance(value, float):
        return "FP64"
    return "BYTES"


def curl_line(url: str, request: dict[str, Any]) -> str:
    body = json.dumps(request, separators=(",", ":"))
    return f"curl -s -X POST {url}/infer -H 'Content-Type: application/json' -d {shlex.quote(body)}"


def infer(url: str, request: dict[str, Any], timeout: float = 10.0) -> dict[str, Any]:
    """POST a V2 inference request; the decoded response."""
    data = json.dumps(request).encode()
    req = urllib.request.Request(
        f"{url}/infer", data=data, headers={"Content-Type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=timeout) as response:
        result: dict[str, Any] = json.loads(response.read())
    return result


def remove_server_folder(server_dir: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(server_dir)
