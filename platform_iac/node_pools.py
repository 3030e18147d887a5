"""Node pools: one EKS managed node group per spec node pool, with its launch template.

Nodes never expose SSH (no key pair, no remote access), require IMDSv2 with a hop limit
of 1 so pods cannot borrow the node's credentials (they use IRSA instead), and encrypt
their root volumes. GPU pools run the EKS NVIDIA AMI and carry the `nvidia.com/gpu`
NoSchedule taint and GPU labels from the IR; the device plugin is a platform service.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from compiler.ir import NodePool
from platform_iac.naming import NODE_POOL

EKS_TAINT_EFFECTS = {
    "NoSchedule": "NO_SCHEDULE",
    "PreferNoSchedule": "PREFER_NO_SCHEDULE",
    "NoExecute": "NO_EXECUTE",
}
CPU_AMI = "AL2023_x86_64_STANDARD"
GPU_AMI = "AL2023_x86_64_NVIDIA"
MAX_UNAVAILABLE_PERCENT = 33


@dataclass(frozen=True)
class NodePoolArgs:
    pool: NodePool
    cluster_name: pulumi.Input[str]
    name_prefix: str
    """Prefix of account-wide names (launch templates): the cluster's name."""
    subnet_ids: pulumi.Input[Sequence[str]]
    node_role_arn: pulumi.Input[str]
    node_role_ready: Sequence[pulumi.Resource]
    """The node role's policy attachments: nodes cannot join before they exist."""
    tags: Mapping[str, str]


class NodePoolGroup(pulumi.ComponentResource):
    """A managed node group and the launch template that hardens its instances."""

    node_group_name: pulumi.Output[str]
    node_group: aws.eks.NodeGroup

    def __init__(
        self, name: str, args: NodePoolArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__(NODE_POOL, name, None, opts)
        pool, tags = args.pool, dict(args.tags)
        instance_tags = {
            **tags,
            "Name": f"{args.name_prefix}-{pool.name}",
            "mlplat.io/node-pool": pool.name,
        }
        template = aws.ec2.LaunchTemplate(
            pool.name,
            name=f"{args.name_prefix}-{pool.name}",
            description=f"Nodes of pool {pool.name}: IMDSv2 only, encrypted disk, no SSH key",
            metadata_options={
                "http_endpoint": "enabled",
                "http_tokens": "required",
                "http_put_response_hop_limit": 1,
                "instance_metadata_tags": "disabled",
            },
            block_device_mappings=[
                {
                    "device_name": "/dev/xvda",
                    "ebs": {
                        "volume_size": pool.disk_size_gb,
                        "volume_type": "gp3",
                        "encrypted": "true",
                        "delete_on_termination": "true",
                    },
                }
            ],
            tag_specifications=[
                {"resource_type": "instance", "tags": instance_tags},
                {"resource_type": "volume", "tags": instance_tags},
            ],
            update_default_version=True,
            tags=tags,
            opts=pulumi.ResourceOptions(parent=self),
        )
        group = aws.eks.NodeGroup(
            pool.name,
            cluster_name=args.cluster_name,
            node_group_name=pool.name,
            node_role_arn=args.node_role_arn,
            subnet_ids=args.subnet_ids,
            instance_types=list(pool.instance_types),
            capacity_type="SPOT" if pool.capacity_type == "spot" else "ON_DEMAND",
            ami_type=GPU_AMI if pool.has_gpu else CPU_AMI,
            scaling_config={
                "min_size": pool.min_size,
                "desired_size": pool.desired_size,
                "max_size": pool.max_size,
            },
            launch_template={
                "id": template.id,
                "version": template.latest_version.apply(str),
            },
            labels=dict(pool.labels),
            taints=[
                {
                    "key": taint.key,
                    "value": taint.value or None,
                    "effect": EKS_TAINT_EFFECTS[taint.effect],
                }
                for taint in pool.taints
            ],
            update_config={"max_unavailable_percentage": MAX_UNAVAILABLE_PERCENT},
            tags={**tags, "mlplat.io/node-pool": pool.name},
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=list(args.node_role_ready),
                # The cluster autoscaler owns the current size; the spec's desired size is
                # only the starting point.
                ignore_changes=["scalingConfig.desiredSize"],
            ),
        )
        self.node_group, self.node_group_name = group, group.node_group_name
        self.register_outputs({"node_group_name": self.node_group_name})
