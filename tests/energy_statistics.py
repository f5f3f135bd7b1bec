"""What the energy history tests share: wait for fills and the recorder, read the sums back."""

from __future__ import annotations

from datetime import UTC, datetime

from homeassistant.components.recorder.statistics import statistics_during_period
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import get_instance
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.iot_bridge.energy_history import statistic_id


async def settle(hass: HomeAssistant) -> None:
    """Let running fills finish and the recorder commit what they wrote."""
    await hass.async_block_till_done(wait_background_tasks=True)
    await async_wait_recording_done(hass)


async def recorded_sums(hass: HomeAssistant, key: str, since: datetime) -> dict[datetime, float]:
    """The hourly sums recorded for a series key from ``since``, by hour start."""
    sid = statistic_id(key)
    found = await get_instance(hass).async_add_executor_job(
        statistics_during_period, hass, since, None, {sid}, "hour", None, {"sum"}
    )
    return {datetime.fromtimestamp(row["start"], UTC): row["sum"] for row in found.get(sid, [])}
