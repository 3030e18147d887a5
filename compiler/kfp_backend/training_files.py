"""The custom resources a pipeline's training needs in the cluster, as files of the build:
each distributed step's TrainJob and the pipeline's Katib Experiment (cloud targets)."""

from __future__ import annotations

import yaml

from compiler.ir import Pipeline, PlatformIR
from compiler.kfp_backend.distributed import training_manifests
from compiler.kfp_backend.katib import experiment_manifest, experiment_path


def _dump(manifest: object) -> str:
    return yaml.safe_dump(manifest, sort_keys=True, default_flow_style=False, width=100)


def training_files(ir: PlatformIR, pipeline: Pipeline) -> dict[str, str]:
    """Build path → YAML text; nothing for the local target (torchrun and Optuna run there)."""
    if ir.target == "local":
        return {}
    files = {path: _dump(m) for path, m in training_manifests(ir, pipeline).items()}
    if pipeline.tuning is not None:
        files[experiment_path(pipeline)] = _dump(experiment_manifest(ir, pipeline))
    return files
