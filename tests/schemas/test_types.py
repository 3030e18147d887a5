"""Field types of the spec language: quantities, durations, cron, names."""

from __future__ import annotations

from decimal import Decimal

import pytest
from kubernetes.utils import parse_quantity as k8s_parse_quantity
from pydantic import TypeAdapter, ValidationError

from schemas.types import (
    CPU,
    Cron,
    Duration,
    Memory,
    Name,
    format_cpu,
    format_duration,
    format_memory,
    parse_quantity,
)

QUANTITIES = [
    "500m",
    "2",
    "1.5",
    "0.25",
    "16Gi",
    "512Mi",
    "1Ki",
    "1k",
    "3M",
    "2G",
    "1e3",
    "1E2",
    "100n",
    "7u",
    "1Ti",
    "1.5Gi",
    ".5",
]


@pytest.mark.parametrize("text", QUANTITIES)
def test_quantity_parser_agrees_with_the_kubernetes_client(text):
    assert parse_quantity(text) == Decimal(k8s_parse_quantity(text))


@pytest.mark.parametrize("text", ["", "abc", "1.2.3", "GB", "1Gb", "--1", "1ii"])
def test_quantity_parser_rejects_what_kubernetes_rejects(text):
    with pytest.raises(ValueError):
        parse_quantity(text)
    with pytest.raises(ValueError):
        k8s_parse_quantity(text)


@pytest.mark.parametrize(
    ("given", "millis", "canonical"),
    [
        ("500m", 500, "500m"),
        ("2", 2000, "2"),
        (2, 2000, "2"),
        (0.5, 500, "500m"),
        ("1.5", 1500, "1500m"),
    ],
)
def test_cpu_is_millicores_and_dumps_canonically(given, millis, canonical):
    adapter = TypeAdapter(CPU)
    assert adapter.validate_python(given) == millis
    assert adapter.dump_python(millis, mode="json") == canonical
    assert format_cpu(millis) == canonical


@pytest.mark.parametrize("bad", ["0", "-1", "0.0001", "1 core", True, [1]])
def test_cpu_rejects_nonsense(bad):
    with pytest.raises(ValidationError) as info:
        TypeAdapter(CPU).validate_python(bad)
    assert info.value.errors()[0]["type"] == "quantity"


@pytest.mark.parametrize(
    ("given", "size", "canonical"),
    [
        ("16Gi", 16 * 2**30, "16Gi"),
        ("1024Mi", 2**30, "1Gi"),
        ("1G", 10**9, "1000000000"),
        (4096, 4096, "4Ki"),
    ],
)
def test_memory_is_bytes(given, size, canonical):
    assert TypeAdapter(Memory).validate_python(given) == size
    assert format_memory(size) == canonical


@pytest.mark.parametrize("bad", ["96GB", "1.5", "0Gi", "500m"])
def test_memory_rejects_non_byte_amounts(bad):
    with pytest.raises(ValidationError):
        TypeAdapter(Memory).validate_python(bad)


@pytest.mark.parametrize(
    ("given", "seconds"),
    [(90, 90), ("30s", 30), ("15m", 900), ("2h30m", 9000), ("1d", 86400), ("1h1s", 3601)],
)
def test_durations(given, seconds):
    assert TypeAdapter(Duration).validate_python(given) == seconds
    assert TypeAdapter(Duration).validate_python(format_duration(seconds)) == seconds


@pytest.mark.parametrize("bad", ["", "1 hour", "h", "-5", -5, "1.5h", True])
def test_bad_durations(bad):
    with pytest.raises(ValidationError) as info:
        TypeAdapter(Duration).validate_python(bad)
    assert info.value.errors()[0]["type"] == "duration"


@pytest.mark.parametrize(
    "good", ["0 3 * * *", "*/15 * * * *", "30 2 * * 1", "0 0 1 1 *", "0 9-17 * * mon-fri"]
)
def test_valid_cron(good):
    assert TypeAdapter(Cron).validate_python(good) == good


@pytest.mark.parametrize("bad", ["0 3 * *", "0 25 * * *", "61 * * * *", "* * * * * *", "daily"])
def test_invalid_cron(bad):
    with pytest.raises(ValidationError) as info:
        TypeAdapter(Cron).validate_python(bad)
    assert info.value.errors()[0]["type"] == "cron"


@pytest.mark.parametrize("good", ["a", "fraud", "gpu-a10g", "x1", "a" * 63])
def test_valid_names(good):
    assert TypeAdapter(Name).validate_python(good) == good


@pytest.mark.parametrize(
    ("bad", "suggestion"),
    [("Fraud", "fraud"), ("gpu_a10g", "gpu-a10g"), ("-x", "x"), ("x-", "x"), ("a" * 64, "a" * 63)],
)
def test_invalid_names_suggest_a_fix(bad, suggestion):
    with pytest.raises(ValidationError) as info:
        TypeAdapter(Name).validate_python(bad)
    error = info.value.errors()[0]
    assert error["type"] == "dns_label"
    assert error["ctx"]["hint"] == f"try '{suggestion}'"
