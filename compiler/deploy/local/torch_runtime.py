"""An MLServer runtime for TorchScript models: what the local target serves `pytorch` with.

MLServer 1.7 has no PyTorch runtime of its own (KServe serves PyTorch in the cluster), so
this one loads the version's TorchScript file (`model.pt`, written with `torch.jit`) and
answers V2 inference requests: the first input as a float32 tensor (rows x features),
the model's output as `predict`. It runs inside `mlserver start`, in this environment.
"""

from __future__ import annotations

from typing import Any

from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse
from mlserver.utils import get_model_uri


class TorchScriptModel(MLModel):
    """Serve a TorchScript module with the open inference protocol V2."""

    async def load(self) -> bool:
        import torch

        uri = await get_model_uri(self._settings)
        torch.set_num_threads(1)
        self._model: Any = torch.jit.load(uri, map_location="cpu")
        self._model.eval()
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        import numpy as np
        import torch

        if not payload.inputs:
            raise ValueError("the request has no inputs")
        rows = np.asarray(NumpyCodec.decode_input(payload.inputs[0]), dtype=np.float32)
        if rows.ndim == 1:
            rows = rows.reshape(1, -1)
        with torch.no_grad():
            predicted = self._model(torch.from_numpy(rows)).numpy()
        return InferenceResponse(
            model_name=self.name,
            model_version=self.version,
            outputs=[NumpyCodec.encode_output("predict", predicted)],
        )
