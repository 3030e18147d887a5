"""The cluster's feature transformer (compiler/features/transformer.py): its arguments round
trip, and a request of entity keys becomes the predictor's request of features, in training
order, with the same errors as the local runtime. The feature server is replaced by a table
of online values here; the local end-to-end test reads them from the real Feast server."""

from __future__ import annotations

import pytest

from compiler.features.online import MissingKeys, UnknownEntities
from compiler.features.transformer import FeatureLookup

LOOKUP = FeatureLookup(
    "http://feature-server.team-chargeback.svc.cluster.local",
    "chargeback__chargeback_v1",
    ("credit_limit", "tx_count_7d"),
    {"credit_limit": "float64", "tx_count_7d": "int64"},
    ("card_id",),
)
ONLINE = {
    "card_id": [1001, 1002, 1003],
    "credit_limit": [5000.0, 1200.0, None],
    "tx_count_7d": [4, 17, None],
}


def _fetch(url: str, service: str, entities: dict) -> dict:
    assert (url, service) == (LOOKUP.feature_server, LOOKUP.feature_service)
    rows = [ONLINE["card_id"].index(card) for card in entities["card_id"]]
    # Feast answers with the join key first and features in its own order
    return {
        name: [ONLINE[name][i] for i in rows] for name in ("card_id", "tx_count_7d", "credit_limit")
    }


def test_arguments_round_trip():
    argv = [*LOOKUP.args(), "--model_name", "chargeback-scorer", "--predictor_host", "p.ns"]
    parsed, opts = FeatureLookup.parse(argv)
    assert parsed == LOOKUP
    assert (opts.model_name, opts.predictor_host) == ("chargeback-scorer", "p.ns")


def test_entity_keys_become_the_features_in_training_order():
    payload = {
        "id": "r-1",
        "inputs": [{"name": "card_id", "shape": [2], "datatype": "INT64", "data": [1002, 1001]}],
        "outputs": [{"name": "predict_proba"}],
    }
    assert LOOKUP.request(payload, _fetch) == {
        "id": "r-1",
        "outputs": [{"name": "predict_proba"}],
        "inputs": [
            {"name": "credit_limit", "shape": [2], "datatype": "FP64", "data": [1200.0, 5000.0]},
            {"name": "tx_count_7d", "shape": [2], "datatype": "INT64", "data": [17, 4]},
        ],
    }


def test_a_missing_join_key_or_an_unknown_entity_is_named():
    with pytest.raises(MissingKeys) as missing:
        LOOKUP.request({"inputs": [{"name": "card", "data": [1001]}]}, _fetch)
    assert str(missing.value) == (
        "the request needs the input(s) card_id of feature service "
        "'chargeback__chargeback_v1' (its join keys and request values)"
    )
    with pytest.raises(UnknownEntities) as unknown:
        LOOKUP.request({"inputs": [{"name": "card_id", "data": [1001, 1003]}]}, _fetch)
    assert str(unknown.value) == (
        "no online features of service 'chargeback__chargeback_v1' for card_id=1003"
    )
