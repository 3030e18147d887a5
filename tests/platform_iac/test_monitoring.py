"""Monitoring in the cluster: payload logger, payload sink, drift job, alert rules."""

from __future__ import annotations

from tests.platform_iac.planning import of_type, one, plan_for, statements

K8S = "kubernetes:"


def test_the_monitored_endpoint_logs_every_payload_to_its_team_sink(prod):
    isvc = one(prod, f"{K8S}serving.kserve.io/v1beta1:InferenceService", "team-fraud/fraud-scorer")
    assert isvc.inputs["spec"]["predictor"]["logger"] == {
        "mode": "all",
        "url": "http://payload-sink.team-fraud.svc.cluster.local/fraud-scorer",
    }
    other = one(
        prod, f"{K8S}serving.kserve.io/v1beta1:InferenceService", "team-search/search-ranker"
    )
    assert "logger" not in other.inputs["spec"]["predictor"]


def test_the_sink_may_only_append_under_the_team_payload_prefix(prod):
    (statement,) = statements(
        one(prod, "aws:iam/rolePolicy:RolePolicy", "fraud-payload-sink").inputs["policy"]
    )
    assert statement["Action"] == "s3:PutObject"
    assert statement["Resource"] == "arn:aws:s3:::acme-prod-logs/fraud/payloads/*"


def test_the_drift_job_reads_only_its_endpoint_payloads_and_the_pipeline_root(prod):
    found = statements(
        one(prod, "aws:iam/rolePolicy:RolePolicy", "fraud-drift-fraud-scorer").inputs["policy"]
    )
    by_sid = {s["Sid"]: s for s in found}
    assert by_sid["ListPayloads"]["Condition"]["StringLike"]["s3:prefix"] == [
        "fraud/payloads/fraud-scorer/",
        "fraud/payloads/fraud-scorer/*",
    ]
    assert (
        by_sid["ReadPayloads"]["Resource"]
        == "arn:aws:s3:::acme-prod-logs/fraud/payloads/fraud-scorer/*"
    )
    assert (
        by_sid["ReadReference"]["Resource"]
        == "arn:aws:s3:::acme-prod-artifacts/fraud/pipeline-root/*"
    )
    assert {a for s in found for a in [s["Action"]]} == {
        "s3:ListBucket",
        "s3:GetObject",
        "kms:Decrypt",
    }


def test_the_drift_job_runs_on_schedule_restricted_with_its_own_identity(prod):
    cron = one(prod, f"{K8S}batch/v1:CronJob", "team-fraud/drift-fraud-scorer").inputs
    assert cron["spec"]["schedule"] == "0 * * * *" and cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["serviceAccountName"] == "fraud-drift-fraud-scorer"
    assert pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True
    (container,) = pod["containers"]
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert container["image"].startswith("ghcr.io/acme/mlplat-monitor:0.1.0@sha256:")
    tokens = [v for v in pod["volumes"] if "projected" in v]
    assert (
        tokens[0]["projected"]["sources"][0]["serviceAccountToken"]["audience"]
        == "pipelines.kubeflow.org"
    )
    role = one(
        prod, f"{K8S}rbac.authorization.k8s.io/v1:Role", "team-fraud/drift-fraud-scorer"
    ).inputs
    assert role["rules"] == [
        {"apiGroups": ["pipelines.kubeflow.org"], "resources": ["runs"], "verbs": ["create", "get"]}
    ]
    account = one(
        prod, f"{K8S}core/v1:ServiceAccount", "team-fraud/fraud-drift-fraud-scorer"
    ).inputs
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(
        ":role/acme-prod-fraud-drift-fraud-scorer"
    )


def test_alerts_on_drift_and_on_the_latency_objective(prod):
    rule = one(
        prod, f"{K8S}monitoring.coreos.com/v1:PrometheusRule", "team-fraud/drift-fraud-scorer"
    ).inputs
    alerts = {r["alert"]: r for r in rule["spec"]["groups"][0]["rules"]}
    assert alerts["MlplatInputDrift"]["expr"] == (
        'mlplat_drift_share{namespace="team-fraud",endpoint="fraud-scorer"} > 0.0'
    )
    assert "histogram_quantile(0.99" in alerts["MlplatLatencyObjective"]["expr"]
    assert alerts["MlplatLatencyObjective"]["expr"].endswith("> 50")
    monitor = one(
        prod, f"{K8S}monitoring.coreos.com/v1:ServiceMonitor", "team-fraud/payload-sink"
    ).inputs
    assert monitor["spec"]["endpoints"][0]["path"] == "/metrics"


def test_alert_only_monitoring_gets_no_run_permission():
    plan = plan_for("prod", ("teams.fraud.endpoints.fraud-scorer.monitoring.on_drift=alert",))
    names = {r.name for r in of_type(plan, f"{K8S}rbac.authorization.k8s.io/v1:Role")}
    assert "team-fraud/drift-fraud-scorer" not in names
    assert "team-fraud/drift-fraud-scorer" in {
        r.name for r in of_type(plan, f"{K8S}batch/v1:CronJob")
    }
