"""kfp-kubernetes settings made in one batch give the task exactly the stock config."""

# No `from __future__ import annotations`: kfp reads the component's annotations as types.
import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kfp import dsl, kubernetes
from kfp.dsl import pipeline_context

from compiler.kfp_backend import kubernetes_batch

Setting = Callable[[dsl.PipelineTask], Any]
SETTINGS: list[Setting] = [
    lambda t: kubernetes.add_node_selector(t, "mlplat.io/node-pool", "cpu-general"),
    lambda t: kubernetes.add_toleration(t, key="gpu", operator="Exists", effect="NoSchedule"),
    lambda t: kubernetes.add_toleration(
        t, key="k", operator="Equal", value="v", effect="NoExecute"
    ),
    lambda t: kubernetes.set_timeout(t, 3600),
    lambda t: kubernetes.use_secret_as_env(t, secret_name="db", secret_key_to_env={"pw": "PW"}),
    lambda t: kubernetes.use_secret_as_env(t, secret_name="db", secret_key_to_env={"pw": "PW2"}),
    lambda t: kubernetes.use_secret_as_volume(t, secret_name="tls", mount_path="/etc/tls"),
    lambda t: kubernetes.set_security_context(
        t, run_as_user=1000, run_as_group=1000, run_as_non_root=True
    ),
    lambda t: kubernetes.add_pod_label(t, "mlplat.io/team", "fraud"),
    lambda t: kubernetes.add_pod_label(t, "mlplat.io/pipeline", "train"),
    lambda t: kubernetes.add_pod_label(t, "mlplat.io/team", "fraud-2"),  # overwrites
    lambda t: kubernetes.add_pod_annotation(t, "note", "x"),
    lambda t: kubernetes.use_config_map_as_env(
        t, config_map_name="cm", config_map_key_to_env={"k": "K"}
    ),
    lambda t: kubernetes.use_config_map_as_volume(t, config_map_name="cm", mount_path="/cm"),
    lambda t: kubernetes.empty_dir_mount(t, volume_name="scratch", mount_path="/scratch"),
    lambda t: kubernetes.use_field_path_as_env(t, env_name="NODE", field_path="spec.nodeName"),
    lambda t: kubernetes.set_image_pull_secrets(t, ["regcred"]),
    lambda t: kubernetes.set_image_pull_policy(t, "Always"),
    lambda t: kubernetes.add_node_affinity(
        t,
        match_expressions=[{"key": "zone", "operator": "In", "values": ["a", "b"]}],
        weight=10,
    ),
    lambda t: kubernetes.mount_pvc(t, pvc_name="data", mount_path="/data"),
    lambda t: kubernetes.add_ephemeral_volume(
        t, volume_name="eph", mount_path="/eph", access_modes=["ReadWriteOnce"], size="1Gi"
    ),
    lambda t: kubernetes.add_toleration_json(t, {"key": "j", "operator": "Exists"}),
    lambda t: kubernetes.add_node_selector_json(t, {"disk": "ssd"}),
]


@dsl.container_component
def echo(text: str) -> dsl.ContainerSpec:
    return dsl.ContainerSpec(image="alpine:3", command=["echo", text])


@pytest.fixture
def stock_kubernetes() -> Iterator[None]:
    kubernetes_batch.uninstall()
    try:
        yield
    finally:
        kubernetes_batch.install()


def _configure(settings: list[Setting], batched: bool) -> dict[str, Any]:
    with pipeline_context.Pipeline("p"):
        task = echo(text="hi")
        if batched:
            with kubernetes_batch.batched(task):
                for setting in settings:
                    setting(task)
        else:
            for setting in settings:
                setting(task)
    return task.platform_config


def test_installed_for_the_pinned_kfp_kubernetes():
    assert kubernetes_batch.applicable()
    assert kubernetes_batch.installed()


def test_a_batch_gives_the_config_of_one_round_trip_per_setting(request):
    batched = _configure(SETTINGS, batched=True)
    request.getfixturevalue("stock_kubernetes")
    stock = _configure(SETTINGS, batched=False)
    assert stock["kubernetes"]["podMetadata"]["labels"]["mlplat.io/team"] == "fraud-2"
    assert json.dumps(batched) == json.dumps(stock)


def test_a_batch_parses_the_config_once(monkeypatch):
    parsed: list[object] = []
    stock = kubernetes_batch._STOCK_EXISTING

    def counting(task: dsl.PipelineTask) -> Any:
        parsed.append(task)
        return stock(task)

    monkeypatch.setattr(kubernetes_batch, "_STOCK_EXISTING", counting)
    _configure(SETTINGS, batched=True)
    assert len(parsed) == 1
    parsed.clear()
    _configure(SETTINGS[:3], batched=False)  # outside a block: as installed
    assert len(parsed) == 3


def test_settings_of_another_task_in_the_block_are_not_deferred():
    with pipeline_context.Pipeline("p"):
        first, second = echo(text="a"), echo(text="b")
        with kubernetes_batch.batched(first):
            kubernetes.add_pod_label(first, "a", "1")
            kubernetes.add_pod_label(second, "b", "2")
            assert second.platform_config["kubernetes"] == {"podMetadata": {"labels": {"b": "2"}}}
        kubernetes.add_pod_label(first, "c", "3")  # after the block: builds on its result
    assert first.platform_config["kubernetes"] == {"podMetadata": {"labels": {"a": "1", "c": "3"}}}


def test_a_block_left_by_an_exception_still_writes_the_settings_made():
    with pipeline_context.Pipeline("p"):
        task = echo(text="a")
        with pytest.raises(RuntimeError), kubernetes_batch.batched(task):
            kubernetes.set_timeout(task, 60)
            raise RuntimeError("boom")
    assert task.platform_config["kubernetes"] == {"activeDeadlineSeconds": "60"}


def test_without_the_patch_a_block_changes_nothing(stock_kubernetes):
    assert not kubernetes_batch.installed()
    assert _configure(SETTINGS, batched=True) == _configure(SETTINGS, batched=False)
