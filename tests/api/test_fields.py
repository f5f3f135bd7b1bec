"""The tolerant JSON field readers."""

from __future__ import annotations

import math
from typing import Any

import pytest

from custom_components.iot_bridge.api.fields import (
    as_bool,
    as_float,
    as_int,
    as_list,
    as_mapping,
    as_str,
)


@pytest.mark.parametrize(
    ("raw", "expected"), [(True, True), (False, False), (1, None), ("true", None), (None, None)]
)
def test_as_bool_takes_only_json_booleans(raw: Any, expected: bool | None) -> None:
    assert as_bool(raw) is expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1, 1.0),
        (" 2.5 ", 2.5),
        (True, None),
        (math.inf, None),
        (math.nan, None),
        ("1e400", None),
        pytest.param(10**400, None, id="10**400"),  # used to raise OverflowError
        ("x", None),
        ([1], None),
    ],
)
def test_as_float(raw: Any, expected: float | None) -> None:
    assert as_float(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [(3, 3), ("4", 4), (5.0, 5), (5.5, None), (math.inf, None), ("9" * 5000, None), (False, None)],
    ids=["3", "text", "5.0", "5.5", "inf", "5000 nines", "False"],
)
def test_as_int(raw: Any, expected: int | None) -> None:
    assert as_int(raw) == expected


def test_container_and_text_readers() -> None:
    assert as_str("a") == "a"
    assert as_str(1) is None
    assert as_mapping({"a": 1}) == {"a": 1}
    assert as_mapping([1]) is None
    assert as_list([1]) == [1]
    assert as_list((1,)) is None
