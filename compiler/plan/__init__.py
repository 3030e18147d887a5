"""The plan: the Pulumi program run under mocks, recorded, diffed against a baseline, reported.

`mlplat plan` writes `build/<env>/plan.json` (every resource with its inputs, parent,
dependencies and protection), `manifests/` (each Kubernetes object as YAML, validated against
the cluster's Kubernetes version) and `report.md` (the review: changes, destructive ones first,
blast radius, cost, diagram), next to the compile outputs.
"""
