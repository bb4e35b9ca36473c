"""Query parameters checked in one place, so a bad value is a 400 naming the parameter rather
than a database error: no NUL bytes (PostgreSQL text cannot hold them), integers within
PostgreSQL's bigint, numbers finite (``nan`` compares false with everything, so a filter on
it would silently pass or drop every row)."""

import math

from django.core.exceptions import BadRequest

BIGINT_MAX = 2**63 - 1


class ParameterInvalid(BadRequest):
    """A query parameter that cannot be used; ``field`` names it, the message says why. A
    BadRequest, so wherever it is raised Django answers 400 (problem+json on the API)."""

    def __init__(self, field, message):
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


def refuse_nul_bytes(query):
    """Refuse a query (a QueryDict) any of whose names or values holds a NUL byte."""
    for name, values in query.lists():
        if "\x00" in name or any("\x00" in value for value in values):
            raise ParameterInvalid(name.replace("\x00", "\\x00"), "contains a NUL byte (%00), which no value may hold")


def integer(params, name, *, minimum=None, maximum=BIGINT_MAX):
    """``params[name]`` as an int between ``minimum`` and ``maximum`` (default: bigint's top)."""
    value = parsed(params, name, int, "an integer")
    if (minimum is not None and value < minimum) or value > maximum:
        low = f"{minimum:,}" if minimum is not None else "-∞"
        raise ParameterInvalid(name, f"an integer from {low} to {maximum:,} is required, got {value:,}")
    return value


def number(params, name):
    """``params[name]`` as a finite float."""
    value = parsed(params, name, float, "a number")
    if not math.isfinite(value):
        raise ParameterInvalid(name, f"a finite number is required, got {params[name]!r}")
    return value


def parsed(params, name, parse, noun):
    """``parse(params[name])``, or ParameterInvalid saying ``noun`` is required."""
    try:
        return parse(params[name])
    except (ValueError, OverflowError):
        raise ParameterInvalid(name, f"{noun} is required, got {params[name]!r}") from None
