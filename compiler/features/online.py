"""Online features for a request that carries only entity keys: one code path for every
serving path (the local MLServer runtime and the cluster's KServe transformer).

Standard library only, so that the transformer image needs nothing of mlplat but this
module and `compiler.features.transformer`.
"""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

FETCH_TIMEOUT = 5.0

V2_DATATYPES = {
    "int32": "INT32",
    "int64": "INT64",
    "float32": "FP32",
    "float64": "FP64",
    "bool": "BOOL",
    "string": "BYTES",
}
"""Feature value type (the spec's) → V2 inference protocol datatype."""


class MissingKeys(ValueError):
    """The request lacks join keys of the feature service (HTTP 400)."""


class UnknownEntities(LookupError):
    """The online store has no features for some entities (HTTP 404)."""


def fetch_online(
    url: str, service: str, entities: Mapping[str, list[Any]], timeout: float = FETCH_TIMEOUT
) -> dict[str, list[Any]]:
    """POST /get-online-features to Feast's feature server: feature name → values per row."""
    body = json.dumps({"feature_service": service, "entities": dict(entities)}).encode()
    request = urllib.request.Request(
        f"{url.rstrip('/')}/get-online-features",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer = json.loads(response.read())
    names = answer["metadata"]["feature_names"]
    return {name: result["values"] for name, result in zip(names, answer["results"], strict=True)}


def entity_keys(
    given: Mapping[str, Sequence[Any]], join_keys: Sequence[str], service: str
) -> dict[str, list[Any]]:
    """The join keys' values from a request's inputs (name → values); MissingKeys if absent."""
    missing = [key for key in join_keys if key not in given]
    if missing:
        raise MissingKeys(
            f"the request needs the input(s) {', '.join(missing)} of feature service "
            f"'{service}' (its join keys and request values)"
        )
    return {key: list(given[key]) for key in join_keys}


def complete_rows(
    found: Mapping[str, list[Any]],
    features: Sequence[str],
    entities: Mapping[str, list[Any]],
    service: str,
) -> dict[str, list[Any]]:
    """The features in training order; UnknownEntities naming the entities without them."""
    columns = {name: list(found[name]) for name in features}
    rows = len(next(iter(entities.values()), []))
    unknown = [i for i in range(rows) if any(columns[n][i] is None for n in features)]
    if unknown:
        keys = ", ".join(f"{key}={values[i]}" for i in unknown for key, values in entities.items())
        raise UnknownEntities(f"no online features of service '{service}' for {keys}")
    return columns


def v2_request(
    payload: Mapping[str, Any],
    columns: Mapping[str, list[Any]],
    types: Mapping[str, str],
) -> dict[str, Any]:
    """A V2 inference request with one input per feature (in the order of `columns`), keeping
    the payload's id, parameters and requested outputs."""
    request: dict[str, Any] = {
        "inputs": [
            {
                "name": name,
                "shape": [len(values)],
                "datatype": V2_DATATYPES.get(types[name], "BYTES"),
                "data": values,
            }
            for name, values in columns.items()
        ]
    }
    for key in ("id", "parameters", "outputs"):
        if payload.get(key) is not None:
            request[key] = payload[key]
    return request
