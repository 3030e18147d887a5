"""The local model registry: MLflow (tracking + registry) on SQLite in the state folder.

Each pipeline run becomes an MLflow run in the experiment `<team>/<pipeline>` (parameters,
metrics of every Metrics output, lineage tags); each model trained by it becomes a new
version of the registered model named by the spec (`Model.registry_name`), with the model
folder exactly as the pipeline wrote it stored in the `models` bucket folder.

MLflow 3 has no stages; the spec's stage becomes a registered-model alias of the same name
(`staging`, `production`) moved to the new version, plus the tag `mlplat.stage` on the
version. A version whose metrics miss a threshold of the model card is registered but does
not take the `production` alias.

mlflow costs ≈1.6 s to import, so only `mlplat deploy` imports it, and only when a model
is to be registered or changed.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import subprocess
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from compiler.deploy.local.layout import StateLayout
from compiler.deploy.local.state import CardCheck, ModelVersionRecord, OutputRecord, RunRecord, now
from compiler.deploy.local.tracking import log_trials
from compiler.ir import Model, Pipeline

METRIC_TYPES = ("Metrics", "ClassificationMetrics")
ALIAS_STAGES = ("staging", "production")


class RegistryError(Exception):
    pass


Number = int | float


def collect_metrics(pipeline: Pipeline, run: RunRecord) -> dict[str, Number]:
    """Numeric metrics of a run: Metrics outputs (later steps win) and numeric step results.

    An `int` stays an int (a count such as `n_scored` is 2000, not 2e+03); MLflow stores every
    metric as a double, and its UI shows a whole number as one."""
    metrics: dict[str, Number] = {}
    scalars: dict[str, Number] = {}
    for step_name in pipeline.order:
        step = pipeline.steps[step_name]
        outputs = run.outputs.get(step_name, {})
        for name, kind in step.outputs.items():
            out = outputs.get(name)
            if out is None:
                continue
            if kind in METRIC_TYPES:
                metrics.update((k, _number(v)) for k, v in out.metadata.items() if _is_number(v))
            elif kind in ("float", "int") and _is_number(out.metadata.get("value")):
                value = out.metadata["value"]
                scalars[name] = int(value) if kind == "int" else float(value)
    return {**scalars, **metrics}


def _number(value: int | float) -> Number:
    return value if isinstance(value, int) else float(value)


def run_parameters(pipeline: Pipeline) -> dict[str, object]:
    """The parameter values a local run uses: defaults, or the schedule's values for the
    parameters without one (what `run_arguments` passes). MLflow params record these inputs;
    results of the run are metrics."""
    from compiler.deploy.local.pipelines import run_arguments

    given = run_arguments(pipeline)
    return {
        name: given.get(name, spec.default)
        for name, spec in sorted(pipeline.parameters.items())
        if name in given or spec.default is not None
    }


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def card_check(model: Model, metrics: dict[str, Number]) -> CardCheck:
    """'passed', 'failed' or 'missing' against the thresholds of the model card."""
    verdict: CardCheck = "passed"
    for name, bound in model.card.metrics.items():
        value = metrics.get(name)
        if value is None:
            verdict = "missing" if verdict == "passed" else verdict
        elif (bound.min is not None and value < bound.min) or (
            bound.max is not None and value > bound.max
        ):
            return "failed"
    return verdict


def git_commit(cwd: Path | None = None) -> str:
    """HEAD of the working copy, with '-dirty' when tracked files changed; 'unknown' outside git."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=10
        )
        if head.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "diff", "--quiet", "HEAD", "--"], cwd=cwd, capture_output=True, timeout=30
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return head.stdout.strip() + ("-dirty" if dirty.returncode == 1 else "")


def model_file_of(artifact_dir: Path, metadata: dict[str, Any]) -> str | None:
    """The model file inside a model artifact folder (metadata 'model_file', else a known name)."""
    named = metadata.get("model_file")
    if isinstance(named, str) and (artifact_dir / named).is_file():
        return named
    for candidate in ("model.joblib", "model.pkl", "model.pickle", "model.bst", "model.json"):
        if (artifact_dir / candidate).is_file():
            return candidate
    return None


def inspect_sklearn(path: Path) -> tuple[list[str] | None, int | None, list[str]]:
    """Feature names, feature count and the outputs a scikit-learn model offers."""
    try:
        import joblib

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            estimator = joblib.load(path)
    except Exception:
        return None, None, ["predict"]
    names = getattr(estimator, "feature_names_in_", None)
    count = getattr(estimator, "n_features_in_", None)
    outputs = ["predict"] + (["predict_proba"] if hasattr(estimator, "predict_proba") else [])
    return (
        [str(n) for n in names] if names is not None else None,
        int(count) if count is not None else None,
        outputs,
    )


def _quiet_mlflow() -> None:
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    for name in ("mlflow", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)


def trial_params(run: RunRecord) -> dict[str, Any]:
    """The parameters the run's outputs come from: the best trial's of a sweep."""
    best = (run.tuning or {}).get("best") or {}
    return dict(best.get("params") or {})


class Registry:
    """A client of the deployment's MLflow tracking server and model registry."""

    def __init__(self, layout: StateLayout) -> None:
        _quiet_mlflow()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from mlflow import MlflowClient
        _quiet_mlflow()  # mlflow configures its loggers when imported

        layout.registry_db.parent.mkdir(parents=True, exist_ok=True)
        self.layout = layout
        with warnings.catch_warnings():
            # The SQLite stores are created (or migrated) here; their ORM set-up warns about
            # SQLAlchemy internals that are none of the user's business.
            warnings.simplefilter("ignore")
            try:
                self.client = MlflowClient(
                    tracking_uri=layout.tracking_uri, registry_uri=layout.tracking_uri
                )
                self.client.search_experiments(max_results=1)
                self.client.search_registered_models(max_results=1)
            except Exception as exc:  # a locked, corrupt or newer database
                first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                raise RegistryError(
                    f"cannot open the registry {layout.registry_db}: {first}"
                ) from None
        self._runs: dict[str, str] = {}

    def _experiment(self, pipeline: Pipeline) -> str:
        name = f"{pipeline.team}/{pipeline.name}"
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return str(found.experiment_id)
        location = self.layout.model_artifacts(pipeline.team, pipeline.name)
        location.mkdir(parents=True, exist_ok=True)
        return str(
            self.client.create_experiment(
                name, artifact_location=location.as_uri(), tags={"mlplat.team": pipeline.team}
            )
        )

    def _mlflow_run(
        self,
        pipeline: Pipeline,
        run: RunRecord,
        metrics: dict[str, Number],
        lineage: dict[str, str],
    ) -> str:
        """The MLflow run that records a pipeline run (created once per pipeline run)."""
        if run.run_id in self._runs:
            return self._runs[run.run_id]
        from mlflow.entities import Metric, Param

        experiment = self._experiment(pipeline)
        found = self.client.search_runs(
            [experiment], filter_string=f"tags.`mlplat.run_id` = '{run.run_id}'", max_results=1
        )
        if found:
            run_id = str(found[0].info.run_id)
        else:
            created = self.client.create_run(experiment, run_name=run.run_id, tags=lineage)
            run_id = str(created.info.run_id)
            stamp = int(time.time() * 1000)
            chosen = {**run_parameters(pipeline), **trial_params(run)}
            params = [Param(name, str(value)) for name, value in sorted(chosen.items())]
            values = [Metric(k, float(v), stamp, 0) for k, v in sorted(metrics.items())]
            self.client.log_batch(run_id, metrics=values, params=params)
            if run.tuning:
                log_trials(self.client, experiment, run_id, run, lineage)
            self.client.set_terminated(run_id, "FINISHED")
        self._runs[run.run_id] = run_id
        return run_id

    def register(
        self,
        *,
        model: Model,
        pipeline: Pipeline,
        run: RunRecord,
        artifact: OutputRecord,
        lineage: dict[str, str],
    ) -> ModelVersionRecord:
        """A new registry version of `model` from the output of a successful run."""
        from mlflow.exceptions import MlflowException

        source = Path(artifact.uri)
        if not source.exists():
            raise RegistryError(f"the run did not write the model output ({artifact.uri})")
        metrics = collect_metrics(pipeline, run)
        check = card_check(model, metrics)
        tags = {
            **lineage,
            "mlplat.model": model.name,
            "mlplat.framework": model.framework,
            "mlplat.stage": model.stage,
            "mlplat.card_check": check,
        }
        try:
            run_id = self._mlflow_run(pipeline, run, metrics, lineage)
            artifact_path = f"models/{model.name}"
            if source.is_dir():
                self.client.log_artifacts(run_id, str(source), artifact_path)
                model_file = model_file_of(source, artifact.metadata)
            else:
                with tempfile.TemporaryDirectory() as staging:
                    shutil.copy2(source, Path(staging) / "model.joblib")
                    self.client.log_artifacts(run_id, staging, artifact_path)
                model_file = "model.joblib"
            if model_file is None:
                raise RegistryError(f"no model file found in the model output {source}")
            self._ensure_registered_model(model)
            info = self.client.get_run(run_id).info
            version = self.client.create_model_version(
                model.registry_name,
                source=f"{info.artifact_uri}/{artifact_path}",
                run_id=run_id,
                tags={**tags, "mlplat.model_file": model_file},
                description=model.description or None,
            )
            number = int(version.version)
            self._set_stage(model, number, check)
            folder = _local_path(
                self.client.get_model_version_download_uri(model.registry_name, str(number))
            )
        except MlflowException as exc:
            raise RegistryError(str(exc).splitlines()[0]) from None
        model_path = folder / model_file
        features = artifact.metadata.get("features")
        names, count, outputs = (None, None, ["predict"])
        if model.framework == "sklearn":
            names, count, outputs = inspect_sklearn(model_path)
        elif isinstance(artifact.metadata.get("n_features"), int | float):
            count = int(artifact.metadata["n_features"])
        if isinstance(features, list) and features:
            names = [str(f) for f in features]
        example = artifact.metadata.get("input_example")
        return ModelVersionRecord(
            version=number,
            run_id=run.run_id,
            mlflow_run_id=run_id,
            pipeline_hash=run.pipeline_hash,
            model_path=str(model_path),
            metrics=metrics,
            features=names,
            n_features=len(names) if names else count,
            outputs=outputs,
            input_example=example if isinstance(example, dict) else None,
            card_check=check,
            registered_at=now(),
        )

    def _ensure_registered_model(self, model: Model) -> None:
        from mlflow.exceptions import MlflowException

        description = "\n\n".join(
            part
            for part in (
                model.description,
                f"Intended use: {model.card.intended_use}" if model.card.intended_use else "",
                f"Limitations: {model.card.limitations}" if model.card.limitations else "",
            )
            if part
        )
        tags = {"mlplat.team": model.team, "mlplat.framework": model.framework}
        try:
            self.client.create_registered_model(
                model.registry_name, tags=tags, description=description or None
            )
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
            if description:
                self.client.update_registered_model(model.registry_name, description=description)

    def _set_stage(self, model: Model, version: int, check: str) -> None:
        if model.stage not in ALIAS_STAGES:
            return
        if model.stage == "production" and check == "failed":
            return
        self.client.set_registered_model_alias(model.registry_name, model.stage, str(version))

    def apply_stage(self, model: Model, version: ModelVersionRecord) -> dict[str, int]:
        """Point the spec's stage at `version` (a stage change without a new version).

        The model is in one stage, as the spec says: the alias of a stage it left goes.
        """
        from mlflow.exceptions import MlflowException

        version.card_check = card_check(model, version.metrics)  # the card may have changed
        try:
            for tag, value in (
                ("mlplat.stage", model.stage),
                ("mlplat.card_check", version.card_check),
            ):
                self.client.set_model_version_tag(
                    model.registry_name, str(version.version), tag, value
                )
            current = self.client.get_registered_model(model.registry_name).aliases
            for alias in ALIAS_STAGES:
                if alias != model.stage and alias in current:
                    self.client.delete_registered_model_alias(model.registry_name, alias)
            self._set_stage(model, version.version, version.card_check)
            aliases = self.client.get_registered_model(model.registry_name).aliases
        except MlflowException as exc:
            raise RegistryError(str(exc).splitlines()[0]) from None
        return {str(k): int(v) for k, v in aliases.items()}

    def aliases(self, registry_name: str) -> dict[str, int]:
        from mlflow.exceptions import MlflowException

        try:
            aliases = self.client.get_registered_model(registry_name).aliases
        except MlflowException as exc:
            raise RegistryError(str(exc).splitlines()[0]) from None
        return {str(k): int(v) for k, v in aliases.items()}


def _local_path(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme not in ("", "file"):
        raise RegistryError(f"model artifacts are not on this machine: {uri}")
    return Path(unquote(parsed.path))
