"""The reconnect pacing shared by the stream vendors."""

import math
from typing import Any

import pytest

from custom_components.iot_bridge.api.backoff import Backoff


def test_backoff_grows_to_cap_and_resets() -> None:
    backoff = Backoff(initial=1, maximum=8, jitter=False)
    assert [backoff.next_delay() for _ in range(6)] == [1, 2, 4, 8, 8, 8]
    backoff.reset()
    assert backoff.next_delay() == 1


def test_backoff_jitter_stays_within_half_to_full() -> None:
    backoff = Backoff(initial=4, maximum=4)
    for _ in range(50):
        assert 2 <= backoff.next_delay() <= 4


def test_backoff_honours_retry_after_floor_but_not_beyond_cap() -> None:
    backoff = Backoff(initial=1, maximum=60, jitter=False)
    assert backoff.next_delay(floor=30) == 30
    assert backoff.next_delay(floor=600) == 60


def test_backoff_survives_thousands_of_failures() -> None:
    """2.0 ** 1024 raises OverflowError: a days-long outage used to crash the reconnect loop."""
    backoff = Backoff(initial=1, maximum=300, jitter=False)
    delays = [backoff.next_delay() for _ in range(3000)]
    assert delays[-1] == 300
    assert all(math.isfinite(delay) for delay in delays)


@pytest.mark.parametrize("floor", [math.inf, 1e308, 1e20])
def test_backoff_floor_never_exceeds_the_cap(floor: float) -> None:
    assert Backoff(initial=1, maximum=300, jitter=False).next_delay(floor=floor) == 300


@pytest.mark.parametrize("floor", [math.nan, -1.0, -math.inf, 0.0])
def test_backoff_ignores_unusable_floors(floor: float) -> None:
    assert Backoff(initial=1, maximum=300, jitter=False).next_delay(floor=floor) == 1


@pytest.mark.parametrize(
    "settings",
    [
        {"initial": 0},
        {"initial": 10, "maximum": 5},
        {"maximum": math.inf},
        {"maximum": math.nan},
        {"factor": 0.5},
        {"factor": math.inf},
    ],
)
def test_backoff_refuses_settings_that_could_overflow(settings: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="Backoff needs"):
        Backoff(**settings)
