"""Validators of the training custom resources against the vendored upstream schemas.

`crds/` holds, as test data: the TrainJob CRD of Kubeflow Trainer v2.3.0
(manifests/base/crds/trainer.kubeflow.org_trainjobs.yaml at 658725bd), the Experiment CRD
of Katib v0.19.0 (manifests/v1beta1/components/crd/experiment.yaml at 578e60f1) - which
is `x-kubernetes-preserve-unknown-fields` only - and the schemas reachable from
v1beta1.Experiment in Katib v0.19.0's api/openapi-spec/swagger.json, which say what an
Experiment may hold. Objects are checked strictly: a field a schema does not list is an
error (as `kubernetes-validate --strict` treats built-in kinds).
"""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

import jsonschema
import yaml

CRDS = Path(__file__).parent / "crds"


def strict(schema: Any) -> Any:
    """Every object schema with listed properties rejects others (unless it keeps unknowns)."""
    if isinstance(schema, dict):
        out = {k: strict(v) for k, v in schema.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [strict(v) for v in schema]
    return schema


@functools.cache
def _trainjob_validator() -> jsonschema.Draft7Validator:
    crd = yaml.safe_load((CRDS / "trainer-v2.3.0.trainjobs.yaml").read_text())
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1alpha1"]
    schema = strict(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
    schema["properties"]["metadata"] = {"type": "object"}
    return jsonschema.Draft7Validator(schema)


@functools.cache
def _experiment_validator() -> jsonschema.Draft7Validator:
    spec = json.loads((CRDS / "katib-v0.19.0.openapi.json").read_text())
    schemas = strict(spec["components"]["schemas"])
    meta = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
    schemas[meta].pop("additionalProperties", None)
    root = {"$ref": "#/components/schemas/v1beta1.Experiment", "components": {"schemas": schemas}}
    return jsonschema.Draft7Validator(root)


def crd_errors(manifest: dict[str, Any]) -> list[str]:
    """Every schema error of a TrainJob or Experiment (and of an Experiment's trial)."""
    kind = manifest.get("kind")
    if kind == "TrainJob":
        validator = _trainjob_validator()
    elif kind == "Experiment":
        validator = _experiment_validator()
    else:
        raise ValueError(f"no schema for kind {kind!r}")
    errors = [
        f"{'.'.join(str(p) for p in e.absolute_path)}: {e.message}"
        for e in validator.iter_errors(manifest)
    ]
    if kind == "Experiment":
        crd = yaml.safe_load((CRDS / "katib-v0.19.0.experiments.yaml").read_text())
        (version,) = crd["spec"]["versions"]
        errors += [
            e.message
            for e in jsonschema.Draft7Validator(version["schema"]["openAPIV3Schema"]).iter_errors(
                manifest
            )
        ]
        trial = manifest["spec"]["trialTemplate"]["trialSpec"]
        errors += [f"trialSpec: {e}" for e in trial_errors(trial)]
    return errors


def trial_errors(trial: dict[str, Any]) -> list[str]:
    """A trial is a TrainJob (checked by its CRD) or a built-in kind (kubernetes-validate)."""
    if trial.get("kind") == "TrainJob":
        return crd_errors({**trial, "metadata": {"name": "trial", **trial.get("metadata", {})}})
    import kubernetes_validate

    try:
        kubernetes_validate.validate(trial, "1.31", strict=True)
    except kubernetes_validate.ValidationError as exc:
        return [str(exc)]
    return []
