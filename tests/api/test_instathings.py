"""Instathings client against the simulator: tokens, devices, data, control and websocket events."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Callable, Generator
from contextlib import aclosing
import json
import logging
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestServer
from homeassistant.util.async_ import get_scheduled_timer_handles
import pytest
import pytest_asyncio

from custom_components.iot_bridge.api.errors import (
    ApiAuthError,
    ApiCommandError,
    ApiConnectionError,
    ApiForbiddenError,
    ApiPayloadError,
    ApiRateLimitError,
)
from custom_components.iot_bridge.api.instathings import (
    DEFAULT_WEBSOCKET_URL,
    MAX_WS_MESSAGE,
    BadMessage,
    ConnectivityEvent,
    DataEvent,
    DataRecord,
    InstathingsClient,
    InstathingsEvent,
    PairingEvent,
    SoftwareVersionEvent,
    UnknownEvent,
    default_api_url,
    jwt_claims,
    parse_event,
)
from custom_components.iot_bridge.api.instathings_events import parse_device, parse_record
from simulators.instathings import (
    CLIENT_ID,
    CLIENT_SECRET,
    GATEWAY_ID,
    GATEWAY_TYPE,
    PLUG_ID,
    PROJECT,
    SENSOR_ID,
    SENSOR_TYPE,
    VIRTUAL_ID,
    InstathingsSimulator,
)

# The Home Assistant test plugin blocks sockets; these tests only talk to 127.0.0.1.
pytestmark = pytest.mark.usefixtures("socket_enabled")

EVENT_TIMEOUT = 3.0
TS = 1_700_000_000_000  # a record time in milliseconds (November 2023)


@pytest_asyncio.fixture(autouse=True)
def closed_websocket_heartbeats(verify_cleanup: None) -> Generator[None]:
    """Cancel heartbeat timers that aiohttp 3.14 re-arms on an already closed websocket.

    They are harmless (the callback finds the socket closed), but Home Assistant's
    cleanup check would report them; every other lingering timer is still reported.
    """
    yield
    for handle in get_scheduled_timer_handles(asyncio.get_event_loop()):
        owner = getattr(getattr(handle, "_callback", None), "__self__", None)
        if isinstance(owner, aiohttp.ClientWebSocketResponse) and owner.closed:
            handle.cancel()


@pytest.fixture
def sim() -> InstathingsSimulator:
    return InstathingsSimulator(seed=1)


@pytest.fixture
async def server(sim: InstathingsSimulator) -> AsyncIterator[TestServer]:
    test_server = TestServer(sim.make_app(), host="127.0.0.1")
    await test_server.start_server()
    yield test_server
    await test_server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def _base(server: TestServer) -> str:
    return f"http://127.0.0.1:{server.port}"


def make_client(
    session: aiohttp.ClientSession,
    server: TestServer,
    *,
    project: str = PROJECT,
    client_secret: str = CLIENT_SECRET,
) -> InstathingsClient:
    base = _base(server)
    return InstathingsClient(session, base, base, project, CLIENT_ID, client_secret)


@pytest.fixture
def client(session: aiohttp.ClientSession, server: TestServer) -> InstathingsClient:
    return make_client(session, server)


async def wait_until(condition: Callable[[], bool]) -> None:
    for _ in range(int(EVENT_TIMEOUT / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("condition not met in time")


async def next_event(stream: AsyncIterator[InstathingsEvent]) -> InstathingsEvent:
    async with asyncio.timeout(EVENT_TIMEOUT):
        return await anext(stream)


async def open_stream(
    sim: InstathingsSimulator, stream: AsyncIterator[InstathingsEvent]
) -> asyncio.Task[InstathingsEvent]:
    """Start the handshake (it happens on the first read) and wait until the server has it."""
    count = len(sim.websockets)
    first: asyncio.Task[InstathingsEvent] = asyncio.ensure_future(next_event(stream))
    await wait_until(lambda: len(sim.websockets) > count or first.done())
    return first


def _unsigned_jwt(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none'})}.{part(claims)}.sig"


# --- a raw server for bodies the simulator never sends -------------------------------


class RawVendor:
    """Answers each path with a canned status and body; the websocket sends canned frames."""

    def __init__(self) -> None:
        self.answers: dict[str, tuple[int, str]] = {
            "/authentication/v1/oauth/token": (200, json.dumps({"access_token": "opaque"}))
        }
        self.frames: list[str | bytes] = []
        self.hold_open = False  # keep the socket silent and ignore pings
        self.seen: list[str] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(request.path_qs)
        if request.path == "/" and request.headers.get("Upgrade", "").lower() == "websocket":
            ws = web.WebSocketResponse(autoping=not self.hold_open)
            await ws.prepare(request)
            if self.hold_open:
                async for _msg in ws:
                    pass
                return ws
            for frame in self.frames:
                if isinstance(frame, bytes):
                    await ws.send_bytes(frame)
                else:
                    await ws.send_str(frame)
            await ws.close()
            return ws
        status, body = self.answers.get(request.path, (404, "{}"))
        return web.Response(status=status, text=body, content_type="application/json")

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app


@pytest.fixture
async def raw() -> AsyncIterator[tuple[RawVendor, TestServer]]:
    vendor = RawVendor()
    test_server = TestServer(vendor.make_app(), host="127.0.0.1")
    await test_server.start_server()
    yield vendor, test_server
    await test_server.close()


@pytest.fixture
def raw_client(
    session: aiohttp.ClientSession, raw: tuple[RawVendor, TestServer]
) -> InstathingsClient:
    return make_client(session, raw[1])


# --- helpers and pure parsers ---------------------------------------------------------


def test_defaults() -> None:
    assert default_api_url("acme") == "https://acme.instathings.io"
    assert DEFAULT_WEBSOCKET_URL == "wss://wss.instathings.io"


def test_jwt_claims_decodes_payload_without_verifying() -> None:
    token = _unsigned_jwt({"exp": 1700000000, "sub": "x"})
    assert jwt_claims(token) == {"exp": 1700000000, "sub": "x"}
    # The doc's sample token: a payload without exp.
    doc_token = (
        "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9l"
        "IiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"
    )
    assert jwt_claims(doc_token) == {"sub": "1234567890", "name": "John Doe", "iat": 1516239022}


@pytest.mark.parametrize("token", ["opaque", "a.b", "a.!!!.c", "a.bm90IGpzb24.c", "a.WzFd.c"])
def test_jwt_claims_unreadable(token: str) -> None:
    assert jwt_claims(token) is None


DOC_CONNECTED = {
    "action": "connected",
    "payload": {
        "projectId": "JtjYANUvs",
        "ts": 1588863421916,
        "stats": {"ingestion": 0},
        "certificateId": "12345",
        "subDevices": [],
        "status": {"clientId": "9IHOifUF4", "eventType": "connected"},
        "protocols": ["IuYtREd0", "R2Jh6IhT"],
        "id": "9IHOifUF4",
        "env": "live",
        "isGateway": True,
        "name": "gateway",
        "type": "4023bd5d-9f88-4761-97c2-0e682aef5437",
    },
}
DOC_DISCONNECTED = {
    "action": "disconnected",
    "payload": {
        "projectId": "ZLS75DhL",
        "ts": 1588581909753,
        "version": {"gate": "instathings/gate:1.7.1"},
        "status": {"disconnectReason": "CONNECTION_LOST", "eventType": "disconnected"},
        "protocols": ["IuYtREd0", "R2Jh6IhT", "knx"],
        "env": "live",
        "isGateway": True,
        "name": "gateway",
        "subDevices": ["YZOa21Loa"],
        "id": "3tjVYgQTw",
        "type": "4023bd5d-9f88-4761-97c2-0e682aef5437",
    },
}
DOC_PAIRED_DEVICE = {
    "projectId": "ZLS75DhL",
    "ts": 1588925713401,
    "parentDevice": "3tjVYgQTw",
    "id": "f0xqzIBCt",
    "env": "live",
    "isGateway": False,
    "name": "sensor",
    "type": "01c2fd9f-fb3a-45cf-8be3-97e00b7510c6",
}
DOC_DATA = {
    "action": "data",
    "payload": {
        "id": "7dec7c01-949c-4615-9d09-7680e702080e",
        "clientId": "3tjVYgQTw",
        "principal": "0e88",
        "ts": 1588925769193,
        "ttl": 1904285769,
        "deviceId": "f0xqzIBCt",
        "data": {"data": 81},
    },
}


def test_parse_event_documented_examples() -> None:
    event = parse_event(json.dumps(DOC_DATA))
    assert event == DataEvent(
        DataRecord("f0xqzIBCt", 1588925769193, {"data": 81}, "7dec7c01-949c-4615-9d09-7680e702080e")
    )

    event = parse_event(json.dumps(DOC_CONNECTED))
    assert isinstance(event, ConnectivityEvent)
    assert (event.gateway_id, event.connected, event.reason) == ("9IHOifUF4", True, None)
    assert event.device.is_gateway
    assert event.device.connected is True
    assert event.device.protocols == ("IuYtREd0", "R2Jh6IhT")

    event = parse_event(json.dumps(DOC_DISCONNECTED))
    assert isinstance(event, ConnectivityEvent)
    assert (event.gateway_id, event.connected, event.reason) == (
        "3tjVYgQTw",
        False,
        "CONNECTION_LOST",
    )
    assert event.device.sub_device_ids == ("YZOa21Loa",)
    assert event.device.software_version == "instathings/gate:1.7.1"

    for action, paired in (("paired", True), ("not_paired", False)):
        payload = {**DOC_PAIRED_DEVICE, "status": {"eventType": action}}
        event = parse_event(json.dumps({"action": action, "payload": payload}))
        assert isinstance(event, PairingEvent)
        assert event.paired is paired
        assert (event.device.id, event.device.parent_id) == ("f0xqzIBCt", "3tjVYgQTw")
        assert event.device.connected is None

    payload = {**DOC_CONNECTED["payload"], "version": {"gate": "instathings/gate:1.7.1"}}  # type: ignore[dict-item]
    event = parse_event(json.dumps({"action": "software_version", "payload": payload}))
    assert isinstance(event, SoftwareVersionEvent)
    assert event.version == "instathings/gate:1.7.1"
    assert event.device.id == "9IHOifUF4"


@pytest.mark.parametrize(
    "action", ["discovering", "installation_succeded", "installation_failed", "status", "log"]
)
def test_parse_event_other_actions_are_unknown(action: str) -> None:
    message = {"action": action, "payload": {"deviceId": "x"}}
    assert parse_event(json.dumps(message)) == UnknownEvent(action, message)


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json {", "message is not JSON"),
        ("[1, 2]", "message has no action"),
        ('{"payload": {}}', "message has no action"),
        ('{"action": 5, "payload": {}}', "message has no action"),
        ('{"action": "data"}', "data event lacks deviceId, ts or data"),
        ('{"action": "data", "payload": {"deviceId": "a", "data": {}}}', "data event lacks"),
        ('{"action": "data", "payload": {"ts": 1, "data": {}}}', "data event lacks"),
        ('{"action": "data", "payload": {"deviceId": "a", "ts": 1, "data": 5}}', "data event"),
        ('{"action": "data", "payload": {"deviceId": "a", "ts": "soon", "data": {}}}', "data"),
        ('{"action": "connected", "payload": {"name": "gw"}}', "connected event has no device"),
        ('{"action": "paired", "payload": "f0xqzIBCt"}', "paired event has no device id"),
    ],
)
def test_parse_event_bad_messages(text: str, reason: str) -> None:
    event = parse_event(text)
    assert isinstance(event, BadMessage)
    assert event.reason.startswith(reason)
    assert event.excerpt == text[:200]


def test_parse_event_excerpt_is_bounded() -> None:
    event = parse_event("x" * 5000)
    assert isinstance(event, BadMessage)
    assert len(event.excerpt) == 200


def test_parse_record_unwraps_gateway_envelope_and_iso_time() -> None:
    record = parse_record(
        {
            "deviceId": "9s9WdonY9",
            "ts": "2020-05-20T08:39:55.995Z",
            "data": {"type": "data", "message": {"data": {"temperature": 30.82}}},
        }
    )
    assert record == DataRecord("9s9WdonY9", 1589963995995, {"temperature": 30.82}, None)
    # A time without an offset is UTC.
    record = parse_record({"deviceId": "a", "ts": "2020-05-20T08:39:55.995", "data": {}})
    assert record is not None
    assert record.ts == 1589963995995
    # An object that merely has a "type" key is the device's own data.
    record = parse_record({"deviceId": "a", "ts": TS, "data": {"type": "data", "value": 1}})
    assert record is not None
    assert record.data == {"type": "data", "value": 1}
    # History of one device: the record may omit the id it belongs to.
    assert parse_record({"ts": float(TS), "data": {}}, "dev") == DataRecord("dev", TS, {}, None)
    assert parse_record({"ts": TS, "data": {}}) is None
    assert parse_record("nope") is None


def test_parse_device_shapes() -> None:
    # GET /device/v1/devices/:id expands subDevices into objects.
    device = parse_device(
        {
            "id": "Wcganw3s",
            "isGateway": True,
            "isVirtual": True,
            "name": "doctest",
            "subDevices": [{"id": "A1Owj4Eu", "parentDevice": "Wcganw3s"}, {"x": 1}, 7],
            "ts": 1579596302698,
        }
    )
    assert device is not None
    assert device.sub_device_ids == ("A1Owj4Eu",)
    assert device.is_virtual is True
    assert device.created_ms == 1579596302698
    assert (device.type_id, device.software_version, device.connected) == (None, None, None)
    # Wrong types become None / defaults rather than errors.
    device = parse_device({"id": "x", "name": 5, "isGateway": "yes", "version": {"gate": 1}})
    assert device is not None
    assert (device.name, device.is_gateway, device.versions) == (None, False, {})
    assert parse_device({"name": "no id"}) is None
    assert parse_device(["x"]) is None


# --- authentication -----------------------------------------------------------------


async def test_token_is_cached_and_reused(
    client: InstathingsClient, sim: InstathingsSimulator
) -> None:
    token = await client.access_token()
    await client.list_devices()
    await client.latest_data(SENSOR_ID)
    assert await client.access_token() == token
    assert sim.request_counts["token"] == 1
    assert client.requests_sent == sum(sim.request_counts.values()) == 3


async def test_token_refreshed_shortly_before_exp(
    client: InstathingsClient, sim: InstathingsSimulator
) -> None:
    sim.token_lifetime = 1.0  # the client keeps it for half its life at most
    first = await client.access_token()
    assert await client.access_token() == first
    await asyncio.sleep(0.6)
    await client.list_devices()
    assert sim.request_counts["token"] == 2
    assert sim.unauthorized == 0  # refreshed before the server refused anything
    assert await client.access_token() != first


async def test_401_fetches_new_token_and_retries_once(
    client: InstathingsClient, sim: InstathingsSimulator
) -> None:
    await client.list_devices()
    sim.expire_all_tokens()
    devices = await client.list_devices()
    assert len(devices) == 4
    assert sim.unauthorized == 1
    assert sim.request_counts["token"] == 2
    assert sim.request_counts["devices"] == 3


async def test_persistent_401_raises_auth_error_without_looping(
    client: InstathingsClient, sim: InstathingsSimulator
) -> None:
    sim.token_lifetime = -10  # every token is born expired
    with pytest.raises(ApiAuthError):
        await client.list_devices()
    assert sim.request_counts["token"] == 2
    assert sim.request_counts["devices"] == 2


async def test_bad_credentials(
    session: aiohttp.ClientSession, server: TestServer, sim: InstathingsSimulator
) -> None:
    client = make_client(session, server, client_secret="wrong-secret-value")
    with pytest.raises(ApiAuthError) as err:
        await client.list_devices()
    assert "wrong-secret-value" not in str(err.value)
    assert sim.request_counts["devices"] == 0


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, ApiConnectionError),
        (503, ApiConnectionError),
        (403, ApiForbiddenError),
        (400, ApiAuthError),
        (429, ApiRateLimitError),
    ],
)
async def test_token_endpoint_errors(
    client: InstathingsClient, sim: InstathingsSimulator, status: int, error: type[Exception]
) -> None:
    sim.fail_next(1, status, retry_after=7 if status == 429 else None)
    with pytest.raises(error) as err:
        await client.access_token()
    if status == 429:
        assert isinstance(err.value, ApiRateLimitError)
        assert err.value.retry_after == 7
    # The next attempt works: nothing broken was cached.
    assert await client.access_token()


@pytest.mark.parametrize(
    "body", ["not json", "[]", "{}", '{"access_token": ""}', '{"access_token": 5}']
)
async def test_token_answer_malformed(
    raw: tuple[RawVendor, TestServer], raw_client: InstathingsClient, body: str
) -> None:
    raw[0].answers["/authentication/v1/oauth/token"] = (200, body)
    with pytest.raises(ApiPayloadError):
        await raw_client.access_token()


async def test_opaque_token_used_until_refused(
    raw: tuple[RawVendor, TestServer], raw_client: InstathingsClient
) -> None:
    vendor, _ = raw
    vendor.answers["/device/v1/devices"] = (200, "[]")
    assert await raw_client.access_token() == "opaque"
    assert await raw_client.list_devices() == []
    assert await raw_client.list_devices() == []
    assert vendor.seen.count("/authentication/v1/oauth/token") == 1


async def test_token_with_exp_in_the_past_by_skew_uses_iat(
    raw: tuple[RawVendor, TestServer], raw_client: InstathingsClient
) -> None:
    """A clock far ahead of the server must not make every call fetch a token."""
    vendor, _ = raw
    token = _unsigned_jwt({"iat": 1000, "exp": 4600})  # expired by the wall clock
    vendor.answers["/authentication/v1/oauth/token"] = (200, json.dumps({"access_token": token}))
    vendor.answers["/device/v1/devices"] = (200, "[]")
    await raw_client.list_devices()
    await raw_client.list_devices()
    assert vendor.seen.count("/authentication/v1/oauth/token") == 1


async def test_secrets_never_logged(
    client: InstathingsClient, sim: InstathingsSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = await client.access_token()
    await client.list_devices()
    await client.data_since(SENSOR_ID, 0)
    async with aclosing(client.events()) as stream:
        first = await open_stream(sim, stream)
        await sim.drop_websockets()
        with pytest.raises(ApiConnectionError) as err:
            await first
    assert token not in str(err.value)
    # The simulator's own access log shows the websocket URL; the client side must not.
    client_side = "\n".join(
        record.getMessage() for record in caplog.records if record.name != "aiohttp.access"
    )
    assert "GET /device/v1/devices" in caplog.text  # logging was captured at all
    assert token not in client_side
    assert CLIENT_SECRET not in client_side


# --- devices ------------------------------------------------------------------------


async def test_list_devices(client: InstathingsClient) -> None:
    devices = {device.id: device for device in await client.list_devices()}
    assert set(devices) == {GATEWAY_ID, SENSOR_ID, PLUG_ID, VIRTUAL_ID}
    gateway = devices[GATEWAY_ID]
    assert gateway.is_gateway
    assert gateway.sub_device_ids == (SENSOR_ID, PLUG_ID)
    assert gateway.software_version == "instathings/gate:1.7.1"
    assert gateway.connected is True
    assert gateway.type_id == GATEWAY_TYPE
    sensor = devices[SENSOR_ID]
    assert (sensor.is_gateway, sensor.parent_id, sensor.type_id) == (False, GATEWAY_ID, SENSOR_TYPE)
    assert sensor.name == "Living room"
    virtual = devices[VIRTUAL_ID]
    assert (virtual.parent_id, virtual.is_virtual, virtual.type_id) == (None, True, None)


async def test_list_types(client: InstathingsClient) -> None:
    types = {item.id: item for item in await client.list_types()}
    assert types[SENSOR_TYPE].model == "WSDCGQ11LM"
    assert types[SENSOR_TYPE].manufacturer == "Xiaomi"
    assert types[SENSOR_TYPE].kind == "sensor"


async def test_list_devices_skips_malformed_items(
    raw: tuple[RawVendor, TestServer], raw_client: InstathingsClient
) -> None:
    raw[0].answers["/device/v1/devices"] = (200, json.dumps([{"id": "a"}, {"name": "x"}, 3]))
    raw[0].answers["/device/v1/types"] = (200, json.dumps([{"id": "t"}, {"model": "m"}]))
    assert [device.id for device in await raw_client.list_devices()] == ["a"]
    assert [item.id for item in await raw_client.list_types()] == ["t"]


@pytest.mark.parametrize("body", ["not json", '{"data": []}', "null"])
async def test_list_devices_wrong_body(
    raw: tuple[RawVendor, TestServer], raw_client: InstathingsClient, body: str
) -> None:
    raw[0].answers["/device/v1/devices"] = (200, body)
    raw[0].answers["/device/v1/types"] = (200, body)
    with pytest.raises(ApiPayloadError):
        await raw_client.list_devices()
    with pytest.raises(ApiPayloadError):
        await raw_client.list_types()


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (500, ApiConnectionError),
        (503, ApiConnectionError),
        (403, ApiForbiddenError),
        (404, ApiConnectionError),
        (400, ApiPayloadError),
    ],
)
async def test_rest_error_mapping(
    client: InstathingsClient, sim: InstathingsSimulator, status: int, error: type[Exception]
) -> None:
    await client.access_token()
    sim.fail_next(1, status)
    with pytest.raises(error):
        await client.list_devices()


async def test_rate_limit_keeps_retry_after(
    client: InstathingsClient, sim: InstathingsSimulator
) -> None:
    await client.access_token()
    sim.fail_next(1, 429, retry_after=12)
    with pytest.raises(ApiRateLimitError) as err:
        await client.latest_data(SENSOR_ID)
    assert err.value.retry_after == 12


async def test_unreachable_server(session: aiohttp.ClientSession) -> None:
    # Port 1 on loopback refuses connections.
    client = InstathingsClient(session, "http://127.0.0.1:1", "ws://127.0.0.1:1", "p", "i", "s")
    with pytest.raises(ApiConnectionError):
        await client.list_devices()


# --- data ---------------------------------------------------------------------------


async def test_latest_data(client: InstathingsClient, sim: InstathingsSimulator) -> None:
    newest = sim.records[PLUG_ID][-1]
    record = await client.latest_data(PLUG_ID)
    assert record == DataRecord(PLUG_ID, newest["ts"], newest["data"], newest["id"])
    assert set(record.data) >= {"state", "power", "energy", "voltage", "current"}
    assert await client.latest_data(GATEWAY_ID) is None
    await sim.tick()
    latest = await client.latest_data(SENSOR_ID)
    assert latest is not None
    assert latest.ts == sim.records[SENSOR_ID][-1]["ts"]
    assert set(latest.data) >= {"temperature", "humidity", "battery"}


async def test_latest_data_unknown_device(client: InstathingsClient) -> None:
    with pytest.raises(ApiConnectionError):
        await client.latest_data("nope")


async def test_data_since_pages_through_everything_newer(
    session: aiohttp.ClientSession,
) -> None:
    sim = InstathingsSimulator(history=230)
    server = TestServer(sim.make_app(), host="127.0.0.1")
    await server.start_server()
    try:
        client = make_client(session, server)
        stored = sim.records[SENSOR_ID]
        start = stored[4]["ts"]
        records = await client.data_since(SENSOR_ID, start)
        assert [r.record_id for r in records] == [r["id"] for r in stored[5:]]
        assert [r.ts for r in records] == sorted(r.ts for r in records)
        assert sim.request_counts["data"] == 3  # 225 records, 100 per page
        assert await client.data_since(SENSOR_ID, stored[-1]["ts"]) == []
    finally:
        await server.close()


async def test_data_since_tolerates_bad_items_duplicates_and_missing_total(
    raw: tuple[RawVendor, TestServer], raw_client: InstathingsClient
) -> None:
    vendor, _ = raw
    items = [
        {"id": "r3", "ts": TS + 30, "deviceId": "d", "data": {"v": 3}},
        {"id": "r2", "ts": TS + 20, "deviceId": "d", "data": {"v": 2}},
        {"id": "r2", "ts": TS + 20, "deviceId": "d", "data": {"v": 2}},  # shifted between pages
        {"ts": TS + 25, "deviceId": "d", "data": "broken"},
        {"ts": TS + 15, "data": {"v": 1}},  # no id and no deviceId: still a record of "d"
        {"id": "r0", "ts": TS + 10, "deviceId": "d", "data": {"v": 0}},  # start is exclusive
        {"id": "r9", "ts": 9999999999999, "deviceId": "d", "data": {"v": 9}},  # year 2286
    ]
    vendor.answers["/device/v1/devices/d/data"] = (200, json.dumps({"data": items}))
    records = await raw_client.data_since("d", TS + 10)
    assert [(r.ts - TS, r.record_id, r.data) for r in records] == [
        (15, None, {"v": 1}),
        (20, "r2", {"v": 2}),
        (30, "r3", {"v": 3}),
    ]
    assert any(f"start={TS + 10}" in seen and "perPage=100" in seen for seen in vendor.seen)


@pytest.mark.parametrize("body", ["not json", "[]", '{"data": {}}', '{"totalItems": 0}'])
async def test_data_wrong_body(
    raw: tuple[RawVendor, TestServer], raw_client: InstathingsClient, body: str
) -> None:
    raw[0].answers["/device/v1/devices/d/data"] = (200, body)
    with pytest.raises(ApiPayloadError):
        await raw_client.latest_data("d")
    with pytest.raises(ApiPayloadError):
        await raw_client.data_since("d", 0)


# --- control ------------------------------------------------------------------------


async def test_set_control_switches_plug(
    client: InstathingsClient, sim: InstathingsSimulator
) -> None:
    await client.set_control(PLUG_ID, {"state": "OFF"})
    assert sim.plug_on is False
    assert sim.control_log[-1]["body"] == {"state": "OFF"}
    latest = await client.latest_data(PLUG_ID)
    assert latest is not None
    assert (latest.data["state"], latest.data["power"]) == ("OFF", 0.0)
    await client.set_control(PLUG_ID, {"state": "TOGGLE"})
    assert sim.plug_on is True


async def test_set_control_http_device_headers_and_query(
    client: InstathingsClient, sim: InstathingsSimulator
) -> None:
    await client.set_control(
        VIRTUAL_ID, {}, query={"turn": "on"}, http_path="/relay/0", http_method="GET"
    )
    assert sim.control_log[-1] == {
        "device_id": VIRTUAL_ID,
        "body": {},
        "query": {"turn": "on"},
        "path": "/relay/0",
        "method": "GET",
    }


async def test_set_control_refused(client: InstathingsClient, sim: InstathingsSimulator) -> None:
    with pytest.raises(ApiCommandError) as err:
        await client.set_control("unknown", {"state": "ON"})
    assert err.value.command == "set"
    assert "404" in err.value.reason
    await client.access_token()
    sim.fail_next(1, 502)
    with pytest.raises(ApiConnectionError):
        await client.set_control(PLUG_ID, {"state": "ON"})


async def test_set_control_retries_after_401(
    client: InstathingsClient, sim: InstathingsSimulator
) -> None:
    await client.access_token()
    sim.expire_all_tokens()
    await client.set_control(PLUG_ID, {"state": "OFF"})
    assert sim.plug_on is False
    assert len(sim.control_log) == 1


# --- websocket ----------------------------------------------------------------------


async def test_events_every_type(client: InstathingsClient, sim: InstathingsSimulator) -> None:
    async with aclosing(client.events()) as stream:
        first = await open_stream(sim, stream)
        request = sim.websockets[next(iter(sim.websockets))]
        assert request.query["project"] == PROJECT
        assert request.query["access_token"] == await client.access_token()

        await sim.tick()
        events = [await first, await next_event(stream), await next_event(stream)]
        assert all(isinstance(event, DataEvent) for event in events)
        by_device = {event.record.device_id: event.record for event in events}  # type: ignore[union-attr]
        assert set(by_device) == {SENSOR_ID, PLUG_ID, VIRTUAL_ID}
        assert by_device[SENSOR_ID].record_id == sim.records[SENSOR_ID][-1]["id"]
        assert by_device[SENSOR_ID].data == sim.records[SENSOR_ID][-1]["data"]

        await sim.set_gateway_connected(False)
        event = await next_event(stream)
        assert isinstance(event, ConnectivityEvent)
        assert (event.gateway_id, event.connected, event.reason) == (
            GATEWAY_ID,
            False,
            "CONNECTION_LOST",
        )
        await sim.set_gateway_connected(True)
        event = await next_event(stream)
        assert isinstance(event, ConnectivityEvent)
        assert event.connected
        event = await next_event(stream)
        assert isinstance(event, SoftwareVersionEvent)

        await sim.set_software_version("instathings/gate:1.8.0")
        event = await next_event(stream)
        assert isinstance(event, SoftwareVersionEvent)
        assert (event.device.id, event.version) == (GATEWAY_ID, "instathings/gate:1.8.0")

        new_id = await sim.pair_device("Hall sensor")
        event = await next_event(stream)
        assert isinstance(event, PairingEvent)
        assert (event.device.id, event.paired, event.device.parent_id) == (new_id, True, GATEWAY_ID)
        await sim.pair_device("Flaky", "Flaky001", succeed=False)
        event = await next_event(stream)
        assert isinstance(event, PairingEvent)
        assert (event.device.id, event.paired) == ("Flaky001", False)
        await sim.unpair_device(new_id)
        event = await next_event(stream)
        assert isinstance(event, PairingEvent)
        assert (event.device.id, event.paired) == (new_id, False)

        await sim.emit_other_events()
        actions = []
        for _ in range(5):
            event = await next_event(stream)
            assert isinstance(event, UnknownEvent)
            actions.append(event.action)
        assert actions == [
            "discovering",
            "installation_succeded",
            "installation_failed",
            "status",
            "log",
        ]

        await sim.emit_raw("garbage")
        await sim.emit({"action": "data", "payload": {"deviceId": PLUG_ID}})
        await sim.emit({"action": "data", "payload": {"deviceId": PLUG_ID, "ts": TS, "data": {}}})
        bad = await next_event(stream)
        assert bad == BadMessage("message is not JSON", "garbage")
        assert isinstance(await next_event(stream), BadMessage)
        assert isinstance(await next_event(stream), DataEvent)  # the stream went on


async def test_control_confirmed_by_data_event(
    client: InstathingsClient, sim: InstathingsSimulator
) -> None:
    async with aclosing(client.events()) as stream:
        first = await open_stream(sim, stream)
        await client.set_control(PLUG_ID, {"state": "TOGGLE"})
        event = await first
        assert isinstance(event, DataEvent)
        assert (event.record.device_id, event.record.data["state"]) == (PLUG_ID, "OFF")


@pytest.mark.parametrize("abrupt", [False, True])
async def test_events_end_with_connection_error_on_drop(
    client: InstathingsClient, sim: InstathingsSimulator, abrupt: bool
) -> None:
    async with aclosing(client.events()) as stream:
        first = await open_stream(sim, stream)
        await sim.drop_websockets(abrupt=abrupt)
        with pytest.raises(ApiConnectionError):
            await first
    await wait_until(lambda: not sim.websockets)


async def test_catch_up_after_drop_loses_nothing(
    client: InstathingsClient, sim: InstathingsSimulator
) -> None:
    async with aclosing(client.events()) as stream:
        first = await open_stream(sim, stream)
        await sim.tick()
        event = await first
        assert isinstance(event, DataEvent)
        seen = {event.record.device_id: event.record.ts}
        for _ in range(2):
            event = await next_event(stream)
            assert isinstance(event, DataEvent)
            seen[event.record.device_id] = event.record.ts
        await sim.drop_websockets()
        with pytest.raises(ApiConnectionError):
            await next_event(stream)
    await wait_until(lambda: not sim.websockets)

    await sim.tick()  # nobody listening
    await sim.tick()

    async with aclosing(client.events()) as stream:
        first = await open_stream(sim, stream)
        missed = await client.data_since(SENSOR_ID, seen[SENSOR_ID])
        assert [r.record_id for r in missed] == [r["id"] for r in sim.records[SENSOR_ID][-2:]]
        await sim.tick()
        event = await first
        assert isinstance(event, DataEvent)
        assert event.record.ts > missed[-1].ts


async def test_events_reconnect_with_fresh_token_after_refusal(
    client: InstathingsClient, sim: InstathingsSimulator
) -> None:
    await client.access_token()
    sim.expire_all_tokens()
    async with aclosing(client.events()) as stream:
        first = await open_stream(sim, stream)
        assert sim.unauthorized == 1
        assert sim.request_counts["websocket"] == 2
        assert sim.request_counts["token"] == 2
        assert client.requests_sent == sum(sim.request_counts.values())
        await sim.tick()
        assert isinstance(await first, DataEvent)


async def test_events_auth_rejected(client: InstathingsClient, sim: InstathingsSimulator) -> None:
    sim.token_lifetime = -10
    with pytest.raises(ApiAuthError):
        await anext(client.events())
    assert sim.request_counts["websocket"] == 2
    assert sim.request_counts["token"] == 2


async def test_events_wrong_project_rejected(
    session: aiohttp.ClientSession, server: TestServer, sim: InstathingsSimulator
) -> None:
    client = make_client(session, server, project="someone-else")
    with pytest.raises(ApiAuthError):
        await anext(client.events())


@pytest.mark.parametrize(("status", "error"), [(500, ApiConnectionError), (429, ApiRateLimitError)])
async def test_events_handshake_errors(
    client: InstathingsClient, sim: InstathingsSimulator, status: int, error: type[Exception]
) -> None:
    await client.access_token()
    sim.fail_next(1, status, retry_after=3)
    with pytest.raises(error):
        await anext(client.events())


async def test_events_not_a_websocket_server(
    raw: tuple[RawVendor, TestServer], session: aiohttp.ClientSession
) -> None:
    vendor, server = raw
    vendor.answers["/nows"] = (200, "{}")
    client = InstathingsClient(
        session, _base(server), _base(server) + "/nows", "p", CLIENT_ID, CLIENT_SECRET
    )
    with pytest.raises(ApiConnectionError):
        await anext(client.events())


async def test_events_unreachable(session: aiohttp.ClientSession) -> None:
    client = InstathingsClient(
        session, "http://127.0.0.1:1", "ws://127.0.0.1:1", "p", CLIENT_ID, CLIENT_SECRET
    )
    # Token first fails to connect as well; both paths raise the connection error.
    with pytest.raises(ApiConnectionError):
        await anext(client.events())


async def test_events_binary_frames(
    raw: tuple[RawVendor, TestServer], raw_client: InstathingsClient
) -> None:
    vendor, _ = raw
    vendor.frames = [json.dumps(DOC_DATA).encode(), b"\xff\xfe"]
    async with aclosing(raw_client.events()) as stream:
        assert isinstance(await next_event(stream), DataEvent)
        bad = await next_event(stream)
        assert isinstance(bad, BadMessage)
        assert bad.reason == "binary message is not UTF-8"
        with pytest.raises(ApiConnectionError):
            await next_event(stream)
    assert any(seen.startswith("/?project=demo&access_token=opaque") for seen in vendor.seen)


async def test_events_websocket_unreachable(
    session: aiohttp.ClientSession, server: TestServer
) -> None:
    client = InstathingsClient(
        session, _base(server), "ws://127.0.0.1:1", PROJECT, CLIENT_ID, CLIENT_SECRET
    )
    with pytest.raises(ApiConnectionError) as err:
        await anext(client.events())
    assert "access_token" not in str(err.value)
    assert err.value.__cause__ is None  # aiohttp's text would quote the URL and its token


async def test_events_dead_connection_detected_by_heartbeat(
    raw: tuple[RawVendor, TestServer], session: aiohttp.ClientSession
) -> None:
    vendor, server = raw
    vendor.hold_open = True
    base = _base(server)
    client = InstathingsClient(
        session, base, base, PROJECT, CLIENT_ID, CLIENT_SECRET, ws_heartbeat=0.1
    )
    async with aclosing(client.events()) as stream:
        with pytest.raises(ApiConnectionError) as err:
            await next_event(stream)
    assert "ServerTimeoutError" in str(err.value)
    # aiohttp re-arms one heartbeat timer after reporting the timeout; let it run out.
    await asyncio.sleep(0.3)


async def test_events_on_connected_runs_before_reading_and_buffers_messages(
    client: InstathingsClient, sim: InstathingsSimulator
) -> None:
    """Catching up inside ``on_connected`` loses nothing sent meanwhile."""
    order: list[str] = []

    async def on_connected() -> None:
        order.append("connected")
        assert len(sim.websockets) == 1  # the socket is open already
        await sim.tick()  # messages arrive while the caller is still catching up
        order.append("caught up")

    async with aclosing(client.events(on_connected)) as stream:
        events = [await next_event(stream) for _ in range(3)]
    assert order == ["connected", "caught up"]
    assert {event.record.device_id for event in events if isinstance(event, DataEvent)} == {
        SENSOR_ID,
        PLUG_ID,
        VIRTUAL_ID,
    }
    await wait_until(lambda: not sim.websockets)


async def test_events_on_connected_failure_closes_the_socket(
    client: InstathingsClient, sim: InstathingsSimulator
) -> None:
    async def on_connected() -> None:
        raise ApiConnectionError("catch-up failed")

    async with aclosing(client.events(on_connected)) as stream:
        with pytest.raises(ApiConnectionError, match="catch-up failed"):
            await next_event(stream)
    await wait_until(lambda: not sim.websockets)


# --- regressions: limits and impossible times -----------------------------------------


async def test_events_oversized_message_is_payload_error(
    raw: tuple[RawVendor, TestServer], raw_client: InstathingsClient
) -> None:
    """aiohttp's default would let one 4 MiB frame through; ours stops at MAX_WS_MESSAGE."""
    vendor, _ = raw
    vendor.frames = ["x" * (MAX_WS_MESSAGE + 1)]
    async with aclosing(raw_client.events()) as stream:
        with pytest.raises(ApiPayloadError, match="larger than"):
            await next_event(stream)


@pytest.mark.parametrize(
    "ts",
    [9999999999999, 1e20, 10**400, -1, 5, "9999-12-31T23:59:59-14:00", "1e400"],
    ids=["year 2286", "1e20", "10**400", "-1", "5", "9999-14:00", "1e400 text"],
)
def test_impossible_record_time_makes_only_that_record_invalid(ts: Any) -> None:
    payload = {"deviceId": "a", "ts": ts, "data": {"v": 1}}
    assert parse_record(payload) is None
    assert isinstance(parse_event(json.dumps({"action": "data", "payload": payload})), BadMessage)


def test_impossible_device_creation_time_reads_as_none() -> None:
    device = parse_device({"id": "g", "ts": "9999-12-31T23:59:59-14:00"})
    assert device is not None
    assert device.created_ms is None


def test_deeply_nested_message_is_a_bad_message() -> None:
    """json.loads raises RecursionError, not ValueError, on deep nesting."""
    assert isinstance(parse_event("[" * 100_000), BadMessage)
    assert jwt_claims("a." + base64.urlsafe_b64encode(b"[" * 100_000).decode() + ".c") is None
