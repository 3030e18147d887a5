"""Node pools under mocks: hardened launch templates, GPU taints and labels, the device plugin."""

from __future__ import annotations

from compiler.ir import GPU_MODEL_LABEL, GPU_TAINT_KEY, NODE_POOL_LABEL
from tests.platform_iac.planning import ir_for, of_type, one

NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"


def test_one_node_group_per_pool_with_the_spec_shape(prod):
    ir = ir_for("prod")
    groups = {g.name: g for g in of_type(prod, NODE_GROUP)}
    assert set(groups) == set(ir.node_pools)
    for name, pool in ir.node_pools.items():
        inputs = groups[name].inputs
        assert inputs["instanceTypes"] == list(pool.instance_types)
        assert inputs["capacityType"] == ("SPOT" if pool.capacity_type == "spot" else "ON_DEMAND")
        assert inputs["scalingConfig"] == {
            "minSize": pool.min_size,
            "desiredSize": pool.desired_size,
            "maxSize": pool.max_size,
        }
        assert inputs["labels"][NODE_POOL_LABEL] == name
    assert groups["gpu-a10g"].inputs["capacityType"] == "SPOT"
    assert groups["cpu-general"].inputs["scalingConfig"]["minSize"] == 3


def test_launch_templates_require_imdsv2_with_hop_limit_one_and_no_ssh(prod):
    templates = of_type(prod, TEMPLATE)
    assert len(templates) == 4
    for template in templates:
        metadata = template.inputs["metadataOptions"]
        assert metadata["httpTokens"] == "required"
        assert metadata["httpPutResponseHopLimit"] == 1
        assert "keyName" not in template.inputs
        (disk,) = template.inputs["blockDeviceMappings"]
        assert disk["ebs"]["encrypted"] == "true"
    for group in of_type(prod, NODE_GROUP):
        assert "remoteAccess" not in group.inputs
        assert group.inputs["launchTemplate"]["id"].startswith("lt-")
    assert (
        one(prod, TEMPLATE, "gpu-a100").inputs["blockDeviceMappings"][0]["ebs"]["volumeSize"] == 500
    )


def test_gpu_pools_are_tainted_labelled_and_run_the_nvidia_ami(prod):
    for group in of_type(prod, NODE_GROUP):
        gpu = group.name.startswith("gpu-")
        taints = group.inputs.get("taints", [])
        assert (
            {"key": GPU_TAINT_KEY, "value": "present", "effect": "NO_SCHEDULE"} in taints
        ) == gpu
        assert (GPU_MODEL_LABEL in group.inputs["labels"]) == gpu
        assert group.inputs["amiType"] == (
            "AL2023_x86_64_NVIDIA" if gpu else "AL2023_x86_64_STANDARD"
        )
    assert one(prod, NODE_GROUP, "gpu-a100").inputs["labels"][GPU_MODEL_LABEL] == "nvidia-a100"


def test_the_autoscaler_owns_the_current_size(prod):
    for group in of_type(prod, NODE_GROUP):
        assert group.ignore_changes == ("scalingConfig.desiredSize",)


def test_nvidia_device_plugin_runs_on_gpu_nodes_only(prod):
    plugin = one(prod, "kubernetes:helm.sh/v3:Release", "nvidia-device-plugin")
    assert plugin.inputs["version"]
    (term,) = plugin.inputs["values"]["affinity"]["nodeAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ]["nodeSelectorTerms"]
    assert term["matchExpressions"] == [{"key": GPU_MODEL_LABEL, "operator": "Exists"}]
    assert {"key": GPU_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"} in plugin.inputs[
        "values"
    ]["tolerations"]


def test_no_device_plugin_without_gpu_pools():
    from compiler.plan.mocks import run_program

    cpu_only = ir_for("prod").model_copy(
        update={
            "node_pools": {"cpu-general": ir_for("prod").node_pools["cpu-general"]},
            "teams": {},
        }
    )
    plan = run_program(cpu_only)
    assert [
        r.name for r in of_type(plan, "kubernetes:helm.sh/v3:Release") if "nvidia" in r.name
    ] == []
