"""Where the local platform keeps everything: one folder, laid out like the spec's buckets.

```
.mlplat/<env>/
  state.json                     what is deployed (written atomically)
  .lock                          held while a command changes the deployment
  buckets/<bucket>/              one folder per bucket of the spec
    <artifacts>/<team>/<pipeline>/   pipeline roots: kfp.local runs and their outputs
    <models>/<team>/<pipeline>/      MLflow artifacts of registered model versions
    <logs>/<team>/pipelines/...      pipeline run logs
    <logs>/<team>/endpoints/...      model server logs
  registry/mlflow.db             MLflow tracking and model registry (SQLite)
  endpoints/<team>/<endpoint>/   MLServer settings of each endpoint
```

Everything a local command writes or removes lives under the state folder; `unsafe_state_dir`
refuses folders whose removal could reach anything else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from compiler.ir import PlatformIR

STATE_KIND = "mlplat-local-state"
STATE_FILE = "state.json"
LOCK_FILE = ".lock"
# The only entries a local command creates directly under the state folder.
OWNED_ENTRIES = (STATE_FILE, LOCK_FILE, "buckets", "registry", "endpoints")


def default_state_dir(environment: str) -> Path:
    return Path(".mlplat") / environment


@dataclass(frozen=True)
class StateLayout:
    """Paths of one local deployment; `root` is absolute and resolved."""

    root: Path
    bucket_names: dict[str, str]
    """Purpose (datasets, artifacts, models, logs) → bucket folder name."""

    @classmethod
    def at(cls, state_dir: Path, ir: PlatformIR | None = None) -> StateLayout:
        purposes: dict[str, str] = {}
        if ir is not None:
            for name in sorted(ir.buckets):
                purpose = ir.buckets[name].purpose
                # A bucket named after its purpose wins; otherwise the first by name.
                if name == purpose or purpose not in purposes:
                    purposes[purpose] = name
        for purpose in ("datasets", "artifacts", "models", "logs"):
            purposes.setdefault(purpose, purpose)
        return cls(root=Path(state_dir).resolve(), bucket_names=purposes)

    @property
    def state_file(self) -> Path:
        return self.root / STATE_FILE

    @property
    def lock_file(self) -> Path:
        return self.root / LOCK_FILE

    @property
    def buckets(self) -> Path:
        return self.root / "buckets"

    def bucket(self, purpose: str) -> Path:
        return self.buckets / self.bucket_names[purpose]

    def pipeline_root(self, team: str, pipeline: str) -> Path:
        return self.bucket("artifacts") / team / pipeline

    def pipeline_log(self, team: str, pipeline: str, run_id: str) -> Path:
        return self.bucket("logs") / team / "pipelines" / pipeline / f"{run_id}.log"

    def model_artifacts(self, team: str, pipeline: str) -> Path:
        return self.bucket("models") / team / pipeline

    @property
    def registry_db(self) -> Path:
        return self.root / "registry" / "mlflow.db"

    @property
    def tracking_uri(self) -> str:
        return f"sqlite:///{self.registry_db}"

    def server_dir(self, team: str, endpoint: str) -> Path:
        return self.root / "endpoints" / team / endpoint

    def server_log(self, team: str, endpoint: str) -> Path:
        return self.bucket("logs") / team / "endpoints" / f"{endpoint}.log"

    def relative(self, path: Path) -> str:
        """A path inside the state folder as recorded in the state file."""
        return Path(path).resolve().relative_to(self.root).as_posix()

    def create(self, ir: PlatformIR) -> None:
        """The state folder, one folder per bucket, and each team's prefix in it."""
        self.root.mkdir(parents=True, exist_ok=True)
        for name in sorted(ir.buckets):
            (self.buckets / name).mkdir(parents=True, exist_ok=True)
        for team in ir.teams.values():
            for grant in team.bucket_access:
                prefix = grant.prefix.strip("/")
                if grant.bucket in ir.buckets and prefix:
                    (self.buckets / grant.bucket / prefix).mkdir(parents=True, exist_ok=True)
        self.registry_db.parent.mkdir(parents=True, exist_ok=True)


def unsafe_state_dir(state_dir: Path, cwd: Path | None = None) -> str | None:
    """Why a folder must not be used as a state folder (None when it may).

    The state folder gets removed by `mlplat destroy`, so it may not be (or resolve to) the
    filesystem root, a home folder, the working folder or any folder above it.
    """
    root = Path(state_dir).resolve()
    here = (cwd or Path.cwd()).resolve()
    home = Path(os.path.expanduser("~")).resolve()
    if root == Path(root.anchor):
        return f"'{state_dir}' is the filesystem root"
    if root == home:
        return f"'{state_dir}' is the home folder"
    if root == here or root in here.parents:
        return f"'{state_dir}' resolves to {root}, which contains the working folder"
    return None
