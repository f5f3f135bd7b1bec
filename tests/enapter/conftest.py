"""Fixtures: a simulated Enapter API on 127.0.0.1 and an entry pointing at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from unittest.mock import patch

from aiohttp.test_utils import TestServer
from freezegun.api import FrozenDateTimeFactory
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.iot_bridge.const import DOMAIN
from custom_components.iot_bridge.enapter import EnapterVendor
from simulators.enapter import TOKEN, EnapterSimulator


@pytest.fixture
def sim() -> EnapterSimulator:
    """Two sites; the lab has a gateway, an electrolyser, a battery and a meter.

    Two devices per page, so every listing walks several pages. Its clock is Home
    Assistant's, so tests that move time age the simulated values too.
    """
    return EnapterSimulator(page_size=2, clock=lambda: dt_util.utcnow().timestamp())


@pytest.fixture
async def server(sim: EnapterSimulator) -> AsyncIterator[TestServer]:
    test_server = TestServer(sim.make_app(), host="127.0.0.1")
    await test_server.start_server()
    yield test_server
    await test_server.close()


@pytest.fixture
def cloud_url(server: TestServer) -> str:
    return str(server.make_url("")).rstrip("/")


@pytest.fixture
def lab_id(sim: EnapterSimulator) -> str:
    return next(iter(sim.sites))


@pytest.fixture
def gateway() -> bool:
    """Whether the entry talks to the gateway layout (parametrize to change)."""
    return False


@pytest.fixture
def entry(cloud_url: str, lab_id: str, gateway: bool) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="Hydrogen Lab",
        unique_id=lab_id,
        data={
            "vendor": "enapter",
            "url": f"{cloud_url}/api" if gateway else cloud_url,
            "api_token": TOKEN,
            "verify_ssl": True,
            "site_id": lab_id,
            "site_name": "Hydrogen Lab",
            "gateway": gateway,
        },
    )


@pytest.fixture
def platforms() -> tuple[Platform, ...]:
    """Every platform unless a test narrows it (snapshots take one at a time)."""
    return EnapterVendor.platforms


@pytest.fixture
async def setup_entry(
    hass: HomeAssistant, entry: MockConfigEntry, platforms: tuple[Platform, ...]
) -> AsyncIterator[Callable[[], Awaitable[MockConfigEntry]]]:
    """Add the entry and set it up, with only ``platforms`` loaded."""

    async def setup() -> MockConfigEntry:
        entry.add_to_hass(hass)
        await hass.config_entries.async_setup(entry.entry_id)
        await hass.async_block_till_done()
        return entry

    with patch.object(EnapterVendor, "platforms", platforms):
        yield setup
        if hass.config_entries.async_get_entry(entry.entry_id) and entry.state.recoverable:
            await hass.config_entries.async_unload(entry.entry_id)
            await hass.async_block_till_done()


async def advance(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    delta: timedelta = timedelta(seconds=30),
    *,
    reporting: EnapterSimulator | None = None,
) -> None:
    """Move time forward and let the coordinator poll.

    With ``reporting`` the simulated online devices re-send their current values
    meanwhile, so a long jump does not leave them stale.
    """
    freezer.tick(delta)
    if reporting is not None:
        now = int(dt_util.utcnow().timestamp())
        for device in reporting.devices.values():
            if device.online:
                device.telemetry = {
                    name: (None if stamp is None else now, value)
                    for name, (stamp, value) in device.telemetry.items()
                }
    async_fire_time_changed(hass)
    # Coordinator refreshes run as background tasks.
    await hass.async_block_till_done(wait_background_tasks=True)
