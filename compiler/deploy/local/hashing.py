"""Content hashes that decide what a deploy must redo.

A pipeline's hash covers its IR and the source files of the python functions its steps
run, so editing team code re-runs exactly the pipelines that use it. An endpoint's hash
covers its IR and the model version it serves, so a new version restarts only the
endpoints that serve it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable
from typing import Any

from compiler.ir import Endpoint, Model, Pipeline
from compiler.team_packages import module_file

# Bump when the way endpoints are served changes (settings layout, runtime parameters):
# every endpoint then restarts once.
SERVING_FORMAT = 1

SourceReader = Callable[[str], bytes]


def _digest(*parts: Any) -> str:
    h = hashlib.sha256()
    for part in parts:
        data = part if isinstance(part, bytes) else json.dumps(part, sort_keys=True).encode()
        h.update(len(data).to_bytes(8, "big"))
        h.update(data)
    return h.hexdigest()


def module_source(module: str) -> bytes:
    """The source of a python module, or a marker when it cannot be found.

    The file is found where the compiler reads step code (`team_packages.module_file`);
    nothing is imported.
    """
    path = module_file(module)
    if path is None:
        return f"<module {module} not found>".encode()
    try:
        return path.read_bytes()
    except OSError:
        return f"<module {module} unreadable>".encode()


def step_modules(pipeline: Pipeline) -> list[str]:
    """Modules whose functions the python steps run, sorted and without duplicates."""
    return sorted(
        {
            step.python.function.split(":", 1)[0]
            for step in pipeline.steps.values()
            if step.python is not None
        }
    )


def pipeline_hash(pipeline: Pipeline, read_source: SourceReader = module_source) -> str:
    sources = [(m, read_source(m)) for m in step_modules(pipeline)]
    return _digest(
        "pipeline",
        pipeline.model_dump(mode="json"),
        *(part for module, source in sources for part in (module, source)),
    )


def model_hash(model: Model) -> str:
    return _digest("model", model.model_dump(mode="json"))


def endpoint_hash(endpoint: Endpoint, served: Iterable[Any]) -> str:
    """`served` identifies what is served: registry name, version and model file."""
    return _digest("endpoint", SERVING_FORMAT, endpoint.model_dump(mode="json"), list(served))
