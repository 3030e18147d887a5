"""The Kubeflow Pipelines backend: IR pipelines → kfp v2 pipelines → compiled YAML.

Pure functions from the IR to output, in the kfp SDK's style (a thin entry, plain
building functions). It reads only the IR; problems come back as diagnostics located
through the `locate` callback (config path → span), never as kfp tracebacks.

Public API:
  - `build_pipeline(ir, pipeline)`: the `@dsl.pipeline` GraphComponent (runs under kfp.local)
  - `compile_pipeline(ir, pipeline)`: its compiled YAML text
  - `compile_all(ir, locate, progress)`: every pipeline's files and the diagnostics
"""

from compiler.kfp_backend import speedups

speedups.apply()

from compiler.kfp_backend.compile import (  # noqa: E402
    compile_all,
    compile_pipeline,
    package_path,
    schedule_path,
)
from compiler.kfp_backend.pipeline import build_pipeline, kfp_pipeline_name, pipeline_root  # noqa: E402
from compiler.kfp_backend.problems import PipelineError, Problem  # noqa: E402
from compiler.kfp_backend.schedule import kfp_cron, recurring_run  # noqa: E402
from compiler.kfp_backend.task_config import GPU_RESOURCE  # noqa: E402

__all__ = [
    "GPU_RESOURCE",
    "PipelineError",
    "Problem",
    "build_pipeline",
    "compile_all",
    "compile_pipeline",
    "kfp_cron",
    "kfp_pipeline_name",
    "package_path",
    "pipeline_root",
    "recurring_run",
    "schedule_path",
]
