"""Tolerant readers for vendor JSON: a wrong type yields None, never an exception."""

from __future__ import annotations

from collections.abc import Mapping
import math
from typing import Any


def as_float(value: Any) -> float | None:
    """Return a finite float from a number or numeric string, else None."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, (int, float)):
            result = float(value)
        elif isinstance(value, str):
            result = float(value.strip())
        else:
            return None
    except (ValueError, OverflowError):  # OverflowError: an int beyond any float (10**400)
        return None
    return result if math.isfinite(result) else None


def as_int(value: Any) -> int | None:
    """Return an int from an integral number or string, else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def as_str(value: Any) -> str | None:
    """Return the value if it is a string, else None."""
    return value if isinstance(value, str) else None


def as_mapping(value: Any) -> Mapping[str, Any] | None:
    """Return the value if it is a JSON object, else None."""
    return value if isinstance(value, Mapping) else None


def as_list(value: Any) -> list[Any] | None:
    """Return the value if it is a JSON array, else None."""
    return value if isinstance(value, list) else None


def as_bool(value: Any) -> bool | None:
    """Return the value if it is a JSON boolean, else None (no truthiness guessing)."""
    return value if isinstance(value, bool) else None
