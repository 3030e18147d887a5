"""The KServe transformer of an endpoint that names a feature service (cloud environments).

KServe runs it in front of the predictor (`spec.transformer` of the InferenceService, image
`platform.defaults.feature_transformer_image`): a V2 request carrying only the service's join
keys comes in, the features are read from the team's Feast feature server, and the predictor
gets a V2 request with one input per feature, in the order the model was trained with. The
work is `compiler.features.online`, the same code the local runtime
(`compiler.deploy.local.feature_serving`) runs, so both serving paths answer alike.

The image holds this module, `compiler/features/online.py` and the KServe SDK; the SDK is
not in mlplat's environment (its starlette pin conflicts with MLServer's), so only
`FeatureLookup` (all the logic) runs here, in the tests.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from compiler.features.online import complete_rows, entity_keys, fetch_online, v2_request

Fetch = Callable[[str, str, Mapping[str, list[Any]]], dict[str, list[Any]]]


@dataclass(frozen=True)
class FeatureLookup:
    """What a transformer needs: where the features are and which ones, in which order."""

    feature_server: str
    feature_service: str
    features: tuple[str, ...]
    types: Mapping[str, str]
    """Feature → value type of the spec (its V2 datatype in the request)."""
    join_keys: tuple[str, ...]

    def args(self) -> list[str]:
        """Its command-line arguments (what the InferenceService's transformer container gets)."""
        return [
            *("--feature-server", self.feature_server),
            *("--feature-service", self.feature_service),
            *("--features", json.dumps({f: self.types[f] for f in self.features})),
            *("--join-keys", ",".join(self.join_keys)),
        ]

    @classmethod
    def parse(cls, argv: Sequence[str]) -> tuple[FeatureLookup, argparse.Namespace]:
        parser = argparse.ArgumentParser(prog="feature-transformer")
        parser.add_argument("--feature-server", required=True)
        parser.add_argument("--feature-service", required=True)
        parser.add_argument("--features", required=True, help="JSON: feature → value type")
        parser.add_argument("--join-keys", required=True)
        parser.add_argument("--model_name", default="model")  # given by KServe
        parser.add_argument("--predictor_host", default="")  # given by KServe
        opts, _ = parser.parse_known_args(list(argv))
        types: dict[str, str] = json.loads(opts.features)
        lookup = cls(
            opts.feature_server,
            opts.feature_service,
            tuple(types),
            types,
            tuple(k for k in opts.join_keys.split(",") if k),
        )
        return lookup, opts

    def request(self, payload: Mapping[str, Any], fetch: Fetch = fetch_online) -> dict[str, Any]:
        """The predictor's V2 request for a V2 request of join keys (a dict, as REST sends).
        Raises MissingKeys (400) or UnknownEntities (404) of `compiler.features.online`."""
        given = {i["name"]: i["data"] for i in payload.get("inputs") or []}
        entities = entity_keys(given, self.join_keys, self.feature_service)
        found = fetch(self.feature_server, self.feature_service, entities)
        columns = complete_rows(found, self.features, entities, self.feature_service)
        return v2_request(payload, columns, self.types)


def main(argv: Sequence[str] | None = None) -> None:  # pragma: no cover - runs in the image
    import sys

    import kserve
    from kserve.errors import InvalidInput

    from compiler.features.online import MissingKeys, UnknownEntities

    lookup, opts = FeatureLookup.parse(sys.argv[1:] if argv is None else argv)

    class FeatureTransformer(kserve.Model):
        def __init__(self) -> None:
            super().__init__(opts.model_name)
            self.predictor_host = opts.predictor_host
            self.protocol = "v2"
            self.ready = True

        async def preprocess(self, payload: Any, headers: Any = None) -> dict[str, Any]:
            body = payload if isinstance(payload, dict) else payload.to_rest()
            try:
                return lookup.request(body)
            except (MissingKeys, UnknownEntities) as exc:
                raise InvalidInput(str(exc)) from exc

    kserve.ModelServer().start([FeatureTransformer()])


if __name__ == "__main__":  # pragma: no cover
    main()
