"""The emulated Efento gateway against a small server that answers by knob."""

from __future__ import annotations

import argparse
import asyncio
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
import json
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
import pytest

from custom_components.iot_bridge.api.efento import (
    EfentoMessageError,
    HeartbeatMessage,
    MeasurementsMessage,
    build_measurements_reply,
    parse_message,
)
from simulators.efento_gateway import (
    DEFAULT_HEARTBEAT_PATH,
    DEFAULT_MEASUREMENTS_PATH,
    EmulatedGateway,
    _parse_header,
)

from .efento_examples import (
    DOC_HEARTBEAT_EXAMPLE,
    DOC_MEASUREMENTS_EXAMPLE,
    DOC_MEASUREMENTS_EXAMPLE_FIXED,
)

TOKEN = "organization-token"
M_PATH = "/api/webhook/efento-m"
# Home Assistant's test plugin blocks sockets; these tests talk over 127.0.0.1.
pytestmark = pytest.mark.usefixtures("socket_enabled")
H_PATH = "/api/webhook/efento-h"


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at: float


class FakeServer:
    """Home Assistant's side of the contract, reduced to knobs."""

    def __init__(self) -> None:
        self.token = TOKEN
        self.script: deque[int] = deque()  # statuses to answer before falling back to 201
        self.reject_handles: set[int] = set()
        self.received: list[Received] = []
        self.delivered: list[bytes] = []
        self._delivery = asyncio.Event()

    async def wait_delivered(self, count: int) -> None:
        while len(self.delivered) < count:
            self._delivery.clear()
            await self._delivery.wait()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        loop_time = asyncio.get_running_loop().time()
        self.received.append(Received(request.path, dict(request.headers), body, loop_time))
        if request.headers.get("X-Api-Token") != self.token:
            return web.Response(status=401)
        if self.script:
            return web.Response(status=self.script.popleft())
        try:
            message = parse_message(body)
        except EfentoMessageError as err:
            return web.Response(status=400, text=err.reason)
        self.delivered.append(body)
        self._delivery.set()
        if isinstance(message, HeartbeatMessage):
            return web.Response(status=201)
        handles = [m.response_handle for m in message.measurements]
        reply = build_measurements_reply(
            (h for h in handles if h not in self.reject_handles),
            [*(h for h in handles if h in self.reject_handles)]
            + [r.response_handle for r in message.rejected],
        )
        return web.json_response(reply, status=201)

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_post(M_PATH, self.handle)
        app.router.add_post(H_PATH, self.handle)
        app.router.add_post(DEFAULT_MEASUREMENTS_PATH, self.handle)
        app.router.add_post(DEFAULT_HEARTBEAT_PATH, self.handle)
        return app


@pytest.fixture
async def server() -> AsyncIterator[tuple[FakeServer, TestServer]]:
    fake = FakeServer()
    test_server = TestServer(fake.make_app(), host="127.0.0.1")
    await test_server.start_server()
    yield fake, test_server
    await test_server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def _gateway(
    session: aiohttp.ClientSession, test_server: TestServer, **knobs: Any
) -> EmulatedGateway:
    return EmulatedGateway(
        session,
        str(test_server.make_url("")),
        M_PATH,
        H_PATH,
        TOKEN,
        pause_on_503=knobs.pop("pause_on_503", 0.05),
        **knobs,
    )


async def test_documented_headers_paths_and_reply(
    server: tuple[FakeServer, TestServer], session: aiohttp.ClientSession
) -> None:
    fake, test_server = server
    gateway = _gateway(session, test_server, custom_headers={"X-Site": "barn", "X-Key": "k"})
    assert await gateway.send_measurements()
    assert await gateway.send_heartbeat()

    assert [r.path for r in fake.received] == [M_PATH, H_PATH]
    for received in fake.received:
        assert received.headers["Content-Type"] == "application/json; charset=UTF-8"
        assert received.headers["X-Api-Token"] == TOKEN
        assert received.headers["X-Site"] == "barn"
        assert received.headers["X-Key"] == "k"
    measurements = parse_message(fake.received[0].body)
    assert isinstance(measurements, MeasurementsMessage)
    assert [m.serial for m in measurements.measurements] == [
        "282C024FFFB1",
        "282C024FFFB2",
        "282C024FFFB3",
    ]
    assert isinstance(parse_message(fake.received[1].body), HeartbeatMessage)
    assert [(r.kind, r.status) for r in gateway.replies] == [
        ("measurements", 201),
        ("heartbeat", 201),
    ]
    assert gateway.replies[0].json() == {"Y": [1, 2, 3], "N": []}
    assert gateway.replies[1].json() is None
    assert gateway.synchronised == {1: True, 2: True, 3: True}
    assert gateway.requests_sent == 2
    assert gateway.pending == ()


@pytest.mark.parametrize("status", [500, 401, 400, 404, 200, 202, 204])
async def test_any_status_but_201_is_resent_next_flush(
    server: tuple[FakeServer, TestServer], session: aiohttp.ClientSession, status: int
) -> None:
    fake, test_server = server
    gateway = _gateway(session, test_server)
    fake.script.append(status)
    assert not await gateway.send_measurements()
    assert [r.status for r in gateway.replies] == [status]
    assert [m.seq for m in gateway.pending] == [1]
    assert gateway.pauses == 0

    assert await gateway.send_measurements()
    assert [m.seq for m in gateway.pending] == []
    bodies = [r.body for r in fake.received]
    assert len(bodies) == 3
    assert bodies[0] == bodies[1]  # the same message, byte for byte
    assert bodies[2] != bodies[0]
    assert fake.delivered == bodies[1:]
    assert [r.status for r in gateway.replies] == [status, 201, 201]


async def test_backlog_is_resent_oldest_first_after_an_outage(
    server: tuple[FakeServer, TestServer], session: aiohttp.ClientSession
) -> None:
    fake, test_server = server
    gateway = _gateway(session, test_server, loggers=2)
    fake.token = "rotated"  # every POST answered 401 until the server accepts the token again
    assert not await gateway.send_measurements()
    assert not await gateway.send_heartbeat()
    assert not await gateway.send_measurements(["282C024FFFB2"])
    queued = [m.body for m in gateway.pending]
    assert len(queued) == 3
    # Each failed flush tried only the oldest message.
    assert [r.body for r in fake.received] == [queued[0]] * 3

    fake.token = TOKEN
    assert await gateway.flush()
    assert fake.delivered == queued
    assert [r.path for r in fake.received[3:]] == [M_PATH, H_PATH, M_PATH]
    times = [
        m.measured_at
        for body in queued
        if isinstance(message := parse_message(body), MeasurementsMessage)
        for m in message.measurements
        if m.serial == "282C024FFFB2"
    ]
    assert len(times) == 2
    assert times[0] < times[1]


async def test_503_pauses_then_resends_the_same_message(
    server: tuple[FakeServer, TestServer], session: aiohttp.ClientSession
) -> None:
    fake, test_server = server
    gateway = _gateway(session, test_server, pause_on_503=0.05)
    fake.script.extend([503, 503])
    assert await gateway.send_heartbeat()
    assert gateway.pauses == 2
    assert [r.status for r in gateway.replies] == [503, 503, 201]
    assert len({r.body for r in fake.received}) == 1
    gaps = [b.at - a.at for a, b in zip(fake.received, fake.received[1:], strict=False)]
    assert all(gap >= 0.045 for gap in gaps)


async def test_500_does_not_pause(
    server: tuple[FakeServer, TestServer], session: aiohttp.ClientSession
) -> None:
    fake, test_server = server
    gateway = _gateway(session, test_server, pause_on_503=30)
    fake.script.append(500)
    async with asyncio.timeout(5):
        assert not await gateway.send_heartbeat()
    assert gateway.pauses == 0


async def test_max_attempts_bounds_a_503_loop(
    server: tuple[FakeServer, TestServer], session: aiohttp.ClientSession
) -> None:
    fake, test_server = server
    gateway = _gateway(session, test_server, pause_on_503=0.001)
    fake.script.extend([503] * 5)
    gateway.enqueue("heartbeat", H_PATH, gateway.heartbeat_payload())
    assert not await gateway.flush(max_attempts=2)
    assert gateway.requests_sent == 2
    assert len(gateway.pending) == 1


async def test_unreachable_server_keeps_the_buffer(
    server: tuple[FakeServer, TestServer], session: aiohttp.ClientSession
) -> None:
    fake, test_server = server
    down = TestServer(web.Application(), host="127.0.0.1")
    await down.start_server()
    down_url = str(down.make_url(""))
    await down.close()
    gateway = EmulatedGateway(session, down_url, M_PATH, H_PATH, TOKEN, timeout=2)
    assert not await gateway.send_measurements()
    assert not await gateway.send_heartbeat()
    assert [r.status for r in gateway.replies] == [None, None]
    assert gateway.replies[0].error
    assert len(gateway.pending) == 2

    gateway.base_url = str(test_server.make_url("")).rstrip("/")
    assert await gateway.flush()
    assert [r.path for r in fake.received] == [M_PATH, H_PATH]


async def test_doc_examples_are_sent_and_match_the_page(
    server: tuple[FakeServer, TestServer], session: aiohttp.ClientSession
) -> None:
    assert EmulatedGateway.doc_measurements_payload() == json.loads(DOC_MEASUREMENTS_EXAMPLE_FIXED)
    assert EmulatedGateway.doc_heartbeat_payload() == json.loads(DOC_HEARTBEAT_EXAMPLE)
    fake, test_server = server
    gateway = _gateway(session, test_server)
    fake.reject_handles = {4}
    assert await gateway.send_doc_examples()
    assert gateway.replies[0].json() == {"Y": [1, 2, 3], "N": [4]}
    assert gateway.synchronised == {1: True, 2: True, 3: True, 4: False}
    assert [r.status for r in gateway.replies] == [201, 201]


async def test_post_once_probes_with_the_published_invalid_example(
    server: tuple[FakeServer, TestServer], session: aiohttp.ClientSession
) -> None:
    fake, test_server = server
    gateway = _gateway(session, test_server)
    reply = await gateway.post_once(M_PATH, DOC_MEASUREMENTS_EXAMPLE)
    assert (reply.status, reply.body) == (400, "not JSON")
    assert fake.received[0].body == DOC_MEASUREMENTS_EXAMPLE.encode()
    assert gateway.pending == ()


async def test_default_paths_are_the_documented_ones(
    server: tuple[FakeServer, TestServer], session: aiohttp.ClientSession
) -> None:
    fake, test_server = server
    gateway = EmulatedGateway(session, str(test_server.make_url("")), token=TOKEN)
    assert await gateway.send_measurements()
    assert await gateway.send_heartbeat()
    assert [r.path for r in fake.received] == ["/api/v4/measurements", "/api/v4/gateways/heartbeat"]


async def test_both_messages_may_share_one_path(
    server: tuple[FakeServer, TestServer], session: aiohttp.ClientSession
) -> None:
    fake, test_server = server
    gateway = EmulatedGateway(session, str(test_server.make_url("")), M_PATH, M_PATH, TOKEN)
    assert await gateway.send_heartbeat()
    assert await gateway.send_measurements()
    kinds = [type(parse_message(r.body)) for r in fake.received]
    assert kinds == [HeartbeatMessage, MeasurementsMessage]


async def test_generated_values_drift_and_time_always_grows(
    server: tuple[FakeServer, TestServer], session: aiohttp.ClientSession
) -> None:
    frozen = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    fake, test_server = server
    gateway = _gateway(session, test_server, loggers=5, clock=lambda: frozen, seed=3)
    for _ in range(6):
        assert await gateway.send_measurements()
    messages = [parse_message(body) for body in fake.delivered]
    assert all(isinstance(m, MeasurementsMessage) for m in messages)
    by_serial: dict[str, list[Any]] = {}
    for message in messages:
        assert isinstance(message, MeasurementsMessage)
        assert message.rejected == ()
        for measurement in message.measurements:
            assert measurement.invalid_params == ()
            by_serial.setdefault(measurement.serial, []).append(measurement)
    assert len(by_serial) == 5
    for series in by_serial.values():
        times = [m.measured_at for m in series]
        assert times == sorted(set(times))
        assert times[0] == frozen
        assert all(m.next_measurement_at > m.measured_at for m in series)
    temperatures = {m.params[0].value for m in by_serial["282C024FFFB1"]}
    assert len(temperatures) > 1
    kinds = {p.kind.kind for s in by_serial.values() for p in s[0].params if p.kind}
    assert kinds == {"temperature", "humidity", "differential_pressure", "pressure", "opening"}


async def test_string_values_error_channels_and_low_battery(
    server: tuple[FakeServer, TestServer], session: aiohttp.ClientSession
) -> None:
    fake, test_server = server
    gateway = _gateway(session, test_server, loggers=2, string_values=True)
    gateway.logger("282C024FFFB2").error_channels.add(2)
    gateway.logger("282C024FFFB2").battery = "low"
    assert await gateway.send_measurements()
    raw = json.loads(fake.delivered[0])["measurements"]
    assert isinstance(raw[0]["params"][0]["value"], str)
    assert raw[1]["params"][1] == {
        "channel": 2,
        "type": "humidity",
        "value": None,
        "status": "error",
    }
    message = parse_message(fake.delivered[0])
    assert isinstance(message, MeasurementsMessage)
    first, second = message.measurements
    assert first.params[0].value is not None
    assert second.battery_low is True
    assert (second.params[1].status, second.params[1].value) == ("error", None)


async def test_backlog_message_holds_one_logger_several_times(
    server: tuple[FakeServer, TestServer], session: aiohttp.ClientSession
) -> None:
    fake, test_server = server
    gateway = _gateway(session, test_server)
    assert await gateway.send_backlog("282C024FFFB3", 4)
    message = parse_message(fake.delivered[0])
    assert isinstance(message, MeasurementsMessage)
    assert [m.response_handle for m in message.measurements] == [3, 3, 3, 3]
    times = [m.measured_at for m in message.measurements]
    assert times == sorted(set(times))
    assert gateway.replies[0].json() == {"Y": [3], "N": []}


async def test_heartbeat_reflects_power_knobs(
    server: tuple[FakeServer, TestServer], session: aiohttp.ClientSession
) -> None:
    fake, test_server = server
    gateway = _gateway(session, test_server, loggers=4)
    gateway.is_usb_connected = False
    gateway.is_charging = False
    gateway.battery_level = 42
    assert await gateway.send_heartbeat()
    heartbeat = parse_message(fake.delivered[0])
    assert isinstance(heartbeat, HeartbeatMessage)
    assert (heartbeat.is_usb_connected, heartbeat.is_charging, heartbeat.battery_level) == (
        False,
        False,
        42,
    )
    assert heartbeat.loggers_in_range == 4
    assert heartbeat.mac == gateway.mac
    assert heartbeat.current_time is not None
    assert heartbeat.next_communication_at is not None
    assert (heartbeat.next_communication_at - heartbeat.current_time).total_seconds() == 900


async def test_run_sends_heartbeat_and_measurements_until_cancelled(
    server: tuple[FakeServer, TestServer], session: aiohttp.ClientSession
) -> None:
    fake, test_server = server
    gateway = _gateway(session, test_server, loggers=1)
    task = asyncio.create_task(gateway.run(0.01, doc_examples=True))
    async with asyncio.timeout(5):
        await fake.wait_delivered(6)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    kinds = [type(parse_message(body)).__name__ for body in fake.delivered[:4]]
    # Doc examples first, then the periodic heartbeat, then measurements.
    assert kinds == [
        "MeasurementsMessage",
        "HeartbeatMessage",
        "HeartbeatMessage",
        "MeasurementsMessage",
    ]


async def test_at_most_ten_custom_headers(session: aiohttp.ClientSession) -> None:
    headers = {f"X-H{i}": "v" for i in range(11)}
    with pytest.raises(ValueError, match="at most 10"):
        EmulatedGateway(session, "http://127.0.0.1:1", custom_headers=headers)
    ten = EmulatedGateway(
        session, "http://127.0.0.1:1", custom_headers=dict(list(headers.items())[:10])
    )
    assert len(ten.custom_headers) == 10


def test_cli_header_argument() -> None:
    assert _parse_header("X-Site: barn") == ("X-Site", "barn")
    with pytest.raises(argparse.ArgumentTypeError, match="NAME: VALUE"):
        _parse_header("no-colon")
