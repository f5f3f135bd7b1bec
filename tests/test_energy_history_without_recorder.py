"""Without the recorder an entry still works; its energy history simply does not run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_bridge.const import DOMAIN
from custom_components.iot_bridge.energy_history import EnergyHistory, EnergySeries, HourlyEnergy


class _Source:
    chunk = timedelta(days=1)

    def __init__(self) -> None:
        self.reads = 0

    def series(self) -> list[EnergySeries]:
        return [EnergySeries("grid", "Grid")]

    async def async_read(self, start: datetime, end: datetime) -> HourlyEnergy:
        self.reads += 1
        return {"grid": {start.astimezone(UTC): 1.0}}


async def test_without_the_recorder_nothing_runs(hass: HomeAssistant) -> None:
    entry = MockConfigEntry(domain=DOMAIN, title="Meter", data={})
    entry.add_to_hass(hass)
    source = _Source()
    history = EnergyHistory(hass, entry, source, 1)
    await history.async_start()
    await hass.async_block_till_done(wait_background_tasks=True)
    assert source.reads == 0
    assert history.diagnostics()["running"] is False
