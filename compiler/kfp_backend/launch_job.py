"""Launcher of a step's training job, run as the pipeline task (its source ships in the
compiled pipeline, so it imports nothing of mlplat).

It creates the compiled custom resource in the pod's namespace under a name unique to the
run - a Kubeflow Trainer TrainJob (a distributed step) or a Katib Experiment (a sweep's
objective step) - hands it the task's executor input (MLPLAT_EXECUTOR_INPUT; for a sweep
with every searched input replaced by Katib's `${trialParameters.<name>}`), waits until
the resource reports that it finished, and fails the task when it failed or the step's
deadline passed.
"""

import argparse
import hashlib
import json
import sys
import time

KINDS = {
    "TrainJob": ("trainer.kubeflow.org", "v1alpha1", "trainjobs", "Complete", "Failed"),
    "Experiment": ("kubeflow.org", "v1beta1", "experiments", "Succeeded", "Failed"),
}
ENV = "MLPLAT_EXECUTOR_INPUT"
TRIAL_OUTPUT_FILE = "/tmp/outputs/executor_output.json"
"""Where a trial's executor writes its outputs, which the trial then prints for Katib."""
POLL_SECONDS = 15


def templated(executor_input: str, searched: dict) -> str:
    """The executor input with each searched input as a Katib trial parameter placeholder."""
    data = json.loads(executor_input)
    data.setdefault("outputs", {})["outputFile"] = TRIAL_OUTPUT_FILE
    values = data.setdefault("inputs", {}).setdefault("parameterValues", {})
    marks = {}
    for name, (param, quoted) in searched.items():
        mark = f"@@mlplat-{name}@@"
        values[name] = mark
        placeholder = "${trialParameters." + param + "}"
        marks[json.dumps(mark)] = json.dumps(placeholder) if quoted else placeholder
    text = json.dumps(data, sort_keys=True)
    for mark, placeholder in marks.items():
        text = text.replace(mark, placeholder)
    return text


def _containers_env(resource: dict) -> list:
    """Every env list of the resource that carries MLPLAT_EXECUTOR_INPUT."""
    found = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            env = node.get("env")
            if isinstance(env, list) and any(e.get("name") == ENV for e in env):
                found.append(env)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(resource)
    return found


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--resource", required=True)
    parser.add_argument("--executor-input", required=True)
    parser.add_argument("--searched", default="{}")
    args = parser.parse_args()

    from kubernetes import client, config

    resource = json.loads(args.resource)
    group, version, plural, done, failed = KINDS[resource["kind"]]
    value = args.executor_input
    searched = json.loads(args.searched)
    if searched:
        value = templated(value, searched)
    for env in _containers_env(resource):
        for entry in env:
            if entry.get("name") == ENV:
                entry["value"] = value
    suffix = hashlib.sha256(args.executor_input.encode()).hexdigest()[:8]
    name = f"{resource['metadata']['name']}-{suffix}"
    resource["metadata"]["name"] = name
    namespace = resource["metadata"]["namespace"]

    config.load_incluster_config()
    api = client.CustomObjectsApi()
    try:
        api.create_namespaced_custom_object(group, version, namespace, plural, resource)
        print(f"created {resource['kind']} {namespace}/{name}", flush=True)
    except client.ApiException as exc:
        if exc.status != 409:  # a retry of this task finds its resource already there
            raise
        print(f"{resource['kind']} {namespace}/{name} exists; waiting for it", flush=True)
    limit = int(resource["spec"].get("activeDeadlineSeconds") or 7 * 86400)
    deadline = time.monotonic() + limit + 300
    while time.monotonic() < deadline:
        found = api.get_namespaced_custom_object(group, version, namespace, plural, name)
        status = found.get("status") or {}
        conditions = {c.get("type"): c for c in status.get("conditions") or []}
        for kind in (done, failed):
            if (conditions.get(kind) or {}).get("status") == "True":
                print(f"{name}: {kind}: {conditions[kind].get('message', '')}", flush=True)
                if "currentOptimalTrial" in status:
                    print(json.dumps(status["currentOptimalTrial"], sort_keys=True), flush=True)
                return 0 if kind == done else 1
        time.sleep(POLL_SECONDS)
    print(f"{name} did not finish before the step's deadline", flush=True)
    return 1


if __name__ == "__main__":
    sys.exit(main())
