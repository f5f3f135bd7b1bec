"""A simulated eGauge meter on 127.0.0.1 and an entry pointing at it."""

from __future__ import annotations

from collections.abc import AsyncGenerator

from aiohttp.test_utils import TestServer
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_bridge.const import DOMAIN
from simulators.egauge import EgaugeSimulator

START = 1_700_000_000.0


class Clock:
    """The meter's clock, moved by hand so counters are exact."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def simulator(clock: Clock) -> EgaugeSimulator:
    return EgaugeSimulator(clock=clock)


async def serve(simulator: EgaugeSimulator) -> TestServer:
    server = TestServer(simulator.make_app(), host="127.0.0.1")
    await server.start_server()
    return server


@pytest.fixture
async def meter_url(simulator: EgaugeSimulator) -> AsyncGenerator[str]:
    server = await serve(simulator)
    yield str(server.make_url("/")).rstrip("/")
    await server.close()


@pytest.fixture
def entry_data(meter_url: str) -> dict[str, object]:
    return {
        "vendor": "egauge",
        "url": meter_url,
        "username": "owner",
        "password": "secret",
        "verify_ssl": True,
    }


@pytest.fixture
def config_entry(entry_data: dict[str, object], simulator: EgaugeSimulator) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title=simulator.hostname,
        unique_id=simulator.serial,
        data=entry_data,
    )


@pytest.fixture
async def init_integration(hass: HomeAssistant, config_entry: MockConfigEntry) -> MockConfigEntry:
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    return config_entry
