"""The backend's small pure pieces, table-driven."""

from __future__ import annotations

import pytest

from compiler.kfp_backend import kfp_cron, spec_types
from compiler.kfp_backend.task_config import _secret_env_batches
from compiler.kfp_backend.team_code import outside_names
from schemas.pipeline import SecretRef


@pytest.mark.parametrize(
    ("cron", "expected"),
    [
        pytest.param("0 3 * * *", "0 0 3 * * *", id="daily"),
        pytest.param("*/15 * * * *", "0 */15 * * * *", id="step"),
        pytest.param("30 2 * * 1", "0 30 2 * * 1", id="monday"),
        pytest.param("0 6 * * 7", "0 0 6 * * 0", id="sunday-as-7"),
        pytest.param("0 6 * * 1,7", "0 0 6 * * 1,0", id="sunday-in-list"),
        pytest.param("0 6 * * 5-7", "0 0 6 * * 5-6,0", id="range-to-sunday"),
        pytest.param("0 6 1 JAN MON-FRI", "0 0 6 1 JAN MON-FRI", id="names"),
    ],
)
def test_cron_becomes_kubeflows_six_fields(cron, expected):
    assert kfp_cron(cron) == expected


@pytest.mark.parametrize(
    ("given", "expected", "fits"),
    [
        ("int", "int", True),
        ("int", "float", False),
        ("float", "int", False),
        ("str", "Dataset", False),
        ("Dataset", "float", False),
        ("Dataset", "Dataset", True),
        ("Dataset", "Model", False),
        ("Model", "Artifact", True),
        ("Artifact", "Metrics", True),
    ],
)
def test_type_compatibility_mirrors_kfp(given, expected, fits):
    assert spec_types.compatible(given, expected) is fits


def test_an_int_constant_may_feed_a_float_argument():
    assert spec_types.constant_fits("int", "float")
    assert spec_types.constant_for(3, "int", "float") == 3.0
    assert isinstance(spec_types.constant_for(3, "int", "float"), float)
    assert not spec_types.constant_fits("float", "int")


def test_secret_env_vars_are_grouped_by_unique_secret_key():
    ref = SecretRef(secret="db", env={"B_USER": "user", "A_PASS": "pass", "C_PASS": "pass"})
    assert _secret_env_batches(ref) == [
        {"pass": "A_PASS", "user": "B_USER"},
        {"pass": "C_PASS"},
    ]


LIMIT = 3


def _self_contained(n: int) -> list[int]:
    import math

    return [math.floor(x) for x in range(n) if isinstance(x, int)]


def _leaky(n: int) -> int:
    return LIMIT + len(pytest.__name__) + n


def _leaky_in_comprehension(n: int) -> list[int]:
    return [LIMIT for _ in range(n)]


@pytest.mark.parametrize(
    ("func", "names"),
    [
        (_self_contained, []),
        (_leaky, ["LIMIT", "pytest"]),
        (_leaky_in_comprehension, ["LIMIT"]),
    ],
)
def test_names_from_outside_the_function_are_found(func, names):
    assert outside_names(func) == names
