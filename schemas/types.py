"""Shared field types of the spec language: names, Kubernetes quantities, durations, cron.

Every custom check raises ``PydanticCustomError`` with a type that the compiler maps to a
stable diagnostic code (see ``compiler/diagnostics.py``), so the type names here are part
of the user interface.
"""

from __future__ import annotations

import functools
import keyword
import re
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    PlainSerializer,
    WithJsonSchema,
)
from pydantic_core import PydanticCustomError


class SpecModel(BaseModel):
    """Base of every spec object: unknown keys are errors and parsed specs are immutable."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        populate_by_name=False,
        validate_default=False,
        str_strip_whitespace=False,
        use_attribute_docstrings=True,
    )


# --- names -------------------------------------------------------------------------------

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
_ENV_VAR = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]*[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$")
_DNS_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$")


def _dns_label(value: Any) -> Any:
    if not isinstance(value, str):
        return value  # let the str type report the wrong type
    if len(value) > 63 or not _DNS_LABEL.match(value):
        suggestion = re.sub(r"[^a-z0-9-]+", "-", value.lower()).strip("-")[:63] or "name"
        raise PydanticCustomError(
            "dns_label",
            "'{value}' is not a valid name: use lower-case letters, digits and '-', "
            "start and end with a letter or digit, at most 63 characters",
            {"value": value, "hint": f"try '{suggestion}'"},
        )
    return value


def _identifier(value: Any) -> Any:
    if isinstance(value, str) and keyword.iskeyword(value):
        raise PydanticCustomError(
            "identifier",
            "'{value}' is a Python keyword; parameter, input and output names become Python "
            "argument names",
            {"value": value, "hint": f"try '{value}_'"},
        )
    if isinstance(value, str) and not _IDENT.match(value):
        suggestion = re.sub(r"[^a-z0-9_]+", "_", value.lower()).strip("_") or "name"
        raise PydanticCustomError(
            "identifier",
            "'{value}' is not a valid identifier: use lower-case letters, digits and '_' "
            "(it becomes a Python argument name)",
            {"value": value, "hint": f"try '{suggestion}'"},
        )
    return value


def _env_var(value: Any) -> Any:
    if isinstance(value, str) and not _ENV_VAR.match(value):
        raise PydanticCustomError(
            "env_var_name",
            "'{value}' is not a valid environment variable name (upper-case letters, digits, '_')",
            {"value": value, "hint": f"try '{re.sub(r'[^A-Z0-9_]+', '_', value.upper())}'"},
        )
    return value


def _label_key(value: Any) -> Any:
    if isinstance(value, str) and (len(value) > 316 or not _LABEL_KEY.match(value)):
        raise PydanticCustomError(
            "label", "'{value}' is not a valid Kubernetes label key", {"value": value}
        )
    return value


def _label_value(value: Any) -> Any:
    if isinstance(value, bool | int | float):
        value = str(value).lower() if isinstance(value, bool) else str(value)
    if isinstance(value, str) and (len(value) > 63 or not _LABEL_VALUE.match(value)):
        raise PydanticCustomError(
            "label", "'{value}' is not a valid Kubernetes label value", {"value": value}
        )
    return value


def _dns_subdomain(value: Any) -> Any:
    if isinstance(value, str) and (len(value) > 253 or not _DNS_SUBDOMAIN.match(value)):
        raise PydanticCustomError(
            "dns_label",
            "'{value}' is not a valid Kubernetes object name (lower-case letters, digits, '-', '.')",
            {"value": value},
        )
    return value


Name = Annotated[str, BeforeValidator(_dns_label)]
"""A DNS-1123 label: the names of teams, node pools, buckets, pipelines, steps, models..."""
Identifier = Annotated[str, BeforeValidator(_identifier)]
"""A parameter, input or output name: it becomes a Python argument name in components."""
EnvVarName = Annotated[str, BeforeValidator(_env_var)]
LabelKey = Annotated[str, BeforeValidator(_label_key)]
LabelValue = Annotated[str, BeforeValidator(_label_value)]
K8sObjectName = Annotated[str, BeforeValidator(_dns_subdomain)]


# --- Kubernetes quantities -----------------------------------------------------------------

_QUANTITY = re.compile(r"^([+]?[0-9]+(?:\.[0-9]*)?|[+]?\.[0-9]+)([eE][-+]?[0-9]+|[a-zA-Z]{0,2})$")
_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}


def parse_quantity(text: str) -> Decimal:
    """Parse a Kubernetes quantity (``500m``, ``16Gi``, ``1.5``, ``2e3``) into a Decimal.

    Written here rather than imported from ``kubernetes.utils`` because that import pulls in
    the whole Kubernetes client (~0.3 s) on the path of ``mlplat validate``; the tests check
    this parser against ``kubernetes.utils.parse_quantity``.
    """
    match = _QUANTITY.match(text.strip())
    if not match:
        raise ValueError(text)
    number, suffix = match.groups()
    try:
        value = Decimal(number)
    except InvalidOperation as exc:  # pragma: no cover - the regex admits only numbers
        raise ValueError(text) from exc
    if suffix in _BINARY:
        return value * _BINARY[suffix]
    if suffix in _DECIMAL:
        return value * _DECIMAL[suffix]
    if suffix[:1] in "eE" and len(suffix) > 1:
        return value * (Decimal(10) ** int(suffix[1:]))
    raise ValueError(text)


def _quantity_error(value: Any, what: str, example: str) -> PydanticCustomError:
    return PydanticCustomError(
        "quantity",
        "'{value}' is not a valid " + what + " quantity",
        {"value": value, "hint": f"use a Kubernetes quantity such as {example}"},
    )


def _cpu(value: Any) -> int:
    """CPU as integer millicores (``"500m"`` → 500, ``2`` → 2000)."""
    if isinstance(value, bool):
        raise _quantity_error(value, "CPU", "'500m' or '2'")
    if isinstance(value, int | float):
        value = str(value)
    if not isinstance(value, str):
        raise _quantity_error(value, "CPU", "'500m' or '2'")
    try:
        cores = parse_quantity(value)
    except ValueError:
        raise _quantity_error(value, "CPU", "'500m' or '2'") from None
    millis = cores * 1000
    if millis <= 0 or millis != millis.to_integral_value():
        raise PydanticCustomError(
            "quantity",
            "'{value}' is not a valid CPU quantity: it must be positive, in steps of 1m",
            {"value": value, "hint": "use millicores such as '250m' or whole cores such as '2'"},
        )
    return int(millis)


def _memory(value: Any) -> int:
    """Memory as integer bytes (``"16Gi"`` → 17179869184)."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise _quantity_error(value, "memory", "'512Mi' or '16Gi'")
    try:
        amount = parse_quantity(str(value))
    except ValueError:
        raise _quantity_error(value, "memory", "'512Mi' or '16Gi'") from None
    if amount <= 0 or amount != amount.to_integral_value():
        raise PydanticCustomError(
            "quantity",
            "'{value}' is not a valid memory quantity: it must be a positive whole number of bytes",
            {"value": value, "hint": "use binary units such as '512Mi' or '16Gi'"},
        )
    return int(amount)


def format_cpu(millis: int) -> str:
    """Canonical text of a CPU amount: whole cores as ``"2"``, otherwise ``"500m"``."""
    return str(millis // 1000) if millis % 1000 == 0 else f"{millis}m"


def format_memory(size: int) -> str:
    """Canonical text of a memory amount in the largest exact binary unit."""
    for suffix in ("Ei", "Pi", "Ti", "Gi", "Mi", "Ki"):
        unit = _BINARY[suffix]
        if size % unit == 0:
            return f"{size // unit}{suffix}"
    return str(size)


CPU = Annotated[
    int,
    BeforeValidator(_cpu),
    PlainSerializer(format_cpu, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^[0-9]+(\.[0-9]+)?m?$"},
                {"type": "number", "exclusiveMinimum": 0},
            ],
            "description": "CPU as a Kubernetes quantity: '500m', '2'",
        }
    ),
]
"""CPU in millicores; written in YAML as a Kubernetes quantity."""

Memory = Annotated[
    int,
    BeforeValidator(_memory),
    PlainSerializer(format_memory, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": r"^[0-9]+(\.[0-9]+)?([KMGTPE]i?|[kmun])?$",
            "description": "Memory as a Kubernetes quantity: '512Mi', '16Gi'",
        }
    ),
]
"""Memory in bytes; written in YAML as a Kubernetes quantity."""


# --- durations -------------------------------------------------------------------------------

_DURATION = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def _duration(value: Any) -> int:
    """A duration as whole seconds: ``90``, ``"30s"``, ``"15m"``, ``"2h30m"``, ``"1d"``."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    if isinstance(value, str) and value and (match := _DURATION.match(value.strip())):
        days, hours, minutes, seconds = (int(g) if g else 0 for g in match.groups())
        if any(match.groups()):
            return ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    raise PydanticCustomError(
        "duration",
        "'{value}' is not a valid duration",
        {"value": value, "hint": "use seconds (90) or units such as '30s', '15m', '2h30m', '1d'"},
    )


@functools.lru_cache(maxsize=4096)
def format_duration(seconds: int) -> str:
    """`5400` → `"1h30m"`. Cached: the same few timeouts are serialised for every step."""
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if seconds >= size or (unit == "s" and not parts):
            count, seconds = divmod(seconds, size)
            if count or unit == "s":
                parts.append(f"{count}{unit}")
    return "".join(parts)


Duration = Annotated[
    int,
    BeforeValidator(_duration),
    PlainSerializer(format_duration, return_type=str, when_used="json"),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "integer", "minimum": 0},
                {"type": "string", "pattern": r"^(\d+d)?(\d+h)?(\d+m)?(\d+s)?$"},
            ],
            "description": "Duration: seconds, or '30s', '15m', '2h30m', '1d'",
        }
    ),
]


# --- cron ------------------------------------------------------------------------------------


def _cron(value: Any) -> Any:
    """Standard five-field cron (minute hour day-of-month month day-of-week)."""
    if not isinstance(value, str):
        return value
    fields = value.split()
    if len(fields) != 5:
        raise PydanticCustomError(
            "cron",
            "'{value}' is not a valid cron expression: expected 5 fields "
            "(minute hour day-of-month month day-of-week), got {count}",
            {"value": value, "count": len(fields), "hint": "for example '0 3 * * *' (03:00 daily)"},
        )
    from croniter import croniter  # imported here: only specs with schedules pay for it

    if not croniter.is_valid(value):
        raise PydanticCustomError(
            "cron",
            "'{value}' is not a valid cron expression",
            {"value": value, "hint": "for example '0 3 * * *' (03:00 daily) or '*/15 * * * *'"},
        )
    return value


Cron = Annotated[str, BeforeValidator(_cron)]
