"""What the late-readings tests of every vendor share: settle, wait for the recorder, read rows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers.recorder import get_instance
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.iot_bridge.late_readings import SETTLE, LateReading


async def settle(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    """Let the collected late readings be written, and the recorder commit them."""
    await hass.async_block_till_done()
    due = dt_util.utcnow() + SETTLE + timedelta(seconds=1)
    freezer.tick(SETTLE + timedelta(seconds=1))
    # Frozen time has moved there; real time (a stream test) has not: fire ahead.
    async_fire_time_changed(hass, max(due, dt_util.utcnow()))
    await hass.async_block_till_done()
    await async_wait_recording_done(hass)


async def hourly_rows(
    hass: HomeAssistant, entity_id: str, since: datetime, kinds: set[Any]
) -> dict[datetime, dict[str, Any]]:
    """The entity's hourly statistics from ``since``, by hour start."""
    found = await get_instance(hass).async_add_executor_job(
        statistics_during_period, hass, since, None, {entity_id}, "hour", None, kinds
    )
    return {
        datetime.fromtimestamp(row["start"], UTC): {kind: row.get(kind) for kind in kinds}
        for row in found.get(entity_id, [])
    }


def expected_means(
    readings: list[LateReading], keep: Callable[[datetime], bool]
) -> dict[datetime, dict[str, float]]:
    """Mean, min and max per UTC hour of the readings whose hour ``keep`` accepts."""
    hours: dict[datetime, list[float]] = {}
    for reading in readings:
        hour = reading.when.replace(minute=0, second=0, microsecond=0)
        if keep(hour):
            hours.setdefault(hour, []).append(reading.value)
    return {
        hour: {"mean": sum(values) / len(values), "min": min(values), "max": max(values)}
        for hour, values in hours.items()
    }


def state_changes(hass: HomeAssistant, entity_id: str) -> list[Event[Any]]:
    """Every state change of one entity from now on (a list that fills as they happen)."""
    events: list[Event[Any]] = []

    @callback
    def record(event: Event[Any]) -> None:
        if event.data["entity_id"] == entity_id:
            events.append(event)

    hass.bus.async_listen(EVENT_STATE_CHANGED, record)
    return events
