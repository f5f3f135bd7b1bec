"""What every vendor harness offers the contract tests, and the helpers they share.

A harness stands for one vendor's source of data: it starts the vendor's simulator
on 127.0.0.1 (for Efento, an emulated gateway that POSTs to Home Assistant), hands
out entry data that works against it, and turns the source's knobs (refuse the
credentials, go away, fail, come back). It only talks to Home Assistant through
config entries, flows and states, so it survives any refactor of a vendor package.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
import time
from typing import Any, ClassVar, Literal

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from freezegun.api import FrozenDateTimeFactory, real_monotonic
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.iot_bridge.const import DOMAIN
from custom_components.iot_bridge.stream import StreamCoordinator

# A client for Home Assistant's own HTTP server (``hass_client_no_auth``).
type HttpClientFactory = Callable[[], Awaitable[TestClient[Any, Any]]]

# How a source goes away: nothing listens any more, or it answers every request with 503.
type Outage = Literal["unreachable", "failing"]

# Real seconds (``real_monotonic``: freezegun leaves that clock alone) a wait for the
# integration's network round trips may take.
IO_TIMEOUT = 10.0


async def _real_pause(seconds: float) -> None:
    """Let real time pass without a loop timer (the loop's clock is frozen in these tests)."""
    await asyncio.get_running_loop().run_in_executor(None, time.sleep, seconds)


async def settle(predicate: Callable[[], bool], timeout: float = IO_TIMEOUT) -> None:
    """Let sockets work until ``predicate`` holds (real time: the clock is frozen)."""
    deadline = real_monotonic() + timeout
    spins = 0
    while not predicate():
        if real_monotonic() > deadline:
            raise AssertionError(f"not reached within {timeout} s of real time")
        spins += 1
        if spins < 20:
            await asyncio.sleep(0)
        else:
            await _real_pause(0.002)


async def quiesce(busy: Callable[[], bool]) -> None:
    """Let woken tasks send their requests, then wait until the source answered them all."""
    for _ in range(5):
        await asyncio.sleep(0)
    await _real_pause(0.002)
    await settle(lambda: not busy())
    for _ in range(5):
        await asyncio.sleep(0)


async def advance_until(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    predicate: Callable[[], bool],
    *,
    busy: Callable[[], bool],
    limit: timedelta,
    step: timedelta = timedelta(seconds=5),
) -> timedelta:
    """Move the clock in steps until ``predicate`` holds; return how long that took.

    Each step fires Home Assistant's timers and waits until the source has answered
    every request the integration sent, so polls, reconnects and retries really happen
    and no request in flight outlives its (frozen-clock) timeout by a jump of the clock.
    """
    passed = timedelta()
    while True:
        await hass.async_block_till_done()
        await quiesce(busy)
        if predicate():
            return passed
        if passed >= limit:
            raise AssertionError(f"not reached within {limit} of Home Assistant's time")
        freezer.tick(step)
        passed += step
        async_fire_time_changed(hass)


async def advance(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    delta: timedelta,
    *,
    busy: Callable[[], bool],
    step: timedelta = timedelta(seconds=5),
) -> None:
    """Move the clock by ``delta`` in steps, letting the integration work in between."""
    passed = timedelta()
    while passed < delta:
        freezer.tick(step)
        passed += step
        async_fire_time_changed(hass)
        await hass.async_block_till_done()
        await quiesce(busy)


def _is_stream(request: web.Request) -> bool:
    """A websocket or an SSE stream: open for as long as the client follows it."""
    upgrade = request.headers.get("Upgrade", "").lower()
    return upgrade == "websocket" or "text/event-stream" in request.headers.get("Accept", "")


class SimServer:
    """One simulator app on 127.0.0.1 that can go away and come back on the same port.

    ``failing`` answers every request with 503 (a middleware in front of the
    simulator's own), which is how a vendor's cloud looks while it is down.
    ``busy`` says whether a request (not a stream) is being answered right now.
    """

    def __init__(self, make_app: Callable[[], web.Application]) -> None:
        self._make_app = make_app
        self._server: TestServer | None = None
        self.port: int | None = None
        self.failing = False
        self.in_flight = 0
        self.streams = 0
        self.requests = 0

    @property
    def url(self) -> str:
        """The server's base URL (also while it is stopped: it comes back on the same port)."""
        assert self.port is not None, "start the server first"
        return f"http://127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def busy(self) -> bool:
        return self.in_flight > 0

    async def start(self) -> None:
        app = self._make_app()

        @web.middleware
        async def observe(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            self.requests += 1
            if self.failing:
                return web.json_response({"message": "service unavailable"}, status=503)
            stream = _is_stream(request)
            if stream:
                self.streams += 1
            else:
                self.in_flight += 1
            try:
                return await handler(request)
            finally:
                if stream:
                    self.streams -= 1
                else:
                    self.in_flight -= 1

        app.middlewares.insert(0, observe)
        server = TestServer(app, host="127.0.0.1", port=self.port)
        # No access log: its local time is unreadable while the clock is frozen.
        await server.start_server(access_log=None)
        self._server = server
        self.port = server.port

    async def stop(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            # Requests under way are answered first: a connection accepted while the
            # listening socket closes trips an assertion inside asyncio.
            await quiesce(lambda: self.busy)
            await server.close()


class VendorHarness(ABC):
    """One vendor's source of data, with the same knobs for every vendor.

    Life cycle: ``async_start`` (the simulator listens), then any of the knobs, then
    ``async_close``. Entries come from ``config_entry`` and are not yet added to
    Home Assistant.
    """

    # The vendor key: the config flow's menu option and the pytest id.
    key: ClassVar[str]
    # Store files an entry keeps (``iot_bridge.<name>.<entry_id>``), deleted with the entry.
    store_names: ClassVar[tuple[str, ...]] = ()
    # False: Home Assistant presents no credentials to the source (Efento's gateway
    # calls in), so there is nothing to re-authenticate.
    has_credentials: ClassVar[bool] = True
    # False: the entry's identity is generated, reconfigure cannot reach another device.
    reaches_other_devices: ClassVar[bool] = True
    # True: the source calls Home Assistant (Efento), instead of being called.
    calls_home_assistant: ClassVar[bool] = False
    # An entity with a live value that must go unavailable while the source is gone.
    entity_id: ClassVar[str]
    # How long the source must be gone before ``entity_id`` may be unavailable, at most
    # (a poll, a stream's grace period, a logger's deadline), with a margin.
    outage: ClassVar[timedelta]

    def __init__(
        self,
        hass: HomeAssistant,
        freezer: FrozenDateTimeFactory,
        http_client: HttpClientFactory,
    ) -> None:
        """Keep Home Assistant, its clock and a client for Home Assistant's HTTP server."""
        self.hass = hass
        self.freezer = freezer
        self.http_client = http_client
        # Every server the harness started (the source first, other devices after it).
        self.servers: list[SimServer] = []

    # --- the source ---------------------------------------------------------------

    @abstractmethod
    async def async_start(self) -> None:
        """Start the simulator (or the emulated gateway)."""

    @abstractmethod
    async def async_close(self) -> None:
        """Stop everything the harness started."""

    @abstractmethod
    def config_entry(self) -> MockConfigEntry:
        """A new, valid entry for the source (not added to Home Assistant)."""

    @abstractmethod
    def secrets(self, entry: MockConfigEntry) -> list[str]:
        """The entry's secret values: none may appear in diagnostics."""

    def issued_tokens(self) -> list[str]:
        """Session tokens the source handed out to Home Assistant (secret as well)."""
        return []

    def refuse_credentials(self) -> None:
        """From now on the source refuses the entry's credentials."""
        raise NotImplementedError(f"{self.key} has no credentials")

    def new_credentials(self) -> dict[str, Any]:
        """The reauth form's input that the source accepts (after ``refuse_credentials``)."""
        raise NotImplementedError(f"{self.key} has no credentials")

    def refused_credentials(self) -> dict[str, Any]:
        """A reauth form's input that the source refuses."""
        raise NotImplementedError(f"{self.key} has no credentials")

    async def async_other_device(self) -> dict[str, Any]:
        """Start another device or account; return the reconfigure form fields that reach it."""
        raise NotImplementedError(f"{self.key} cannot reach another device")

    @abstractmethod
    async def async_drop_connections(self) -> None:
        """The source closes every connection (streams too): clients must connect again."""

    @abstractmethod
    async def async_source_down(self, outage: Outage = "unreachable") -> None:
        """The source goes away: nothing listens, or everything answers 503."""

    @abstractmethod
    async def async_source_up(self) -> None:
        """The source is back as it was."""

    async def async_push(self, entry: MockConfigEntry) -> list[int | None]:
        """A source that calls Home Assistant reports; the HTTP status of every attempt."""
        raise NotImplementedError(f"{self.key} does not call Home Assistant")

    def undelivered(self) -> int:
        """How many messages a source that calls Home Assistant still holds to resend."""
        return 0

    async def async_live(self, entry: MockConfigEntry) -> None:
        """Wait until a loaded entry follows its source live (stream open, gateway heard).

        A polled source is live once set up: its first poll brought the values.
        """
        await self.hass.async_block_till_done()

    async def async_stream_live(self, entry: MockConfigEntry) -> None:
        """Wait until the entry's stream is open and caught up, and nothing is under way."""
        await settle(lambda: self.stream_connections() == 1)
        coordinator = entry.runtime_data.coordinator
        if isinstance(coordinator, StreamCoordinator):
            await settle(lambda: coordinator.stream_connected)
        await quiesce(self.busy)

    # --- what the source sees ----------------------------------------------------------

    def source_requests(self) -> int:
        """How many requests the source has seen (none for a source that calls us)."""
        return sum(server.requests for server in self.servers)

    def stream_connections(self) -> int:
        """How many streams Home Assistant holds open to the source right now."""
        return sum(server.streams for server in self.servers)

    def busy(self) -> bool:
        """Whether the source is answering a request (not a stream) right now."""
        return any(server.busy for server in self.servers)

    # --- helpers for subclasses ------------------------------------------------------

    @staticmethod
    def mock_entry(title: str, unique_id: str, data: dict[str, Any]) -> MockConfigEntry:
        return MockConfigEntry(domain=DOMAIN, title=title, unique_id=unique_id, data=data)


class ServedHarness(VendorHarness):
    """A vendor Home Assistant calls: its simulator is a server on 127.0.0.1."""

    server: SimServer

    def serve(self, make_app: Callable[[], web.Application]) -> SimServer:
        """A server for ``make_app`` that ``async_close`` stops (not started yet)."""
        server = SimServer(make_app)
        self.servers.append(server)
        return server

    async def async_drop_connections(self) -> None:
        await self.server.stop()
        await self.server.start()

    async def async_source_down(self, outage: Outage = "unreachable") -> None:
        if outage == "failing":
            # Restarted, so that streams open now end too and cannot come back.
            await self.server.stop()
            self.server.failing = True
            await self.server.start()
        else:
            await self.server.stop()

    async def async_source_up(self) -> None:
        self.server.failing = False
        if not self.server.running:
            await self.server.start()

    async def async_close(self) -> None:
        for server in self.servers:
            await server.stop()
