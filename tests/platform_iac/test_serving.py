"""Serving under mocks: an InferenceService per endpoint, or Deployment + Service + HPA for a
custom image; placed on its pool, restricted, under the team's service account."""

from __future__ import annotations

import pytest

from compiler.ir import NODE_POOL_LABEL
from tests.platform_iac.planning import CUSTOM_IMAGE, of_type, one

ISVC = "kubernetes:serving.kserve.io/v1beta1:InferenceService"
RESTRICTED_CONTAINER = {
    "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]},
    "runAsNonRoot": True,
    "seccompProfile": {"type": "RuntimeDefault"},
}


@pytest.fixture(scope="module")
def ranker(prod):
    return one(prod, ISVC, "team-recsys/ranker").inputs


def test_one_inference_service_per_endpoint(prod):
    assert sorted(r.name for r in of_type(prod, ISVC)) == [
        "team-chargeback/chargeback-scorer",
        "team-forecast/demand-forecast",
        "team-fraud/fraud-scorer",
        "team-recsys/ranker",
        "team-search/search-ranker",
    ]


def test_runtime_replicas_autoscaling_and_canary_come_from_the_spec(ranker):
    predictor = ranker["spec"]["predictor"]
    assert predictor["model"]["runtime"] == "kserve-tritonserver"
    assert predictor["model"]["modelFormat"] == {"name": "pytorch"}
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (2, 4)
    assert (predictor["scaleMetric"], predictor["scaleTarget"]) == ("rps", 200)
    assert predictor["canaryTrafficPercent"] == 10
    assert predictor["model"]["storageUri"] == "s3://acme-prod-models/recsys/recsys-ranker/2/"
    assert ranker["metadata"]["annotations"]["mlplat.io/stable-version"] == "1"


def test_gpu_endpoint_is_placed_on_its_pool_and_requests_its_gpu(ranker):
    predictor = ranker["spec"]["predictor"]
    assert predictor["nodeSelector"] == {NODE_POOL_LABEL: "gpu-t4"}
    assert predictor["tolerations"] == [
        {"key": "nvidia.com/gpu", "effect": "NoSchedule", "operator": "Equal", "value": "present"}
    ]
    resources = predictor["model"]["resources"]
    assert resources["limits"]["nvidia.com/gpu"] == resources["requests"]["nvidia.com/gpu"] == "1"
    assert resources["requests"]["cpu"] == "2" and resources["requests"]["memory"] == "8Gi"


@pytest.mark.parametrize(
    "name", ["team-fraud/fraud-scorer", "team-recsys/ranker", "team-search/search-ranker"]
)
def test_every_predictor_is_restricted_and_probed_under_the_team_account(prod, name):
    predictor = one(prod, ISVC, name).inputs["spec"]["predictor"]
    team = name.split("/")[0].removeprefix("team-")
    assert predictor["serviceAccountName"] == f"{team}-workload"
    assert predictor["securityContext"]["runAsNonRoot"] is True
    assert predictor["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert predictor["model"]["securityContext"] == RESTRICTED_CONTAINER
    assert predictor["model"]["readinessProbe"]["httpGet"]["port"] == 8080
    assert predictor["model"]["livenessProbe"]["httpGet"]["path"]


def test_cpu_endpoint_tolerates_nothing(prod):
    predictor = one(prod, ISVC, "team-fraud/fraud-scorer").inputs["spec"]["predictor"]
    assert predictor["nodeSelector"] == {NODE_POOL_LABEL: "cpu-general"}
    assert "tolerations" not in predictor
    assert "canaryTrafficPercent" not in predictor


def test_custom_image_gets_deployment_service_autoscaler_and_budget(variant):
    assert "team-fraud/fraud-scorer" not in {r.name for r in of_type(variant, ISVC)}
    deployment = one(variant, "kubernetes:apps/v1:Deployment", "team-fraud/fraud-scorer").inputs
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == CUSTOM_IMAGE
    assert container["securityContext"] == RESTRICTED_CONTAINER
    assert pod["serviceAccountName"] == "fraud-workload"
    assert pod["automountServiceAccountToken"] is False
    assert pod["nodeSelector"] == {NODE_POOL_LABEL: "cpu-general"}
    assert container["readinessProbe"]["tcpSocket"] == {"port": "http"}
    labels = deployment["spec"]["selector"]["matchLabels"]
    assert deployment["spec"]["template"]["metadata"]["labels"].items() >= labels.items()
    service = one(variant, "kubernetes:core/v1:Service", "team-fraud/fraud-scorer").inputs["spec"]
    assert service["selector"] == labels and service["type"] == "ClusterIP"
    hpa = one(
        variant, "kubernetes:autoscaling/v2:HorizontalPodAutoscaler", "team-fraud/fraud-scorer"
    ).inputs["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 3)
    assert hpa["metrics"] == [
        {
            "type": "Resource",
            "resource": {
                "name": "cpu",
                "target": {"type": "Utilization", "averageUtilization": 20},
            },
        }
    ]
    budget = one(
        variant, "kubernetes:policy/v1:PodDisruptionBudget", "team-fraud/fraud-scorer"
    ).inputs
    assert budget["spec"] == {"minAvailable": 1, "selector": {"matchLabels": labels}}


def test_an_endpoint_with_a_feature_service_gets_the_feature_transformer(prod):
    from compiler.features.transformer import FeatureLookup

    spec = one(prod, ISVC, "team-chargeback/chargeback-scorer").inputs["spec"]
    transformer = spec["transformer"]
    assert transformer["serviceAccountName"] == spec["predictor"]["serviceAccountName"]
    assert transformer["securityContext"]["runAsNonRoot"] is True
    (container,) = transformer["containers"]
    assert container["image"] == "ghcr.io/mlplat/feature-transformer:0.1.0"
    assert container["securityContext"] == RESTRICTED_CONTAINER
    assert container["resources"]["limits"] == {"cpu": "500m", "memory": "512Mi"}
    lookup, _ = FeatureLookup.parse(container["args"])
    assert lookup == FeatureLookup(
        "http://feature-server.team-chargeback.svc.cluster.local",
        "chargeback__chargeback_v1",
        (
            "card_age_days",
            "credit_limit",
            "tx_count_7d",
            "amount_sum_7d",
            "chargeback_rate_90d",
            "avg_amount_7d",
        ),
        {
            "card_age_days": "int64",
            "credit_limit": "float64",
            "tx_count_7d": "int64",
            "amount_sum_7d": "float64",
            "chargeback_rate_90d": "float64",
            "avg_amount_7d": "float64",
        },
        ("card_id",),
    )
    others = [r for r in of_type(prod, ISVC) if r.name != "team-chargeback/chargeback-scorer"]
    assert all("transformer" not in r.inputs["spec"] for r in others)


def test_serving_pods_that_read_features_may_reach_the_feature_server_only(prod):
    policy = one(
        prod,
        "kubernetes:networking.k8s.io/v1:NetworkPolicy",
        "team-chargeback/allow-feature-transformer-egress",
    ).inputs["spec"]
    server, gateway = policy["egress"]
    assert server == {
        "to": [
            {
                "podSelector": {
                    "matchLabels": {
                        "mlplat.io/team": "chargeback",
                        "app.kubernetes.io/component": "feature-server",
                    }
                }
            }
        ],
        "ports": [{"protocol": "TCP", "port": 6566}],
    }
    assert [p["port"] for p in gateway["ports"]] == [80, 8081]
    names = {r.name for r in of_type(prod, "kubernetes:networking.k8s.io/v1:NetworkPolicy")}
    assert "team-fraud/allow-feature-transformer-egress" not in names  # no feature endpoints
