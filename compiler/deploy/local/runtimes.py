"""MLServer runtimes of local endpoints: the stock runtime plus checks of each request.

MLServer 1.7 has no setting that checks a request against the model: a string in FP64 data, a
shape that does not match its data or a missing feature reaches the runtime's decoding or the
estimator, whose ``ValueError`` becomes an HTTP 500, as if the server were broken. The
`RequestChecks` mixin checks the request first and answers a client error (HTTP 400 through
MLServer's own `InferenceError`, gRPC INVALID_ARGUMENT) with a message naming the input; the
server stays healthy.

Extension point: a runtime is the stock class with mixins in front of it, e.g.
``class ValidatedSKLearnModel(RequestChecks, SKLearnModel)``. A mixin that changes the request
(one that fetches features for an entity id, say) is listed before `RequestChecks`, so that
what is checked is what the model receives; one that only observes requests (payload logging)
goes first, to see refused requests too. Override `expected_inputs` to check against
something other than the fitted estimator's feature names.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from mlserver.errors import InferenceError
from mlserver.model import MLModel
from mlserver.types import InferenceRequest, InferenceResponse, RequestInput
from mlserver_sklearn import SKLearnModel

_NUMERIC_PREFIXES = ("FP", "INT", "UINT")
_SHOWN = 40
"""Characters of a refused value quoted in a message."""


class RequestRejected(InferenceError):
    """A request the model cannot take: the client's mistake (HTTP 400)."""


def _flatten(data: Any) -> Iterator[Any]:
    if isinstance(data, list | tuple):
        for item in data:
            yield from _flatten(item)
    else:
        yield data


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN else text[: _SHOWN - 3] + "..."


def _type_problem(datatype: str, value: Any) -> str | None:
    if datatype == "BOOL":
        return None if isinstance(value, bool) else "not a boolean"
    if datatype.startswith(_NUMERIC_PREFIXES):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return "not a number"
        if not datatype.startswith("FP") and isinstance(value, float):
            return None if value.is_integer() else "not an integer"
    return None


def check_input(request_input: RequestInput) -> None:
    """Data of one input against its own datatype and shape."""
    name = request_input.name
    datatype = str(getattr(request_input.datatype, "value", request_input.datatype))
    raw = request_input.data.root if hasattr(request_input.data, "root") else request_input.data
    values = list(_flatten(raw))
    for index, value in enumerate(values):
        problem = _type_problem(datatype, value)
        if problem:
            raise RequestRejected(
                f"input '{name}' is {datatype} but data[{index}] is {_shown(value)}, {problem}"
            )
    shape = list(request_input.shape)
    needed = 1
    for size in shape:
        needed *= size
    if any(size < 0 for size in shape) or needed != len(values):
        raise RequestRejected(
            f"input '{name}' has shape {shape}, which holds {needed} values, "
            f"but its data has {len(values)}"
        )


def check_request(payload: InferenceRequest, expected: Sequence[str] | None) -> None:
    """A request against the model's inputs: each input well formed; named inputs are the
    model's features, all with the same number of rows; one unnamed matrix has a column per
    feature."""
    for request_input in payload.inputs:
        check_input(request_input)
    if not expected:
        return
    names = [i.name for i in payload.inputs]
    if len(payload.inputs) == 1 and names[0] not in expected:
        (matrix,) = payload.inputs
        columns = matrix.shape[-1] if len(matrix.shape) >= 2 else 1
        if columns != len(expected):
            raise RequestRejected(
                f"input '{matrix.name}' has {columns} column{'s' * (columns != 1)}, "
                f"but the model takes {len(expected)} features: {', '.join(expected)}"
            )
        return
    missing = [n for n in expected if n not in names]
    if missing:
        raise RequestRejected(
            f"missing input '{missing[0]}': the model takes {', '.join(expected)}"
            + (f" ({len(missing)} missing)" if len(missing) > 1 else "")
        )
    unknown = [n for n in names if n not in expected]
    if unknown:
        raise RequestRejected(
            f"unknown input '{unknown[0]}': the model takes {', '.join(expected)}"
        )
    rows = {i.name: i.shape[0] if i.shape else 1 for i in payload.inputs}
    if len(set(rows.values())) > 1:
        first, other = names[0], next(n for n in names if rows[n] != rows[names[0]])
        raise RequestRejected(
            f"input '{other}' has {rows[other]} rows but input '{first}' has {rows[first]}"
        )


class RequestChecks(MLModel):
    """Refuse a malformed request with HTTP 400 before the runtime decodes it.

    A ``ValueError`` the estimator raises while scoring a checked request (scikit-learn's own
    input checks: NaN, infinity) is the client's too; every other exception stays a server
    error.
    """

    def expected_inputs(self) -> list[str] | None:
        """Feature names the model takes: declared inputs of the model settings, else the
        names the estimator was fitted with, else None (only the inputs' own checks run)."""
        declared = [tensor.name for tensor in self.settings.inputs or []]
        if declared:
            return declared
        names = getattr(getattr(self, "_model", None), "feature_names_in_", None)
        return [str(n) for n in names] if names is not None else None

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        check_request(payload, self.expected_inputs())
        try:
            return await super().predict(payload)
        except InferenceError:
            raise
        except ValueError as exc:
            raise RequestRejected(f"the model cannot score this request: {exc}") from exc


class ValidatedSKLearnModel(RequestChecks, SKLearnModel):
    """MLServer's scikit-learn runtime with request checks."""
