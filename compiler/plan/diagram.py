"""A Mermaid diagram of the platform: teams with their pipelines and endpoints, the node
pools they run on and the buckets they may read or write."""

from __future__ import annotations

import re

from compiler.ir import PlatformIR

MAX_NODES = 400
"""Above this, the diagram shows teams, node pools and buckets only (GitHub's renderer
gives up on very large graphs)."""


def _id(*parts: str) -> str:
    return "_".join(re.sub(r"[^A-Za-z0-9]", "_", p) for p in parts)


def _label(text: str) -> str:
    return text.replace('"', "'")


def mermaid(ir: PlatformIR) -> str:
    size = len(ir.teams) + len(ir.node_pools) + len(ir.buckets)
    detailed = size + len(ir.pipelines()) + len(ir.endpoints()) <= MAX_NODES
    lines = ["flowchart LR"]
    lines.append('  subgraph pools["node pools"]')
    for name, pool in sorted(ir.node_pools.items()):
        gpu = f"<br/>{pool.gpus_per_node} x {pool.gpu_model}" if pool.gpu_model else ""
        lines.append(f'    {_id("pool", name)}["{_label(name)}{gpu}"]')
    lines.append("  end")
    lines.append('  subgraph buckets["buckets"]')
    for name in sorted(ir.buckets):
        lines.append(f'    {_id("bucket", name)}[("{_label(name)}")]')
    lines.append("  end")
    edges: set[str] = set()
    for team_name, team in sorted(ir.teams.items()):
        team_id = _id("team", team_name)
        if detailed:
            lines.append(f'  subgraph {team_id}["team {_label(team_name)}"]')
            for name, pipeline in sorted(team.pipelines.items()):
                node = _id("pipeline", team_name, name)
                lines.append(f'    {node}(["{_label(name)}"])')
                for pool_name in sorted({step.node_pool for step in pipeline.steps.values()}):
                    edges.add(f"  {node} --> {_id('pool', pool_name)}")
            for name, endpoint in sorted(team.endpoints.items()):
                node = _id("endpoint", team_name, name)
                lines.append(f'    {node}{{{{"{_label(name)}"}}}}')
                edges.add(f"  {node} --> {_id('pool', endpoint.node_pool)}")
            lines.append("  end")
        else:
            lines.append(f'  {team_id}["team {_label(team_name)}"]')
            pools = {s.node_pool for p in team.pipelines.values() for s in p.steps.values()}
            pools |= {e.node_pool for e in team.endpoints.values()}
            for pool_name in sorted(pools):
                edges.add(f"  {team_id} --> {_id('pool', pool_name)}")
        for grant in team.bucket_access:
            if grant.bucket in ir.buckets:
                edges.add(f"  {team_id} -. {grant.access} .-> {_id('bucket', grant.bucket)}")
    lines.extend(sorted(edges))
    return "\n".join(lines) + "\n"
