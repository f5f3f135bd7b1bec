"""A simulated Instathings project on 127.0.0.1 and an entry pointing at it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestServer
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_bridge.api.backoff import Backoff
from custom_components.iot_bridge.const import DOMAIN
from custom_components.iot_bridge.instathings.coordinator import InstathingsCoordinator
from simulators.instathings import CLIENT_ID, CLIENT_SECRET, PROJECT, InstathingsSimulator

WAIT_TIMEOUT = 5.0


async def wait_for(condition: Callable[[], bool], timeout: float = WAIT_TIMEOUT) -> None:
    """Let the stream task run until ``condition`` holds."""
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


@pytest.fixture
def sim() -> InstathingsSimulator:
    return InstathingsSimulator(seed=1, history=5)


@pytest.fixture
def route_log() -> list[str]:
    """Every request's route name, in order (to check what happens first)."""
    return []


@pytest.fixture
def broken_routes() -> set[str]:
    """Route names the server answers with 500 (the simulator breaks all or nothing)."""
    return set()


@dataclass
class Flapping:
    """While ``on``, the server accepts every websocket and closes it at once."""

    on: bool = False


@pytest.fixture
def flapping() -> Flapping:
    return Flapping()


async def serve(
    sim: InstathingsSimulator,
    route_log: list[str] | None = None,
    broken_routes: set[str] | None = None,
    flapping: Flapping | None = None,
) -> TestServer:
    app = sim.make_app()
    if route_log is not None:
        broken = broken_routes if broken_routes is not None else set()

        @web.middleware
        async def log_routes(
            request: web.Request, handler: Callable[[web.Request], Awaitable[Any]]
        ) -> Any:
            route = request.match_info.route.name or "other"
            route_log.append(route)
            if route in broken:
                return web.json_response({"message": "broken"}, status=500)
            if route == "websocket" and flapping is not None and flapping.on:
                ws = web.WebSocketResponse()
                await ws.prepare(request)
                await ws.close(code=1001, message=b"going away")
                return ws
            return await handler(request)

        app.middlewares.insert(0, log_routes)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    return server


@pytest.fixture
async def base_url(
    sim: InstathingsSimulator, route_log: list[str], broken_routes: set[str], flapping: Flapping
) -> AsyncGenerator[str]:
    server = await serve(sim, route_log, broken_routes, flapping)
    yield f"http://127.0.0.1:{server.port}"
    await server.close()


@pytest.fixture
def entry_data(base_url: str) -> dict[str, Any]:
    return {
        "vendor": "instathings",
        "project": PROJECT,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "api_url": base_url,
        "websocket_url": base_url,
    }


@pytest.fixture
def config_entry(entry_data: dict[str, Any]) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN, title=f"Instathings {PROJECT}", unique_id=PROJECT, data=entry_data
    )


def coordinator_of(entry: MockConfigEntry) -> InstathingsCoordinator:
    coordinator = entry.runtime_data.coordinator
    assert isinstance(coordinator, InstathingsCoordinator)
    return coordinator


async def setup_live(hass: HomeAssistant, entry: MockConfigEntry) -> InstathingsCoordinator:
    """Set the entry up and wait until its websocket is open and caught up."""
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    coordinator = coordinator_of(entry)
    # Reconnects within milliseconds, so tests do not sleep through real backoff.
    coordinator.backoff = Backoff(initial=0.02, maximum=0.1, jitter=False)
    await wait_for(lambda: coordinator.stream_connected)
    return coordinator


@pytest.fixture
async def init_integration(hass: HomeAssistant, config_entry: MockConfigEntry) -> MockConfigEntry:
    await setup_live(hass, config_entry)
    return config_entry
