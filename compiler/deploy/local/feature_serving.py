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
import urllib.error
import urllib.request
from typing import Any

from mlserver import MLModel
from mlserver.codecs import PandasCodec
from mlserver.errors import MLServerError
from mlserver.types import InferenceRequest, InferenceResponse

from compiler.features.online import (
    MissingKeys,
    UnknownEntities,
    complete_rows,
    entity_keys,
    fetch_online,
)


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
        given = {i.name: i.data.root for i in payload.inputs}
        try:
            return entity_keys(given, list(self._join_keys), self._service)
        except MissingKeys as exc:
            raise MLServerError(str(exc), 400) from exc

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        entities = self.entities(payload)
        try:
            found = await asyncio.to_thread(fetch_online, self._url, self._service, entities)
        except (urllib.error.URLError, OSError, KeyError, ValueError) as exc:
            raise MLServerError(f"the feature server did not answer: {exc}", 503) from exc
        import pandas as pd

        try:
            columns = complete_rows(found, self._features, entities, self._service)
        except UnknownEntities as exc:
            raise MLServerError(str(exc), 404) from exc
        frame = pd.DataFrame(columns)
        request = PandasCodec.encode_request(frame)
        request.outputs = payload.outputs
        request.id = payload.id
        response = await self._inner.predict(request)
        response.model_name = self.name
        return response
