"""MLServer runtime that logs each request and response of the runtime it wraps.

Loaded by the model server (never by mlplat itself): the model settings name this class as
the implementation and the wrapped runtime in `parameters.extra` (see `payload_log.wrap`).
"""

from __future__ import annotations

import time
from typing import Any

from mlserver import MLModel
from mlserver.settings import ModelSettings
from mlserver.types import InferenceRequest, InferenceResponse
from pydantic import ImportString, TypeAdapter

from compiler.deploy.local.payload_log import DIR_KEY, INNER_KEY, RATE_KEY, PayloadWriter


def _data(tensor: Any) -> Any:
    data = tensor.data
    return getattr(data, "root", data)


class PayloadLoggingRuntime(MLModel):
    """Delegates to the wrapped runtime; appends the request and response to the payload log."""

    def __init__(self, settings: ModelSettings) -> None:
        extra = dict(settings.parameters.extra or {}) if settings.parameters else {}
        inner_path = str(extra.pop(INNER_KEY))
        directory = str(extra.pop(DIR_KEY))
        rate = float(extra.pop(RATE_KEY, 1.0))
        inner_cls = TypeAdapter(ImportString).validate_python(inner_path)
        inner_settings = settings.model_copy(deep=True)
        inner_settings.implementation_ = inner_cls
        if inner_settings.parameters is not None:
            inner_settings.parameters.extra = extra
        super().__init__(settings)
        self._inner: MLModel = inner_cls(inner_settings)
        self._writer = PayloadWriter(directory, rate)
        self._version = settings.parameters.version if settings.parameters else None

    async def load(self) -> bool:
        self.ready = await self._inner.load()
        return self.ready

    async def unload(self) -> bool:
        self._writer.close()
        return await self._inner.unload()

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        started = time.perf_counter()
        response = await self._inner.predict(payload)
        if self._writer.sampled():
            self._writer.append(
                {
                    "ts": time.time(),
                    "id": response.id or payload.id,
                    "model": self.name,
                    "version": self._version,
                    "inputs": {i.name: _data(i) for i in payload.inputs},
                    "outputs": {
                        o.name: {"shape": list(o.shape), "data": _data(o)} for o in response.outputs
                    },
                    "ms": round((time.perf_counter() - started) * 1000, 3),
                }
            )
        return response
