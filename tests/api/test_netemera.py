"""Netemera client against the simulator: OAuth, SSE uplinks, history and downlinks."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
import json
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
import pytest

from custom_components.iot_bridge.api.cayenne_lpp import LppDecodeError, decode
from custom_components.iot_bridge.api.errors import (
    ApiAuthError,
    ApiCommandError,
    ApiConnectionError,
    ApiForbiddenError,
    ApiPayloadError,
    ApiRateLimitError,
)
from custom_components.iot_bridge.api.netemera import (
    BadEvent,
    GatewayInfo,
    KeepAlive,
    NetemeraClient,
    StreamItem,
    Uplink,
    parse_uplink,
    validate_hex,
)
from custom_components.iot_bridge.api.timestamps import InvalidTimestampError
from simulators.netemera import (
    APPLICATION_ID,
    CLIENT_ID,
    CLIENT_SECRET,
    NetemeraSimulator,
    decode_id,
    encode_id,
)

# The Home Assistant test plugin blocks sockets; these tests only talk to 127.0.0.1.
pytestmark = pytest.mark.usefixtures("socket_enabled")

CLIMATE, LIGHT, RELAY, RAW = (
    "70b3d5ca40000000",
    "70b3d5ca40000001",
    "70b3d5ca40000002",
    "70b3d5ca40000003",
)
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)

DOC_SAMPLE = {
    "dev_eui": "70b3d5ca40000031",
    "recv_time": "2016-10-31T21:41:51.765598114Z",
    "f_port": 1,
    "f_cnt_up": 1,
    "ack": False,
    "adr": False,
    "data_rate": 0,
    "ul_freq": 868.3,
    "gw_info": [{"id": "7276ff002e0400e8", "rssi": -116.0, "snr": -15.2}],
    "frm_payload": "200A",
}


@pytest.fixture
def sim() -> NetemeraSimulator:
    simulator = NetemeraSimulator()
    simulator.keepalive_interval = 0.05
    return simulator


@pytest.fixture
async def server(sim: NetemeraSimulator) -> AsyncIterator[TestServer]:
    test_server = TestServer(sim.make_app(), host="127.0.0.1")
    await test_server.start_server()
    yield test_server
    await test_server.close()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def base_url(server: TestServer) -> str:
    return f"http://127.0.0.1:{server.port}"


@pytest.fixture
def client(session: aiohttp.ClientSession, server: TestServer) -> NetemeraClient:
    base = base_url(server)
    return NetemeraClient(session, base, base + "/api/v3", CLIENT_ID, CLIENT_SECRET, APPLICATION_ID)


def uplink_at(sim: NetemeraSimulator, dev_eui: str, minutes: float) -> dict[str, Any]:
    return sim.make_uplink(sim.devices[dev_eui], T0 + timedelta(minutes=minutes))


async def collect(
    client: NetemeraClient,
    count: int,
    *,
    last_event_id: str | None = None,
    on_open: Callable[[], object] | None = None,
    keepalives: bool = False,
) -> list[StreamItem]:
    """Read ``count`` items (KeepAlives skipped unless asked); call on_open once connected."""
    items: list[StreamItem] = []
    async with asyncio.timeout(5), aclosing(client.stream(last_event_id)) as stream:
        async for item in stream:
            if on_open is not None:
                on_open()
                on_open = None
            if keepalives or not isinstance(item, KeepAlive):
                items.append(item)
            if len(items) == count:
                break
    return items


# --- authorization --------------------------------------------------------------------


async def test_token_is_fetched_once_and_reused(
    client: NetemeraClient, sim: NetemeraSimulator
) -> None:
    await client.history(T0)
    await client.history(T0)
    assert sim.request_counts["token"] == 1
    assert sim.request_counts["history"] == 2
    assert client.requests_sent == 3


async def test_auth_url_may_be_the_full_token_endpoint(
    session: aiohttp.ClientSession, server: TestServer, sim: NetemeraSimulator
) -> None:
    base = base_url(server)
    client = NetemeraClient(
        session,
        base + "/api/v1/oauth2/token",
        base + "/api/v3/",
        CLIENT_ID,
        CLIENT_SECRET,
        APPLICATION_ID,
    )
    assert await client.history(T0) == []
    assert sim.request_counts["token"] == 1


async def test_bad_client_secret_is_auth_error(
    session: aiohttp.ClientSession, server: TestServer
) -> None:
    base = base_url(server)
    client = NetemeraClient(session, base, base + "/api/v3", CLIENT_ID, "wrong", APPLICATION_ID)
    with pytest.raises(ApiAuthError):
        await client.history(T0)


async def test_invalid_client_answered_400_is_auth_error(
    client: NetemeraClient, sim: NetemeraSimulator
) -> None:
    sim.fail_next(
        1, 400, route="token", body='{"error": "invalid_client"}', content_type="application/json"
    )
    with pytest.raises(ApiAuthError):
        await client.history(T0)


async def test_other_token_400_is_payload_error(
    client: NetemeraClient, sim: NetemeraSimulator
) -> None:
    sim.fail_next(1, 400, route="token", body="nope")
    with pytest.raises(ApiPayloadError):
        await client.history(T0)


async def test_audience_must_be_the_api_url(client: NetemeraClient, sim: NetemeraSimulator) -> None:
    sim.audience = "https://elsewhere.example/api/v3"
    with pytest.raises(ApiForbiddenError):
        await client.history(T0)


@pytest.mark.parametrize(
    "body", ["not json", "[]", '{"token_type": "Bearer"}', '{"access_token": ""}']
)
async def test_malformed_token_answer_is_payload_error(
    client: NetemeraClient, sim: NetemeraSimulator, body: str
) -> None:
    sim.fail_next(1, 200, route="token", body=body, content_type="application/json")
    with pytest.raises(ApiPayloadError):
        await client.history(T0)


async def test_token_server_error_is_connection_error(
    client: NetemeraClient, sim: NetemeraSimulator
) -> None:
    sim.fail_next(1, 503, route="token")
    with pytest.raises(ApiConnectionError):
        await client.history(T0)


async def test_expires_in_as_string_is_honoured(
    client: NetemeraClient, sim: NetemeraSimulator
) -> None:
    sim.expires_in_as_string = True
    sim.token_lifetime = 1
    await client.history(T0)
    await client.history(T0)
    assert sim.request_counts["token"] == 1
    await asyncio.sleep(1.0)
    # Refreshed before use because the cached token's lifetime ran out, not after a 401.
    await client.history(T0)
    assert sim.request_counts["token"] == 2
    assert sim.request_counts["history"] == 3


async def test_expired_token_is_refreshed_once_on_401(
    client: NetemeraClient, sim: NetemeraSimulator
) -> None:
    await client.history(T0)
    sim.expire_tokens()
    await client.history(T0)
    assert sim.request_counts["token"] == 2
    assert sim.request_counts["history"] == 3
    assert client.requests_sent == 5


async def test_second_401_after_refresh_is_auth_error(
    client: NetemeraClient, sim: NetemeraSimulator
) -> None:
    sim.fail_next(2, 401, route="history")
    with pytest.raises(ApiAuthError):
        await client.history(T0)
    assert sim.request_counts["token"] == 2


async def test_concurrent_calls_share_one_token_request(
    client: NetemeraClient, sim: NetemeraSimulator
) -> None:
    await asyncio.gather(*(client.history(T0) for _ in range(5)))
    assert sim.request_counts["token"] == 1


@pytest.mark.parametrize("status", [403, 405])
async def test_missing_permissions_is_forbidden(
    client: NetemeraClient, sim: NetemeraSimulator, status: int
) -> None:
    sim.forbidden = True
    sim.forbidden_status = status
    with pytest.raises(ApiForbiddenError):
        await client.history(T0)
    with pytest.raises(ApiForbiddenError):
        await client.send_downlink(RELAY, 1, b"\x01")
    with pytest.raises(ApiForbiddenError):
        await collect(client, 1)


async def test_other_application_is_forbidden(
    session: aiohttp.ClientSession, server: TestServer
) -> None:
    base = base_url(server)
    client = NetemeraClient(session, base, base + "/api/v3", CLIENT_ID, CLIENT_SECRET, "not-mine")
    with pytest.raises(ApiForbiddenError):
        await client.history(T0)


async def test_unreachable_server_is_connection_error(session: aiohttp.ClientSession) -> None:
    base = "http://127.0.0.1:9"
    client = NetemeraClient(session, base, base + "/api/v3", CLIENT_ID, CLIENT_SECRET, "app")
    with pytest.raises(ApiConnectionError):
        await client.history(T0)
    with pytest.raises(ApiConnectionError):
        await client.send_downlink(RELAY, 1, b"")


# --- history --------------------------------------------------------------------------


async def test_history_range_is_inclusive_exclusive_and_oldest_first(
    client: NetemeraClient, sim: NetemeraSimulator
) -> None:
    # Emitted out of order on purpose: the app stream has no total order either.
    for dev_eui, minute in [(LIGHT, 5), (CLIMATE, 0), (CLIMATE, 10), (RAW, 2), (LIGHT, -1)]:
        sim.emit(uplink_at(sim, dev_eui, minute))
    uplinks = await client.history(T0, T0 + timedelta(minutes=10))
    assert [(u.dev_eui, u.recv_time) for u in uplinks] == [
        (CLIMATE, T0),
        (RAW, T0 + timedelta(minutes=2)),
        (LIGHT, T0 + timedelta(minutes=5)),
    ]
    assert all(u.event_id is None for u in uplinks)


async def test_history_is_sorted_whatever_order_the_server_uses(
    client: NetemeraClient, sim: NetemeraSimulator
) -> None:
    sim.history_newest_first = True
    for minute in range(3):
        sim.emit(uplink_at(sim, CLIMATE, minute))
    uplinks = await client.history(T0, T0 + timedelta(hours=1))
    assert [u.f_cnt_up for u in uplinks] == [1, 2, 3]


async def test_history_without_end_reaches_now(
    client: NetemeraClient, sim: NetemeraSimulator
) -> None:
    sim.send_uplink(CLIMATE)
    uplinks = await client.history(datetime.now(UTC) - timedelta(minutes=1))
    assert [u.dev_eui for u in uplinks] == [CLIMATE]


async def test_history_follows_a_capped_server_and_drops_boundary_repeats(
    client: NetemeraClient, sim: NetemeraSimulator
) -> None:
    sim.history_limit = 2
    for minute in range(5):
        sim.emit(uplink_at(sim, CLIMATE, minute))
    sim.emit(uplink_at(sim, LIGHT, 4))  # same timestamp as the last climate uplink
    uplinks = await client.history(T0, T0 + timedelta(hours=1))
    assert [(u.dev_eui, u.f_cnt_up) for u in uplinks] == [
        (CLIMATE, 1),
        (CLIMATE, 2),
        (CLIMATE, 3),
        (CLIMATE, 4),
        (CLIMATE, 5),
        (LIGHT, 1),
    ]


async def test_history_costs_one_request_when_empty_two_otherwise(
    client: NetemeraClient, sim: NetemeraSimulator
) -> None:
    await client.history(T0, T0 + timedelta(hours=1))
    assert sim.request_counts["history"] == 1
    sim.emit(uplink_at(sim, CLIMATE, 1))
    await client.history(T0, T0 + timedelta(hours=1))
    assert sim.request_counts["history"] == 3


async def test_history_skips_bad_items_and_tolerates_missing_fields(
    client: NetemeraClient, sim: NetemeraSimulator
) -> None:
    sim.emit({"recv_time": "2024-05-01T12:01:00Z", "f_cnt_up": 3})  # no dev_eui: skipped
    sim.emit({"dev_eui": CLIMATE, "recv_time": "2024-05-01T12:02:00Z", "f_cnt_up": "x"})
    uplinks = await client.history(T0, T0 + timedelta(hours=1))
    assert len(uplinks) == 1
    assert uplinks[0].dev_eui == CLIMATE
    assert uplinks[0].f_cnt_up is None
    assert uplinks[0].payload is None
    assert uplinks[0].gateways == ()


@pytest.mark.parametrize("body", ["not json", '{"items": []}'])
async def test_history_malformed_body_is_payload_error(
    client: NetemeraClient, sim: NetemeraSimulator, body: str
) -> None:
    sim.fail_next(1, 200, route="history", body=body, content_type="application/json")
    with pytest.raises(ApiPayloadError):
        await client.history(T0)


async def test_history_server_errors(client: NetemeraClient, sim: NetemeraSimulator) -> None:
    sim.fail_next(1, 500, route="history")
    with pytest.raises(ApiConnectionError):
        await client.history(T0)
    sim.fail_next(1, 429, retry_after=30, route="history")
    with pytest.raises(ApiRateLimitError) as err:
        await client.history(T0)
    assert err.value.retry_after == 30


async def test_history_refuses_naive_datetimes(client: NetemeraClient) -> None:
    with pytest.raises(ValueError):
        await client.history(datetime(2024, 1, 1))  # noqa: DTZ001


# --- stream ---------------------------------------------------------------------------


async def test_stream_yields_uplinks_with_ids_and_keepalives(
    client: NetemeraClient, sim: NetemeraSimulator
) -> None:
    ids: list[str] = []
    items = await collect(
        client,
        4,
        keepalives=True,
        on_open=lambda: ids.extend(sim.send_uplink(e) for e in (CLIMATE, LIGHT)),
    )
    assert isinstance(items[0], KeepAlive)
    uplinks = [item for item in items if isinstance(item, Uplink)]
    assert [(u.dev_eui, u.event_id) for u in uplinks] == [(CLIMATE, ids[0]), (LIGHT, ids[1])]
    climate = uplinks[0]
    assert climate.f_port == 1
    assert climate.f_cnt_up == 1
    assert climate.payload is not None
    assert climate.payload_hex == climate.payload.hex().upper()
    assert climate.recv_time is not None
    assert climate.recv_time.tzinfo is not None
    assert climate.frequency in (868.1, 868.3, 868.5)
    assert climate.best_gateway == GatewayInfo("7276ff002e0400e9", -97.0, 7.25)
    assert [v.name for v in decode(climate.payload or b"")] == [
        "temperature",
        "humidity",
        "barometer",
    ]
    assert sim.stream_last_event_ids == [None]
    assert client.requests_sent == 2


@pytest.mark.parametrize("ending", ["\r\n", "\r"])
async def test_stream_framing_with_other_line_endings_and_multiline_data(
    client: NetemeraClient, sim: NetemeraSimulator, ending: str
) -> None:
    sim.line_ending = ending
    sim.multiline_every = 1
    items = await collect(client, 2, on_open=lambda: [sim.send_uplink(LIGHT) for _ in range(2)])
    assert [(i.dev_eui, i.f_cnt_up) for i in items if isinstance(i, Uplink)] == [
        (LIGHT, 1),
        (LIGHT, 2),
    ]


async def test_stream_resumes_after_last_event_id(
    client: NetemeraClient, sim: NetemeraSimulator
) -> None:
    first = sim.emit(uplink_at(sim, CLIMATE, 0))
    sim.emit(uplink_at(sim, CLIMATE, 1))
    sim.emit(uplink_at(sim, LIGHT, 2))
    items = await collect(client, 2, last_event_id=first)
    assert [(i.dev_eui, i.f_cnt_up) for i in items if isinstance(i, Uplink)] == [
        (CLIMATE, 2),
        (LIGHT, 1),
    ]
    assert sim.stream_last_event_ids == [first]
    # No Last-Event-ID means live data only: nothing replayed before the new uplink.
    items = await collect(client, 1, on_open=lambda: sim.send_uplink(RAW))
    assert [i.dev_eui for i in items if isinstance(i, Uplink)] == [RAW]


async def test_stream_reports_bad_events_and_goes_on(
    client: NetemeraClient, sim: NetemeraSimulator
) -> None:
    def inject() -> None:
        sim.emit_raw("data: not json\nid: AAAAAAAAAAE=\n\n")
        sim.emit_raw('data: {"f_cnt_up": 1}\n\n')
        sim.emit_raw("data: [1, 2]\n\n")
        sim.emit_raw('event: status\ndata: {"dev_eui": "ignored"}\n\n')
        sim.emit_raw("data: " + "[" * 50000 + "\n\n")
        sim.send_uplink(RAW)

    items = await collect(client, 5, on_open=inject)
    assert items[:3] == [
        BadEvent("data is not JSON", "not json", "AAAAAAAAAAE="),
        BadEvent("uplink has no dev_eui", '{"f_cnt_up": 1}', "AAAAAAAAAAE="),
        BadEvent("uplink is not a JSON object", "[1, 2]", "AAAAAAAAAAE="),
    ]
    assert items[3] == BadEvent("data is not JSON", "[" * 200, "AAAAAAAAAAE=")
    raw = items[4]
    assert isinstance(raw, Uplink)
    assert raw.dev_eui == RAW
    assert raw.f_port == 10
    with pytest.raises(LppDecodeError):
        decode(raw.payload or b"")


async def test_stream_duplicates_are_passed_through_for_the_caller_to_drop(
    client: NetemeraClient, sim: NetemeraSimulator
) -> None:
    sim.duplicate_next = 1

    def send() -> None:
        sim.send_uplink(CLIMATE)
        sim.resend_last(CLIMATE)

    items = await collect(client, 3, on_open=send)
    uplinks = [i for i in items if isinstance(i, Uplink)]
    assert {(u.dev_eui, u.f_cnt_up) for u in uplinks} == {(CLIMATE, 1)}
    assert len({u.event_id for u in uplinks}) == 3


@pytest.mark.parametrize("abort", [False, True])
async def test_stream_drop_raises_connection_error(
    client: NetemeraClient, sim: NetemeraSimulator, abort: bool
) -> None:
    with pytest.raises(ApiConnectionError):
        await collect(client, 10, on_open=lambda: sim.drop_streams(abort=abort))


async def test_stream_idle_timeout_raises_connection_error(
    session: aiohttp.ClientSession, server: TestServer, sim: NetemeraSimulator
) -> None:
    sim.keepalive_interval = 30
    base = base_url(server)
    client = NetemeraClient(
        session,
        base,
        base + "/api/v3",
        CLIENT_ID,
        CLIENT_SECRET,
        APPLICATION_ID,
        stream_idle_timeout=0.2,
    )
    with pytest.raises(ApiConnectionError, match="keep-alive missed"):
        await collect(client, 1)


async def test_stream_refreshes_token_once_on_401(
    client: NetemeraClient, sim: NetemeraSimulator
) -> None:
    await client.history(T0)
    sim.expire_tokens()
    items = await collect(client, 1, on_open=lambda: sim.send_uplink(LIGHT))
    assert isinstance(items[0], Uplink)
    assert sim.request_counts["token"] == 2
    assert sim.request_counts["stream"] == 2


async def test_stream_persistent_401_is_auth_error(
    client: NetemeraClient, sim: NetemeraSimulator
) -> None:
    sim.fail_next(2, 401, route="stream")
    with pytest.raises(ApiAuthError):
        await collect(client, 1)


async def test_stream_connect_errors(client: NetemeraClient, sim: NetemeraSimulator) -> None:
    sim.fail_next(1, 502, route="stream")
    with pytest.raises(ApiConnectionError):
        await collect(client, 1)
    sim.fail_next(1, 429, retry_after=5, route="stream")
    with pytest.raises(ApiRateLimitError):
        await collect(client, 1)
    sim.fail_next(1, 200, route="stream", body="[]", content_type="application/json")
    with pytest.raises(ApiPayloadError, match="application/json"):
        await collect(client, 1)
    sim.fail_next(1, 204, route="stream", body="")
    with pytest.raises(ApiPayloadError):
        await collect(client, 1)


async def test_stream_refused_last_event_id_says_so(client: NetemeraClient) -> None:
    with pytest.raises(ApiPayloadError, match="Last-Event-ID"):
        await collect(client, 1, last_event_id="not-an-id")


async def test_stream_oversized_line_is_payload_error(
    client: NetemeraClient, sim: NetemeraSimulator
) -> None:
    with pytest.raises(ApiPayloadError, match="longer than"):
        await collect(client, 1, on_open=lambda: sim.emit_raw("data: " + "x" * 70000))


# --- downlink -------------------------------------------------------------------------


async def test_downlink_body_and_relay_reflects_it(
    client: NetemeraClient, sim: NetemeraSimulator
) -> None:
    async def switch_on() -> None:
        await client.send_downlink(RELAY, 2, bytes.fromhex("010101"), confirmed=True)

    tasks: list[asyncio.Task[None]] = []
    items = await collect(
        client, 1, on_open=lambda: tasks.append(asyncio.get_running_loop().create_task(switch_on()))
    )
    await asyncio.gather(*tasks)
    assert sim.downlinks == [
        {"dev_eui": RELAY, "f_port": 2, "confirmed": True, "frm_payload": "010101"}
    ]
    relay = items[0]
    assert isinstance(relay, Uplink)
    assert relay.dev_eui == RELAY
    assert relay.payload == bytes.fromhex("010101")


async def test_downlink_without_payload_omits_frm_payload(
    client: NetemeraClient, sim: NetemeraSimulator
) -> None:
    await client.send_downlink(CLIMATE, 1, b"")
    assert sim.downlinks == [{"dev_eui": CLIMATE, "f_port": 1, "confirmed": False}]


@pytest.mark.parametrize(("port", "payload"), [(0, b""), (224, b""), (1, bytes(243))])
async def test_downlink_invalid_arguments_are_refused_locally(
    client: NetemeraClient, port: int, payload: bytes
) -> None:
    with pytest.raises(ApiCommandError):
        await client.send_downlink(RELAY, port, payload)
    assert client.requests_sent == 0


async def test_downlink_refused_by_server_is_command_error(
    client: NetemeraClient, sim: NetemeraSimulator
) -> None:
    with pytest.raises(ApiCommandError, match="unknown dev_eui"):
        await client.send_downlink("0000000000000000", 1, b"\x01")
    sim.fail_next(1, 500, route="downlink")
    with pytest.raises(ApiConnectionError):
        await client.send_downlink(RELAY, 1, b"\x01")
    sim.expire_tokens()
    await client.send_downlink(RELAY, 1, b"\x01")
    assert sim.request_counts["token"] == 2
    assert len(sim.downlinks) == 1


# --- parsing and helpers --------------------------------------------------------------


def test_parse_uplink_doc_sample() -> None:
    uplink = parse_uplink(DOC_SAMPLE, "AAABWByxABU=")
    assert uplink == Uplink(
        dev_eui="70b3d5ca40000031",
        f_cnt_up=1,
        f_port=1,
        payload=b"\x20\x0a",
        payload_hex="200A",
        recv_time=datetime(2016, 10, 31, 21, 41, 51, 765598, tzinfo=UTC),
        data_rate=0,
        frequency=868.3,
        ack=False,
        adr=False,
        gateways=(GatewayInfo("7276ff002e0400e8", -116.0, -15.2),),
        event_id="AAABWByxABU=",
    )


def test_parse_uplink_is_tolerant_of_wrong_types() -> None:
    uplink = parse_uplink(
        {
            "dev_eui": "x",
            "recv_time": None,
            "f_port": None,
            "ack": "no",
            "ul_freq": "868.1",
            "gw_info": [{"id": 5, "rssi": "bad"}, "junk"],
            "frm_payload": "ZZ",
        }
    )
    assert uplink.recv_time is None
    assert uplink.f_port is None
    assert uplink.ack is None
    assert uplink.frequency == 868.1
    assert uplink.gateways == (GatewayInfo(None, None, None),)
    assert uplink.payload is None
    assert uplink.payload_hex == "ZZ"


def test_naive_recv_time_is_read_as_utc() -> None:
    uplink = parse_uplink({"dev_eui": "x", "recv_time": "2024-05-01T12:00:00"})
    assert uplink.recv_time == T0


@pytest.mark.parametrize("raw", [None, [], "x", {"dev_eui": ""}, {"dev_eui": 5}])
def test_parse_uplink_needs_an_object_with_dev_eui(raw: Any) -> None:
    with pytest.raises(ApiPayloadError):
        parse_uplink(raw)


def test_best_gateway_prefers_snr_then_rssi() -> None:
    def best(*gateways: tuple[float | None, float | None]) -> int | None:
        uplink = parse_uplink(
            {
                "dev_eui": "x",
                "gw_info": [
                    {"id": str(i), "rssi": rssi, "snr": snr}
                    for i, (rssi, snr) in enumerate(gateways)
                ],
            }
        )
        gateway = uplink.best_gateway
        return None if gateway is None else int(gateway.id or "-1")

    assert best() is None
    assert best((-80, 2.0), (-100, 7.5)) == 1
    assert best((-100, 5.0), (-90, 5.0)) == 1
    assert best((-60, None), (-120, -15.0)) == 1
    assert best((None, None), (-120, None)) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("01FF", b"\x01\xff"),
        ("01 ff", b"\x01\xff"),
        ("0x01ff", b"\x01\xff"),
        ("01:FF", b"\x01\xff"),
        ("", b""),
    ],
)
def test_validate_hex_accepts(text: str, expected: bytes) -> None:
    assert validate_hex(text) == expected


@pytest.mark.parametrize(
    ("text", "reason"), [("0G", "hex digits"), ("012", "even"), ("00" * 243, "at most")]
)
def test_validate_hex_refuses(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        validate_hex(text)


# --- simulator contract ---------------------------------------------------------------


def test_simulator_ids_are_the_docs_millisecond_timestamps() -> None:
    assert decode_id("AAABWByxABU=") == 1477950111765
    assert encode_id(1477950111765) == "AAABWByxABU="
    assert decode_id("not base64!") is None


def test_simulator_device_payloads() -> None:
    sim = NetemeraSimulator()
    kinds = {dev.kind: dev for dev in sim.devices.values()}
    assert [v.name for v in decode(kinds["light"].payload())] == ["illuminance"]
    assert [v.name for v in decode(kinds["relay"].payload())] == ["digital_output"]
    with pytest.raises(LppDecodeError):
        decode(kinds["raw"].payload())


async def test_five_hundred_devices_in_one_history_call(
    client: NetemeraClient, sim: NetemeraSimulator
) -> None:
    sim.add_devices(496)
    assert len(sim.devices) == 500
    sim.tick()
    uplinks = await client.history(datetime.now(UTC) - timedelta(minutes=1))
    assert len({u.dev_eui for u in uplinks}) == 500
    assert client.requests_sent == 3


async def test_authorize_fetches_a_token_and_tells_audience_refusal_apart(
    client: NetemeraClient, sim: NetemeraSimulator
) -> None:
    await client.authorize()
    await client.authorize()  # cached
    assert sim.request_counts["token"] == 1
    sim.expire_tokens()
    sim.audience = "https://elsewhere.example/api/v3"
    fresh = NetemeraClient(
        client._session,
        client._auth.endpoint.url,
        client._api_url,
        CLIENT_ID,
        CLIENT_SECRET,
        APPLICATION_ID,
    )
    with pytest.raises(ApiForbiddenError, match="token"):
        await fresh.authorize()


async def test_stream_on_open_runs_once_connected_before_any_item(
    client: NetemeraClient, sim: NetemeraSimulator
) -> None:
    order: list[str] = []

    async def on_open() -> None:
        order.append("open")
        # Emitted while the caller catches up: the stream still delivers it after.
        sim.send_uplink(RAW)

    async with asyncio.timeout(5), aclosing(client.stream(on_open=on_open)) as stream:
        async for item in stream:
            if isinstance(item, Uplink):
                order.append(item.dev_eui)
                break
    assert order == ["open", RAW]


# --- regressions: impossible receive times ------------------------------------------

FAR_FUTURE = "9999-12-31T23:59:59-14:00"  # valid ISO 8601, but past datetime.max in UTC


@pytest.mark.parametrize("recv_time", [FAR_FUTURE, "9999-12-31T00:00:00Z", "yesterday", 5, []])
def test_impossible_recv_time_makes_the_uplink_invalid(recv_time: Any) -> None:
    with pytest.raises(InvalidTimestampError):
        parse_uplink({"dev_eui": "x", "recv_time": recv_time})


async def test_stream_reports_an_impossible_recv_time_as_bad_event_and_goes_on(
    client: NetemeraClient, sim: NetemeraSimulator
) -> None:
    def send() -> None:
        sim.emit({**uplink_at(sim, CLIMATE, 0), "recv_time": FAR_FUTURE})
        sim.send_uplink(LIGHT)

    bad, good = await collect(client, 2, on_open=send)
    assert isinstance(bad, BadEvent)
    assert bad.reason.startswith("recv_time '9999-12-31T23:59:59-14:00': out of range")
    assert isinstance(good, Uplink)
    assert good.dev_eui == LIGHT


async def test_history_skips_an_impossible_recv_time(
    client: NetemeraClient, sim: NetemeraSimulator
) -> None:
    """It used to become the paging cursor, and formatting it raised OverflowError."""
    good = uplink_at(sim, CLIMATE, 1)
    answer = [good, {**uplink_at(sim, LIGHT, 2), "recv_time": FAR_FUTURE}]
    sim.fail_next(1, 200, route="history", body=json.dumps(answer), content_type="application/json")
    uplinks = await client.history(T0, T0 + timedelta(hours=1))
    assert [(u.dev_eui, u.recv_time) for u in uplinks] == [(CLIMATE, T0 + timedelta(minutes=1))]
