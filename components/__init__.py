"""Team step code: the functions that python pipeline steps run.

A step's `python.function: components.<team>.<module>:<function>` names a function here.
mlplat turns each into a Kubeflow lightweight python component, which ships only the
function's source to the step's container: every function is self-contained (imports in
its body, no module-level helpers) and annotated with `kfp.dsl` types.
"""
