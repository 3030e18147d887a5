"""An MLServer runtime for endpoints that name a feature service: requests carry entity keys.

`OnlineFeatures` wraps the endpoint's own runtime (e.g. `mlserver_sklearn.SKLearnModel`):
it reads the join keys from the V2 request, asks Feast's feature server for the service's
online features, and hands the inner runtime a request with those features, in the order
the model was trained with. Settings come from `parameters.extra` of model-settings.json:
`inner` (implementation), `feature_server` (URL), `feature_service` (Feast name),
`features` (ordered names) and `join_keys` (name: value type).
"""

from __future__ import annotations

import asyncio
import importlib
import json
import urllib.error
import urllib.request
from typing import Any

from mlserver import MLModel
from mlserver.codecs import PandasCodec
from mlserver.errors import MLServerError
from mlserver.types import InferenceRequest, InferenceResponse

FETCH_TIMEOUT = 5.0


def feature_settings(
    inner: str, feature_server: str, service: str, features: list[str], join_keys: dict[str, str]
) -> dict[str, Any]:
    """The `parameters.extra` that configures the runtime (written by the local deploy)."""
    return {
        "inner": inner,
        "feature_server": feature_server,
        "feature_service": service,
        "features": features,
        "join_keys": join_keys,
    }


def fetch_online(
    url: str, service: str, entities: dict[str, list[Any]], timeout: float = FETCH_TIMEOUT
) -> dict[str, list[Any]]:
    """POST /get-online-features to Feast's feature server: feature name → values per row."""
    body = json.dumps({"feature_service": service, "entities": entities}).encode()
    request = urllib.request.Request(
        f"{url}/get-online-features",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer = json.loads(response.read())
    names = answer["metadata"]["feature_names"]
    return {name: result["values"] for name, result in zip(names, answer["results"], strict=True)}


class OnlineFeatures(MLModel):
    """Entity keys in, the inner runtime's prediction on the online features out."""

    async def load(self) -> bool:
        extra = dict(self.settings.parameters.extra or {}) if self.settings.parameters else {}
        self._url: str = extra["feature_server"]
        self._service: str = extra["feature_service"]
        self._features: list[str] = list(extra["features"])
        self._join_keys: dict[str, str] = dict(extra["join_keys"])
        module, _, name = str(extra["inner"]).rpartition(".")
        self._inner: MLModel = getattr(importlib.import_module(module), name)(self.settings)
        await self._inner.load()
        self.ready = True
        return self.ready

    def entities(self, payload: InferenceRequest) -> dict[str, list[Any]]:
        given = {i.name: i for i in payload.inputs}
        missing = [k for k in self._join_keys if k not in given]
        if missing:
            raise MLServerError(
                f"the request needs the join key input(s) {', '.join(missing)} of feature "
                f"service '{self._service}'",
                400,
            )
        return {key: list(given[key].data.root) for key in self._join_keys}

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        entities = self.entities(payload)
        try:
            found = await asyncio.to_thread(fetch_online, self._url, self._service, entities)
        except (urllib.error.URLError, OSError, KeyError, ValueError) as exc:
            raise MLServerError(f"the feature server did not answer: {exc}", 503) from exc
        import pandas as pd

        frame = pd.DataFrame({name: found[name] for name in self._features})
        unknown = frame.isna().any(axis=1)
        if unknown.any():
            rows = [i for i, bad in enumerate(unknown) if bad]
            keys = ", ".join(f"{key}={values[i]}" for i in rows for key, values in entities.items())
            raise MLServerError(f"no online features of service '{self._service}' for {keys}", 404)
        request = PandasCodec.encode_request(frame)
        request.outputs = payload.outputs
        request.id = payload.id
        response = await self._inner.predict(request)
        response.model_name = self.name
        return response
