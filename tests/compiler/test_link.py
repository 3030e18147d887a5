"""Linking: defaults, ordering and the checks that the bad-input table does not cover."""

from __future__ import annotations

from compiler.frontend import load_platform


def edit(path, old, new):
    text = path.read_text()
    assert text.count(old) == 1, old
    path.write_text(text.replace(old, new))


def test_defaults_and_resolved_names(example_ir):
    ir = example_ir("local").ir
    step = ir.teams["fraud"].pipelines["train-fraud-model"].steps["evaluate"]
    assert step.node_pool == "cpu-general"  # platform default
    assert (step.resources.cpu, step.resources.memory) == (500, 2**30)  # platform default requests
    assert (step.resources.cpu_limit, step.resources.memory_limit) == (500, 2**30)
    assert step.timeout_seconds == 6 * 3600
    assert step.depends_on == ("make-dataset", "train")
    train = ir.teams["recsys"].pipelines["train-ranker"].steps["train"]
    assert train.resources.gpu == 1 and train.resources.gpu_model == "nvidia-a10g"
    fraud = ir.teams["fraud"]
    assert (fraud.namespace, fraud.service_account, fraud.iam_role_name) == (
        "team-fraud",
        "fraud-workload",
        "acme-local-fraud-workload",
    )
    assert ir.buckets["datasets"].physical_name == "acme-local-datasets"
    assert ir.platform.cluster_name == "acme-local"
    assert fraud.models["fraud-classifier"].registry_name == "fraud.fraud-classifier"


def test_topological_order_follows_wiring_not_writing(configs):
    fraud = configs / "teams" / "fraud.yaml"
    text = fraud.read_text()
    # move 'evaluate' before 'make-dataset' in the file
    start, end = text.index("      evaluate:"), text.index("    schedule:")
    block = text[start:end]
    text = text[:start] + text[end:]
    text = text.replace("      make-dataset:", block + "      make-dataset:")
    fraud.write_text(text)
    result = load_platform(configs)
    assert result.ok
    pipeline = result.ir.teams["fraud"].pipelines["train-fraud-model"]
    assert list(pipeline.steps) == ["evaluate", "make-dataset", "train"]
    assert pipeline.order == ("make-dataset", "train", "evaluate")


def test_cpu_work_on_a_gpu_pool_is_a_warning(configs):
    edit(
        configs / "teams" / "fraud.yaml",
        '        resources: {cpu: "1", memory: 2Gi}',
        '        resources: {cpu: "1", memory: 2Gi}\n        node_pool: gpu-t4',
    )
    result = load_platform(configs)
    assert result.ok
    (warn,) = [d for d in result.diagnostics if d.code == "W302"]
    assert (
        warn.message
        == "step 'make-dataset' of pipeline 'train-fraud-model' requests no GPU but runs on GPU node pool 'gpu-t4'"
    )


def test_canary_replicas_count_against_the_quota(configs):
    edit(
        configs / "teams" / "fraud.yaml",
        "    max_replicas: 3",
        "    max_replicas: 30\n    canary: {version: 2, traffic_percent: 5}",
    )
    result = load_platform(configs)
    errors = [d for d in result.diagnostics if d.is_error]
    assert [d.code for d in errors] == ["E205"]
    assert "need 30 CPU" in errors[0].message  # 30 replicas x 500m x 2 (canary)


def test_scheduled_pipeline_needs_values_for_required_parameters(configs):
    edit(
        configs / "teams" / "fraud.yaml",
        "n_samples: {type: int, default: 4000, description: Transactions to generate}",
        "n_samples: {type: int, description: Transactions to generate}",
    )
    result = load_platform(configs)
    (err,) = [d for d in result.diagnostics if d.is_error]
    assert err.code == "E102"
    assert (
        err.message
        == "scheduled pipeline 'train-fraud-model' needs a value for parameter 'n_samples' (it has no default)"
    )


def test_invalid_team_does_not_cause_false_reference_errors(configs):
    """An endpoint serving a model of a team whose file is broken is not reported twice."""
    edit(configs / "teams" / "search.yaml", "cost_center: CC-3300", "cost_center: 3300")
    edit(
        configs / "teams" / "fraud.yaml", "    model: fraud-classifier", "    model: search-ranker"
    )
    result = load_platform(configs)
    assert [d.code for d in result.diagnostics if d.is_error] == ["E103"]


def test_trusted_ir_objects_are_well_formed(example_ir):
    """The linker builds hot IR objects without re-validating them: the whole IR must still
    validate as the model says, and survive a round trip through its canonical JSON."""
    from compiler.ir import PlatformIR

    for env in ("local", "dev", "prod"):
        ir = example_ir(env).ir
        again = PlatformIR.model_validate_json(ir.canonical_json())
        assert again.canonical_json() == ir.canonical_json()
