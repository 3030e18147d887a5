"""Generate a synthetic but realistic organisation of N teams, deterministic by seed.

Each team gets owners, quotas, bucket grants, 2-5 pipelines of 3-8 steps (one python
pipeline built from the example components, the rest container DAGs, some on GPUs), a
model per pipeline and 1-3 endpoints. The lifecycle comes in as the example has it: one
team in five declares the chargeback team's features (entities, sources, views, on-demand
views, services, a training frame and an endpoint reading them), another one in five the
forecast team's distributed training and sweep, and one in three monitors its tabular
endpoint as the fraud team does. Platform files (node pools sized for the quotas,
buckets, policies, environments) are written alongside, so the result is a complete
`configs/` folder that `mlplat validate --configs DIR` accepts; each team's step code goes
into `components/` beside it.

    python benchmarks/generate_org.py --teams 100 --seed 1 --out /tmp/org100/configs
"""

from __future__ import annotations

import argparse
import random
import shutil
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
DIGEST = "sha256:" + "5e" * 32
WORDS = (
    "ads", "search", "fraud", "churn", "pricing", "recs", "vision", "speech", "nlp", "risk",
    "ltv", "supply", "forecast", "growth", "trust", "maps", "eta", "catalog", "payments", "support",
)  # fmt: skip


def _team_name(index: int) -> str:
    return f"{WORDS[index % len(WORDS)]}-{index:04d}"


def _package(team: str) -> str:
    """The team's step code package (compiler/team_packages.py: '-' is written '_')."""
    return "components." + team.replace("-", "_")


def _python_pipeline(team: str) -> dict:
    """The example fraud pipeline: real functions (a copy of components/fraud/ in the team's
    own package, as a step runs only its team's code), so backends can check them."""
    pkgs = ["scikit-learn==1.9.1", "pandas==3.1.1"]
    package = _package(team)
    return {
        "description": "Tabular classifier on generated data",
        "parameters": {
            "n_samples": {"type": "int", "default": 2000},
            "fraud_rate": {"type": "float", "default": 0.05},
            "learning_rate": {"type": "float", "default": 0.1},
        },
        "steps": {
            "make-dataset": {
                "python": {"function": f"{package}.data:make_transactions", "packages": pkgs},
                "inputs": {
                    "n_samples": {"param": "n_samples"},
                    "fraud_rate": {"param": "fraud_rate"},
                    "seed": 7,
                },
                "outputs": {"dataset": "Dataset"},
            },
            "train": {
                "python": {"function": f"{package}.train:train_model", "packages": pkgs},
                "inputs": {
                    "dataset": {"step": "make-dataset", "output": "dataset"},
                    "learning_rate": {"param": "learning_rate"},
                },
                "outputs": {"model": "Model", "metrics": "Metrics"},
                "resources": {"cpu": "2", "memory": "4Gi"},
            },
            "evaluate": {
                "python": {
                    "function": f"{package}.evaluate:evaluate_model",
                    "packages": pkgs,
                },
                "inputs": {
                    "dataset": {"step": "make-dataset", "output": "dataset"},
                    "model": {"step": "train", "output": "model"},
                },
                "outputs": {"report": "Metrics", "roc_auc": "float"},
            },
        },
    }


def _container_pipeline(rng: random.Random, team: str, name: str, gpu: bool) -> dict:
    """A chain-with-shortcuts DAG of 3-8 container steps; the last one trains a model."""
    count = rng.randint(3, 8)
    steps: dict[str, dict] = {}
    for index in range(count):
        step = f"step-{index}"
        last = index == count - 1
        spec: dict = {
            "container": {
                "image": f"ghcr.io/acme/{team}-{name}@{DIGEST}",
                "command": ["python", "-m", f"jobs.{name.replace('-', '_')}.s{index}"],
                "args": [],
            },
            "outputs": {"model" if last else "data": "Model" if last else "Dataset"},
            "resources": {
                "cpu": str(rng.choice([1, 2, 4])),
                "memory": rng.choice(["2Gi", "4Gi", "8Gi"]),
            },
        }
        if index:
            upstream = {f"step-{index - 1}"}
            if index > 1 and rng.random() < 0.4:
                upstream.add(f"step-{rng.randrange(index - 1)}")
            spec["inputs"] = {
                f"in_{j}": {"step": up, "output": "data"} for j, up in enumerate(sorted(upstream))
            }
            spec["container"]["args"] = [
                a for j in range(len(upstream)) for a in ("--input", f"{{{{inputs.in_{j}}}}}")
            ]
        spec["container"]["args"] += ["--out", "{{outputs.model}}" if last else "{{outputs.data}}"]
        if last and gpu:
            spec["node_pool"] = "gpu-a10g"
            spec["resources"] = {"cpu": "4", "memory": "16Gi", "gpu": 1}
        steps[step] = spec
    pipeline: dict = {"description": f"Batch job {name}", "steps": steps}
    if rng.random() < 0.5:
        pipeline["schedule"] = {"cron": f"{rng.randrange(60)} {rng.randrange(24)} * * *"}
    return pipeline


def _card() -> dict:
    return {
        "intended_use": "Synthetic benchmark model.",
        "limitations": "None: generated.",
        "metrics": {"score": {"min": 0.5}},
        "evaluation": {"score": 0.9},
        "fairness": "Not applicable to generated data.",
        "approver": "platform-team@acme.example",
    }


def _example(team: str) -> dict:
    return dict(yaml.safe_load((REPO / "configs" / "teams" / f"{team}.yaml").read_text()))


def _moved(value: object, example: str, package: str) -> object:
    """The example team's spec with its step functions in the generated team's package."""
    if isinstance(value, dict):
        return {k: _moved(v, example, package) for k, v in value.items()}
    if isinstance(value, list):
        return [_moved(v, example, package) for v in value]
    if isinstance(value, str) and value.startswith(f"components.{example}."):
        return value.replace(f"components.{example}.", f"{package}.{example}.", 1)
    return value


LIFECYCLE_KEYS = (
    "entities",
    "sources",
    "feature_views",
    "feature_services",
    "on_demand",
    "pipelines",
    "models",
    "endpoints",
)


def _add_lifecycle(spec: dict, name: str, index: int, seed: int) -> None:
    """Features, training at scale and monitoring, in the proportions the docstring gives."""
    rng = random.Random(seed * 7_000_003 + index)  # its own draws: the rest stays as it was
    lifecycle = [e for e, share in (("chargeback", 5), ("forecast", 5)) if index % share == 0]
    lifecycle = [lifecycle[index % len(lifecycle)]] if lifecycle else []
    for example in lifecycle:
        moved = _moved(_example(example), example, _package(name))
        assert isinstance(moved, dict)
        for view in moved.get("feature_views", {}).values():
            view.pop("shared_with", None)  # the example's grant names a team not generated
        # model names are the organisation's: the team's name goes in front
        moved["models"] = {f"{name}-{m}": s for m, s in (moved.get("models") or {}).items()}
        for endpoint in (moved.get("endpoints") or {}).values():
            endpoint["model"] = f"{name}-{endpoint['model']}"
        for key in LIFECYCLE_KEYS:
            spec.setdefault(key, {}).update(moved.get(key) or {})
    served = spec["endpoints"].get("serve-0")
    if served and served["model"] == f"{name}-tabular" and rng.random() < 1 / 3:
        monitoring = dict(_example("fraud")["endpoints"]["fraud-scorer"]["monitoring"])
        monitoring["on_drift"] = {"retrain": {"pipeline": "train-tabular", "cooldown": "6h"}}
        served["monitoring"] = monitoring


def team_spec(index: int, seed: int, lifecycle: bool = True) -> dict:
    rng = random.Random(seed * 1_000_003 + index)
    name = _team_name(index)
    pipelines: dict[str, dict] = {"train-tabular": _python_pipeline(name)}
    models: dict[str, dict] = {
        f"{name}-tabular": {
            "framework": "sklearn",
            "stage": "staging",
            "card": _card(),
            "source": {"pipeline": "train-tabular", "step": "train", "output": "model"},
        },
    }
    gpu_team = rng.random() < 0.3
    for p in range(rng.randint(1, 4)):
        pname = f"job-{p}"
        pipeline = _container_pipeline(rng, name, pname, gpu_team and p == 0)
        pipelines[pname] = pipeline
        last = list(pipeline["steps"])[-1]
        models[f"{name}-{pname}"] = {
            "framework": "pytorch",
            "stage": "staging",
            "card": _card(),
            "source": {"pipeline": pname, "step": last, "output": "model"},
        }
    endpoints: dict[str, dict] = {}
    model_names = list(models)
    for e in range(rng.randint(1, 3)):
        model = model_names[e % len(model_names)]
        sklearn = models[model]["framework"] == "sklearn"
        endpoints[f"serve-{e}"] = {
            "model": model,
            "runtime": "sklearn" if sklearn else "triton",
            "min_replicas": 1,
            "max_replicas": rng.randint(1, 3),
            "resources": {"cpu": "500m", "memory": "1Gi"},
            "latency_objective": {"percentile": 99, "target_ms": rng.choice([50, 100, 200])},
        }
    spec = {
        "description": f"Synthetic team {index}",
        "owners": [f"{name}-lead@acme.example"],
        "cost_center": f"CC-{1000 + index % 9000:04d}",
        "quotas": {"gpus": 2 if gpu_team else 0, "cpu": "64", "memory": "256Gi"},
        "bucket_access": [
            {"bucket": "datasets", "prefix": f"{name}/", "access": "write"},
            {"bucket": "artifacts", "prefix": f"{name}/", "access": "write"},
            {"bucket": "models", "prefix": f"{name}/", "access": "write"},
        ],
        "pipelines": pipelines,
        "models": models,
        "endpoints": endpoints,
    }
    if lifecycle:
        _add_lifecycle(spec, name, index, seed)
    return spec


class _PlainDumper(yaml.SafeDumper):
    """Writes shared lists out in full, as people do, instead of YAML anchors and aliases."""

    def ignore_aliases(self, data: object) -> bool:
        return True


def _dump(path: Path, data: dict, header: str = "") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.dump(data, Dumper=_PlainDumper, sort_keys=False, width=120)
    path.write_text(header + text, encoding="utf-8")


def generate(out: Path, teams: int, seed: int = 1, lifecycle: bool = True) -> Path:
    """Write a complete configs folder for ``teams`` teams into ``out`` (replaced), and
    each team's step code into its package in ``components/`` beside it. `lifecycle`:
    features, training at scale and monitoring in some teams, as the docstring says."""
    if out.exists():
        shutil.rmtree(out)
    platform = yaml.safe_load((REPO / "configs" / "platform.yaml").read_text())
    # Node pools large enough that every team's quota fits (quotas are caps, not reservations).
    platform["node_pools"]["cpu-general"]["max_size"] = 1000
    platform["node_pools"]["gpu-a10g"]["max_size"] = 1000
    _dump(out / "platform.yaml", platform)
    policies = yaml.safe_load((REPO / "configs" / "policies.yaml").read_text())
    policies["policies"]["exceptions"] = []
    _dump(out / "policies.yaml", policies)
    for env in ("local", "dev", "prod"):
        overlay = yaml.safe_load((REPO / "configs" / "env" / f"{env}.yaml").read_text())
        overlay.pop("teams", None)
        overlay.setdefault("node_pools", {}).update(
            {"cpu-general": {"max_size": 1000}, "gpu-a10g": {"max_size": 1000}}
        )
        _dump(out / "env" / f"{env}.yaml", overlay, "# @package _global_\n")
    code = out.parent / "components"  # beside configs/, where mlplat reads team code
    if code.resolve() == (REPO / "components").resolve():
        raise SystemExit("refusing to write generated team code into this repository")
    code.mkdir(parents=True, exist_ok=True)
    (code / "__init__.py").write_text("")
    for index in range(teams):
        _dump(out / "teams" / f"{_team_name(index)}.yaml", team_spec(index, seed, lifecycle))
        package = code / _package(_team_name(index)).split(".")[1]
        shutil.copytree(
            REPO / "components" / "fraud",
            package,
            ignore=shutil.ignore_patterns("__pycache__"),
            dirs_exist_ok=True,
        )
        for example in ("chargeback", "forecast"):  # the lifecycle teams' code, as subpackages
            shutil.copytree(
                REPO / "components" / example,
                package / example,
                ignore=shutil.ignore_patterns("__pycache__", "*.parquet"),
                dirs_exist_ok=True,
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--teams", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument(
        "--no-lifecycle", action="store_true", help="no features, training at scale, monitoring"
    )
    args = parser.parse_args()
    generate(args.out, args.teams, args.seed, lifecycle=not args.no_lifecycle)
    print(f"wrote {args.teams} teams to {args.out}")


if __name__ == "__main__":
    main()
