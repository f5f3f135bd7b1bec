"""A simulated Netemera authorization + application server on 127.0.0.1 and an entry for it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Generator
from typing import Any
from unittest.mock import patch

from aiohttp.test_utils import TestServer
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_bridge.const import DOMAIN
from custom_components.iot_bridge.netemera.coordinator import NetemeraCoordinator
from simulators.netemera import APPLICATION_ID, CLIENT_ID, CLIENT_SECRET, NetemeraSimulator

CLIMATE, LIGHT, RELAY, RAW = (
    "70b3d5ca40000000",
    "70b3d5ca40000001",
    "70b3d5ca40000002",
    "70b3d5ca40000003",
)
UNIQUE_ID = "netemera-test/sim-app"
ENTRY_ID = "netemera_entry"
STORE_KEY = f"iot_bridge.netemera.{ENTRY_ID}"


@pytest.fixture(autouse=True)
def fast_reconnect() -> Generator[None]:
    """Reconnect within milliseconds so drop/recovery tests stay quick."""
    module = "custom_components.iot_bridge.stream"
    with (
        patch(f"{module}.RECONNECT_INITIAL", 0.01),
        patch(f"{module}.RECONNECT_MAX", 0.05),
    ):
        yield


@pytest.fixture
def simulator() -> NetemeraSimulator:
    sim = NetemeraSimulator()
    sim.keepalive_interval = 0.2
    return sim


async def serve(simulator: NetemeraSimulator) -> TestServer:
    server = TestServer(simulator.make_app(), host="127.0.0.1")
    await server.start_server()
    return server


@pytest.fixture
async def base_url(simulator: NetemeraSimulator) -> AsyncGenerator[str]:
    server = await serve(simulator)
    yield f"http://127.0.0.1:{server.port}"
    await server.close()


@pytest.fixture
def entry_data(base_url: str) -> dict[str, Any]:
    return {
        "vendor": "netemera",
        "auth_url": base_url,
        "api_url": f"{base_url}/api/v3",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "application_id": APPLICATION_ID,
    }


@pytest.fixture
def entry_options() -> dict[str, Any]:
    return {}


@pytest.fixture
def config_entry(entry_data: dict[str, Any], entry_options: dict[str, Any]) -> MockConfigEntry:
    # A fixed unique id keeps entity ids and snapshots independent of the server's port.
    return MockConfigEntry(
        domain=DOMAIN,
        entry_id=ENTRY_ID,
        title=f"Netemera {APPLICATION_ID}",
        unique_id=UNIQUE_ID,
        data=entry_data,
        options=entry_options,
    )


@pytest.fixture
async def init_integration(hass: HomeAssistant, config_entry: MockConfigEntry) -> MockConfigEntry:
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    await wait_for(lambda: coordinator(config_entry).stream_connected)
    return config_entry


def coordinator(entry: MockConfigEntry) -> NetemeraCoordinator:
    result = entry.runtime_data.coordinator
    assert isinstance(result, NetemeraCoordinator)
    return result


async def wait_for(predicate: Callable[[], object], timeout: float = 5.0) -> None:
    """Let the stream task run until ``predicate`` holds."""
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - the stream task sets no event to wait on
            await asyncio.sleep(0.005)


def entity_id(
    entity_registry: er.EntityRegistry, dev_eui: str, key: str, platform: str = "sensor"
) -> str | None:
    return entity_registry.async_get_entity_id(platform, DOMAIN, f"{UNIQUE_ID}_{dev_eui}_{key}")


def state_of(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    dev_eui: str,
    key: str,
    platform: str = "sensor",
) -> str | None:
    found = entity_id(entity_registry, dev_eui, key, platform)
    if found is None:
        return None
    state = hass.states.get(found)
    return None if state is None else state.state
