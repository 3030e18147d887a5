"""Feature view changes in the plan: classed, and destructive when they break a served model."""

from __future__ import annotations

from compiler.plan.diff import diff_plans
from compiler.plan.features import feature_changes
from compiler.plan.manifests import ValidationReport
from compiler.plan.report import Baseline, render_report
from tests.platform_iac.planning import ir_for

DROP_LIMIT = "~teams.chargeback.feature_views.card-profile.features.credit_limit"
LONGER_TTL = "teams.chargeback.feature_views.card-activity.ttl=14d"


def test_no_change_gives_no_feature_changes():
    assert feature_changes(ir_for("prod"), ir_for("prod")) == []


def test_a_ttl_change_is_safe():
    (change,) = feature_changes(ir_for("prod"), ir_for("prod", (LONGER_TTL,)))
    assert (change.label, change.kind, change.breaking) == (
        "chargeback/card-activity",
        "changed",
        False,
    )
    assert change.details == ("ttl 604800s → 1209600s",)


def test_removing_a_served_feature_breaks_the_endpoint():
    (change,) = feature_changes(ir_for("prod"), ir_for("prod", (DROP_LIMIT,)))
    assert change.label == "chargeback/card-profile" and change.breaking
    assert change.details == ("feature `credit_limit` removed",)
    assert change.endpoints == ("chargeback/chargeback-scorer",)


def test_a_new_view_is_an_addition(configs):
    changes = feature_changes(None, ir_for("prod"))
    assert [(c.label, c.kind, c.breaking) for c in changes] == [
        ("chargeback/card-activity", "added", False),
        ("chargeback/card-chargebacks", "added", False),
        ("chargeback/card-habits", "added", False),
        ("chargeback/card-profile", "added", False),
        ("chargeback/payment-vs-habit", "added", False),
    ]


def test_the_report_lists_them_and_counts_the_breaking_one_as_destructive(prod):
    head = ir_for("prod", (DROP_LIMIT, LONGER_TTL))
    report = render_report(
        prod,
        head,
        diff_plans(prod, prod),
        Baseline("`main` (abc1234)", prod, ir_for("prod")),
        ValidationReport("1.31", objects=0),
    )
    assert "### Feature views" in report
    assert (
        "| changed | `chargeback/card-profile` | feature `credit_limit` removed | "
        "**destructive**: breaks `chargeback/chargeback-scorer` (retrain and redeploy their "
        "models) |" in report
    )
    assert "| changed | `chargeback/card-activity` | ttl 604800s → 1209600s | safe |" in report
    assert "**1 destructive**" in report


def test_changes_json_lists_them_and_counts_the_breaking_one(prod):
    import json

    from compiler.plan.features import snapshot

    changes = [c.to_json() for c in feature_changes(ir_for("prod"), ir_for("prod", (DROP_LIMIT,)))]
    data = json.loads(diff_plans(prod, prod).to_json(None, changes))
    assert data["destructive"] == data["destructive_feature_views"] == 1
    assert data["feature_views"] == [
        {
            "team": "chargeback",
            "view": "card-profile",
            "kind": "changed",
            "details": ["feature `credit_limit` removed"],
            "destructive": True,
            "endpoints": ["chargeback/chargeback-scorer"],
        }
    ]
    # the deployed stack's snapshot (its JSON round trip) gives the same classes as the IR
    deployed = json.loads(json.dumps(snapshot(ir_for("prod"))))
    assert feature_changes(deployed, ir_for("prod", (DROP_LIMIT,))) == feature_changes(
        ir_for("prod"), ir_for("prod", (DROP_LIMIT,))
    )


def test_an_on_demand_feature_computed_another_way_breaks_the_endpoint():
    other = 'teams.chargeback.on_demand.card-habits.features.avg_amount_7d.expression="amount_sum_7d / (tx_count_7d + 2)"'
    (change,) = feature_changes(ir_for("prod"), ir_for("prod", (other,)))
    assert (change.label, change.kind, change.breaking) == (
        "chargeback/card-habits",
        "changed",
        True,
    )
    assert change.details == ("feature `avg_amount_7d` computed by another expression",)
    assert change.endpoints == ("chargeback/chargeback-scorer",)
