"""The step that makes a training frame: Feast's point-in-time join of a feature service to
entity rows. Linking adds one before every step that asks for a training frame."""

from kfp.dsl import Dataset, Input, Output


def training_frame(
    entities: Input[Dataset], service: str, store: str, frame: Output[Dataset]
) -> None:
    """Join the service's features to each entity row as of the row's event timestamp.

    In the cluster the step's image has Feast and `store` is the environment's
    feature_store.yaml; on the local platform the deploy's Feast process (in the Feast
    virtualenv, at MLPLAT_FEAST_WORKER) runs the same join. The frame is Parquet: the entity
    rows' columns, then the service's features in its order (metadata `features`).
    """
    import json
    import os
    import socket

    worker = os.environ.get("MLPLAT_FEAST_WORKER")
    if worker:
        request = {
            "op": "historical",
            "service": service,
            "entities": entities.path,
            "out": frame.path,
        }
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.connect(worker)
            conn.sendall((json.dumps(request) + "\n").encode())
            reply = json.loads(conn.makefile("r", encoding="utf-8").readline() or "{}")
        if "error" in reply or "result" not in reply:
            raise RuntimeError(
                f"the feature store could not join '{service}': {reply.get('error')}"
            )
        result = reply["result"]
    else:
        import tempfile

        import pandas as pd
        from feast import FeatureStore

        folder = tempfile.mkdtemp()
        with open(os.path.join(folder, "feature_store.yaml"), "w", encoding="utf-8") as handle:
            handle.write(store)
        feature_store = FeatureStore(repo_path=folder)
        wanted = feature_store.get_feature_service(service)
        rows = pd.read_parquet(entities.path)
        joined = feature_store.get_historical_features(entity_df=rows, features=wanted).to_df()
        names = [f.name for p in wanted.feature_view_projections for f in p.features]
        keys = [c for c in rows.columns if c not in names]
        joined = joined[keys + names].sort_values(keys, kind="stable").reset_index(drop=True)
        joined.to_parquet(frame.path, index=False)
        result = {"features": names, "rows": len(joined)}
    frame.metadata["features"] = result["features"]
    frame.metadata["rows"] = result["rows"]
    frame.metadata["service"] = service
    frame.metadata["format"] = "parquet"
