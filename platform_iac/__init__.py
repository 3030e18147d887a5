"""The Pulumi program of the platform: every cloud and Kubernetes resource, built from the IR.

`program.build_platform(ir)` is the whole program. Three callers run it: `__main__.py` (what
`pulumi up` runs in this folder), the plan (`compiler/plan`, under Pulumi's mocks) and the
cloud deploy (`compiler/deploy/cloud.py`, through the Automation API). Nothing here reads YAML.
"""
