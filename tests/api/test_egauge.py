"""eGauge WebAPI client against the simulated meter."""

from __future__ import annotations

from collections.abc import AsyncIterator
import json
import socket
from typing import Any

import aiohttp
from aiohttp.test_utils import BaseTestServer, TestServer
import pytest

from custom_components.iot_bridge.api.egauge import (
    REGISTER_TYPES,
    EgaugeClient,
    EgaugeRegister,
    normalize_url,
    parse_history,
    parse_readings,
)
from custom_components.iot_bridge.api.errors import (
    ApiAuthError,
    ApiConnectionError,
    ApiForbiddenError,
    ApiPayloadError,
)
from simulators.egauge import QUANTUM, EgaugeSimulator

pytestmark = pytest.mark.usefixtures("socket_enabled")

DOCUMENTED_CODES = {
    "#": (None, 1), "#3": (None, 0.001), "d": (None, 1), "P": ("W", 1), "S": ("VA", 1),
    "var": ("var", 1), "V": ("V", 0.001), "I": ("A", 0.001), "R": ("Ω", 1),
    "Qe": ("Ah", 0.001), "T": ("°C", 0.001), "h": ("%", 0.001), "Pa": ("Pa", 1),
    "aq": (None, 0.001), "F": ("Hz", 0.001), "a": ("°", 0.001), "THD": ("%", 0.001),
    "Q": ("g/s", 1), "Qv": ("m³/s", 1e-9), "m": ("g", 0.001), "v": ("m/s", 0.001),
    "%": ("%", 0.001), "$": ("$/s", 2**-29), "Ee": ("W/m²", 1), "ppm": ("ppm", 0.001),
}  # fmt: skip


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim(clock: Clock) -> EgaugeSimulator:
    return EgaugeSimulator(clock=clock)


@pytest.fixture
async def server(sim: EgaugeSimulator) -> AsyncIterator[BaseTestServer]:
    async with TestServer(sim.make_app(), host="127.0.0.1") as test_server:
        yield test_server


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


def base_url(server: BaseTestServer) -> str:
    return str(server.make_url("")).rstrip("/")


@pytest.fixture
def client(session: aiohttp.ClientSession, server: BaseTestServer) -> EgaugeClient:
    return EgaugeClient(session, base_url(server), "owner", "secret")


def make_client(
    session: aiohttp.ClientSession, server: BaseTestServer, user: str, password: str
) -> EgaugeClient:
    return EgaugeClient(session, base_url(server), user, password)


# ----- URL and type table --------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("egauge12345.local", "https://egauge12345.local"),
        ("192.168.1.50:8080", "https://192.168.1.50:8080"),
        ("http://192.168.1.50:8080", "http://192.168.1.50:8080"),
        (" https://egauge12345.egaug.es/ ", "https://egauge12345.egaug.es"),
        ("https://devname.egauge.io/api", "https://devname.egauge.io"),
        ("https://devname.egauge.io/api/", "https://devname.egauge.io"),
        ("https://dev1.d.egauge.net", "https://dev1.d.egauge.net"),
        ("HTTPS://EGauge1.Local/", "https://egauge1.local"),
        ("http://[fd00::5]:8080/api", "http://[fd00::5]:8080"),
        ("https://proxy.example.com/meters/eg1/api", "https://proxy.example.com/meters/eg1"),
    ],
)
def test_normalize_url(text: str, expected: str) -> None:
    assert normalize_url(text) == expected
    assert normalize_url(expected) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "egauge 12345.local",
        "ftp://egauge12345.local",
        "https://egauge1.local:99999",
        "https://egauge1.local:abc",
        "https://egauge1.local:0",
        "https://",
        "http:///api",
        "https://-bad-.local",
        "https://user:pw@egauge1.local",
    ],
)
def test_normalize_url_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        normalize_url(text)


def test_register_types_cover_documented_codes() -> None:
    assert {code: (t.unit, t.quantum) for code, t in REGISTER_TYPES.items()} == DOCUMENTED_CODES
    assert all(t.code == code and t.description for code, t in REGISTER_TYPES.items())
    # The simulator keeps its own table; both must agree on every documented code.
    assert {code: q for code, (_, q) in DOCUMENTED_CODES.items()} == QUANTUM


def test_cumulative_uses_quantum() -> None:
    volts = EgaugeRegister(idx=0, name="L1", type_code="V", rate=120.0, counter=1_200_000)
    assert volts.cumulative() == pytest.approx(1200.0)
    assert volts.register_type is REGISTER_TYPES["V"]
    unknown = EgaugeRegister(idx=1, name="X", type_code="Z", rate=None, counter=-42)
    assert unknown.cumulative() == -42
    assert unknown.register_type is None
    assert EgaugeRegister(1, "X", "P", 1.0, None).cumulative() is None


# ----- login and readings --------------------------------------------------------


async def test_readings_match_simulator(
    client: EgaugeClient, sim: EgaugeSimulator, clock: Clock
) -> None:
    reading = await client.get_readings()
    # No token yet: GET (401 + challenge) -> POST login -> GET, no separate challenge call.
    assert client.requests_sent == 3
    assert sim.requests_by_path["/api/auth/unauthorized"] == 0
    assert sim.requests_by_path["/api/auth/login"] == 1
    assert sim.register_queries == ["rate&time=now", "rate&time=now"]
    assert reading.timestamp == pytest.approx(clock.now)
    assert set(reading.registers) == {reg.name for reg in sim.registers}
    assert {reg.type_code for reg in sim.registers} == set(DOCUMENTED_CODES) | {"Z"}
    for reg in sim.registers:
        ours = reading.registers[reg.name]
        assert (ours.idx, ours.type_code) == (reg.idx, reg.type_code)
        assert ours.rate == pytest.approx(sim.rate_of(reg.name))
        assert ours.counter == sim.counter_of(reg.name)
    mystery = reading.registers["Mystery Sensor"]
    assert mystery.cumulative() == mystery.counter

    for _ in range(3):
        clock.now += 5
        await client.get_readings()
    assert client.requests_sent == 6  # steady state: one request per poll


async def test_counters_integrate_rates(
    client: EgaugeClient, sim: EgaugeSimulator, clock: Clock
) -> None:
    sim.set_rate("Solar", 1000.0)
    sim.set_rate("L1 Voltage", 120.0)
    sim.set_rate("Grid", -1500.0)  # exporting
    sim.set_rate("Energy Cost", 0.5)
    before = await client.get_readings()
    clock.now += 60
    after = await client.get_readings()

    def gained(name: str) -> float:
        new, old = after.registers[name].cumulative(), before.registers[name].cumulative()
        assert new is not None
        assert old is not None
        return new - old

    assert gained("Solar") == pytest.approx(60_000, abs=1)  # W·s
    assert gained("L1 Voltage") == pytest.approx(7200, abs=0.01)  # V·s
    assert gained("Energy Cost") == pytest.approx(30, abs=1e-6)  # $
    assert gained("Grid") == pytest.approx(-90_000, abs=1)
    grid_before, grid_after = before.registers["Grid"], after.registers["Grid"]
    assert grid_after.counter is not None
    assert grid_before.counter is not None
    assert grid_after.counter < grid_before.counter
    assert grid_after.rate == -1500.0
    assert after.timestamp == pytest.approx(clock.now)


async def test_set_counter_type_and_removal(client: EgaugeClient, sim: EgaugeSimulator) -> None:
    sim.set_counter("House", 42)
    sim.set_type("Occupancy", "Z")
    sim.remove_register("Relay State")
    reading = await client.get_readings()
    assert reading.registers["House"].counter == 42
    assert reading.registers["Occupancy"].type_code == "Z"
    assert "Relay State" not in reading.registers
    assert reading.registers["Mystery Sensor"].idx == 27  # indices survive a removal


@pytest.mark.parametrize("expire", ["clock", "revoke"])
async def test_token_expiry_costs_three_requests(
    client: EgaugeClient, sim: EgaugeSimulator, clock: Clock, expire: str
) -> None:
    await client.login()
    assert client.requests_sent == 2
    await client.get_readings()
    assert client.requests_sent == 3
    if expire == "clock":
        clock.now += sim.token_lifetime + 1
    else:
        sim.revoke_all_tokens()
    await client.get_readings()
    assert client.requests_sent == 6
    assert sim.requests_by_path["/api/auth/unauthorized"] == 1  # only the explicit login()
    await client.get_readings()
    assert client.requests_sent == 7


async def test_401_without_challenge_fetches_one(
    client: EgaugeClient, sim: EgaugeSimulator
) -> None:
    await client.login()
    sim.fail_next_requests(1, status=401)  # body has no rlm/nnc
    await client.get_readings()
    assert client.requests_sent == 2 + 4
    assert sim.requests_by_path["/api/auth/unauthorized"] == 2


async def test_second_401_is_auth_error(client: EgaugeClient, sim: EgaugeSimulator) -> None:
    sim.token_lifetime = 0  # every token is stale on arrival
    with pytest.raises(ApiAuthError):
        await client.get_readings()
    assert client.requests_sent == 3


async def test_bad_credentials(
    session: aiohttp.ClientSession, server: BaseTestServer, sim: EgaugeSimulator
) -> None:
    wrong = make_client(session, server, "owner", "wrong")
    with pytest.raises(ApiAuthError, match="Authentication failed"):
        await wrong.login()
    with pytest.raises(ApiAuthError):
        await wrong.get_readings()
    stranger = make_client(session, server, "nobody", "secret")
    with pytest.raises(ApiAuthError):
        await stranger.login()
    assert sim._tokens == {}


async def test_nonce_expired_retries_once(client: EgaugeClient, sim: EgaugeSimulator) -> None:
    sim.expire_next_nonces = 1
    await client.get_readings()
    # GET 401 -> POST (Nonce expired.) -> GET challenge -> POST -> GET
    assert client.requests_sent == 5
    assert sim.requests_by_path["/api/auth/unauthorized"] == 1
    assert sim.requests_by_path["/api/auth/login"] == 2


async def test_nonce_expired_twice_is_auth_error(
    client: EgaugeClient, sim: EgaugeSimulator
) -> None:
    sim.expire_next_nonces = 2
    with pytest.raises(ApiAuthError, match="Nonce expired"):
        await client.login()
    assert sim.requests_by_path["/api/auth/login"] == 2


async def test_slow_login_sees_nonce_expire(
    client: EgaugeClient, sim: EgaugeSimulator, clock: Clock
) -> None:
    sim.nonce_lifetime = -1  # every nonce is older than its lifetime
    with pytest.raises(ApiAuthError):
        await client.login()
    sim.nonce_lifetime = 60
    await client.login()


async def test_forbidden_user(
    session: aiohttp.ClientSession, server: BaseTestServer, sim: EgaugeSimulator
) -> None:
    viewer = make_client(session, server, "viewer", "view")
    with pytest.raises(ApiForbiddenError):
        await viewer.get_readings()
    assert await viewer.get_rights() == frozenset()
    identity = await viewer.get_identity()
    assert (identity.serial, identity.hostname) == (sim.serial, None)


async def test_identity_and_rights(
    client: EgaugeClient,
    session: aiohttp.ClientSession,
    server: BaseTestServer,
    sim: EgaugeSimulator,
) -> None:
    identity = await client.get_identity()
    assert (identity.serial, identity.model, identity.hostname, identity.firmware) == (
        "G12345678",
        "EG4030",
        "egauge12345",
        "4.6.2",
    )
    assert sim.requests_by_path["/api/sys/version/firmware"] == 1
    assert await client.get_rights() == frozenset({"save", "ctrl"})

    sim.firmware = None  # older firmware without the resource
    data_only = make_client(session, server, "dataonly", "data")
    identity = await data_only.get_identity()
    assert (identity.hostname, identity.firmware) == (None, None)
    assert (await data_only.get_readings()).registers


async def test_identity_payload_errors(client: EgaugeClient, sim: EgaugeSimulator) -> None:
    sim.serial = ""
    with pytest.raises(ApiPayloadError):
        await client.get_identity()
    sim.serial = "G1"
    sim.model = None  # 404: an optional field
    assert (await client.get_identity()).model is None


@pytest.mark.parametrize("status", [500, 502, 503, 404])
async def test_server_errors(client: EgaugeClient, sim: EgaugeSimulator, status: int) -> None:
    await client.login()
    sim.fail_next_requests(1, status=status)
    with pytest.raises(ApiConnectionError):
        await client.get_readings()
    assert (await client.get_readings()).registers


async def test_login_server_error(client: EgaugeClient, sim: EgaugeSimulator) -> None:
    sim.fail_next_requests(1)
    with pytest.raises(ApiConnectionError):
        await client.login()


async def test_unreachable(session: aiohttp.ClientSession) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = EgaugeClient(session, f"http://127.0.0.1:{port}", "owner", "secret")
    with pytest.raises(ApiConnectionError):
        await client.get_readings()


async def test_malformed_json(client: EgaugeClient, sim: EgaugeSimulator) -> None:
    await client.login()
    sim.malformed_next = 1
    with pytest.raises(ApiPayloadError):
        await client.get_readings()
    sim.malformed_next = 1
    with pytest.raises(ApiPayloadError):
        await client.get_rights()


async def test_malformed_challenge_and_login(client: EgaugeClient, sim: EgaugeSimulator) -> None:
    sim.malformed_next = 1  # the challenge answers 200 with broken JSON
    with pytest.raises(ApiPayloadError):
        await client.login()
    sim.malformed_next, sim.malformed_path = 1, "/api/auth/login"
    with pytest.raises(ApiPayloadError):
        await client.login()
    await client.login()


async def test_odd_auth_answers(client: EgaugeClient, sim: EgaugeSimulator) -> None:
    sim.override_next("/api/auth/unauthorized", 401, {"error": "no challenge"})
    with pytest.raises(ApiPayloadError, match="rlm"):
        await client.login()
    sim.override_next("/api/auth/login", 200, {"jwt": 12})
    with pytest.raises(ApiPayloadError, match="jwt"):
        await client.login()
    sim.override_next("/api/auth/login", 200, {})
    with pytest.raises(ApiAuthError, match="no token"):
        await client.login()
    sim.override_next("/api/auth/login", 401, {"rlm": "x", "nnc": "y"})
    with pytest.raises(ApiAuthError):
        await client.login()
    await client.login()
    # a 401 whose body is not JSON still leads to a fresh challenge
    sim.revoke_all_tokens()
    sim.override_next("/api/register", 401, b"<html>")
    assert (await client.get_readings()).registers


async def test_odd_resource_answers(client: EgaugeClient, sim: EgaugeSimulator) -> None:
    sim.override_next("/api/sys/sn", 200, {"result": 12345})
    assert (await client.get_identity()).serial == "12345"
    sim.override_next("/api/config/net/hostname", 200, {"error": "no right"})
    assert (await client.get_identity()).hostname is None
    sim.override_next("/api/auth/rights", 200, {"usr": "owner"})
    with pytest.raises(ApiPayloadError):
        await client.get_rights()
    sim.override_next("/api/auth/rights", 200, {"usr": "owner", "rights": ["save", 7]})
    assert await client.get_rights() == frozenset({"save"})


async def test_close_survives_unreachable_meter(
    session: aiohttp.ClientSession, clock: Clock
) -> None:
    sim = EgaugeSimulator(clock=clock)
    async with TestServer(sim.make_app(), host="127.0.0.1") as server:
        client = make_client(session, server, "owner", "secret")
        await client.login()
    await client.close()  # the meter is gone: no exception
    assert client.requests_sent == 3
    await client.close()
    assert client.requests_sent == 3


def _hook(sim: EgaugeSimulator, change: Any) -> None:
    sim.register_body_hook = change


@pytest.mark.parametrize(
    "change",
    [
        lambda body: {k: v for k, v in body.items() if k != "registers"},
        lambda body: {**body, "registers": {"Grid": 1}},
        lambda body: [body],
        lambda body: "registers",
    ],
)
async def test_register_shape_errors(
    client: EgaugeClient, sim: EgaugeSimulator, change: Any
) -> None:
    _hook(sim, change)
    with pytest.raises(ApiPayloadError):
        await client.get_readings()


async def test_bad_entries_are_skipped(client: EgaugeClient, sim: EgaugeSimulator) -> None:
    def corrupt(body: dict[str, Any]) -> dict[str, Any]:
        regs, row = body["registers"], body["ranges"][0]["rows"][0]
        regs[0]["rate"] = "n/a"  # Grid: bad rate only
        row[1] = "lots"  # Solar: bad counter only
        regs[2] = 42  # House: not an object
        del regs[3]["name"]  # Apparent Power: no name
        regs[4]["idx"] = "x"  # Reactive Power: bad index
        regs[5]["name"] = "Grid"  # duplicate name: the first one wins
        regs[6]["rate"] = True  # booleans are not numbers
        return body

    _hook(sim, corrupt)
    reading = await client.get_readings()
    names = {reg.name for reg in sim.registers}
    assert set(reading.registers) == names - {
        "House",
        "Apparent Power",
        "Reactive Power",
        "L1 Voltage",
    }
    grid, solar = reading.registers["Grid"], reading.registers["Solar"]
    assert (grid.rate, grid.counter) == (None, sim.counter_of("Grid"))
    assert solar.counter is None
    assert solar.rate == pytest.approx(sim.rate_of("Solar"))
    assert solar.cumulative() is None
    assert reading.registers["L1 Current"].rate is None


async def test_row_mismatch_and_missing_ranges(client: EgaugeClient, sim: EgaugeSimulator) -> None:
    def short_row(body: dict[str, Any]) -> dict[str, Any]:
        body["ranges"][0]["rows"][0].pop()
        return body

    _hook(sim, short_row)
    reading = await client.get_readings()
    assert all(reg.counter is None for reg in reading.registers.values())
    assert all(reg.rate is not None for reg in reading.registers.values())

    _hook(sim, lambda body: {k: v for k, v in body.items() if k != "ranges"})
    reading = await client.get_readings()
    assert reading.timestamp == pytest.approx(1_700_000_000.0)  # top-level ts
    assert all(reg.counter is None for reg in reading.registers.values())

    _hook(sim, lambda body: {**body, "ranges": [{"ts": "soon", "rows": "x"}], "ts": None})
    reading = await client.get_readings()
    assert reading.timestamp is None
    assert len(reading.registers) == len(sim.registers)


async def test_close_logs_out(client: EgaugeClient, sim: EgaugeSimulator) -> None:
    await client.close()  # not logged in: nothing sent
    assert client.requests_sent == 0
    await client.get_readings()
    assert sim._tokens
    await client.close()
    assert sim.requests_by_path["/api/auth/logout"] == 1
    assert sim._tokens == {}
    await client.close()
    assert sim.requests_by_path["/api/auth/logout"] == 1


async def test_close_is_best_effort(client: EgaugeClient, sim: EgaugeSimulator) -> None:
    await client.login()
    sim.fail_next_requests(1)
    await client.close()
    assert sim.requests_by_path["/api/auth/logout"] == 1


async def test_bulk_meter(session: aiohttp.ClientSession, clock: Clock) -> None:
    sim = EgaugeSimulator.with_registers(64, clock=clock)
    async with TestServer(sim.make_app(), host="127.0.0.1") as server:
        client = make_client(session, server, "owner", "secret")
        await client.get_readings()
        reading = await client.get_readings()
    assert len(reading.registers) == 64
    assert client.requests_sent == 4


# ----- simulator protocol details ------------------------------------------------


async def _raw_get(
    session: aiohttp.ClientSession, client: EgaugeClient, path_qs: str
) -> tuple[int, Any]:
    await client.login()
    headers = {"Authorization": f"Bearer {client._token}"}
    async with session.get(f"{client.base_url}{path_qs}", headers=headers) as resp:
        return resp.status, json.loads(await resp.text())


async def test_simulator_history_and_filters(
    session: aiohttp.ClientSession, client: EgaugeClient, sim: EgaugeSimulator, clock: Clock
) -> None:
    # requests' style (``rate=``) is accepted like the bare flag
    status, body = await _raw_get(session, client, "/api/register?rate=&reg=none+3+7&time=now")
    assert status == 200
    assert [reg["idx"] for reg in body["registers"]] == [3, 7]
    assert all("rate" in reg and "did" in reg for reg in body["registers"])
    assert body["ranges"][0]["rows"] == [
        [str(sim.counter_of(sim.registers[3].name)), str(sim.counter_of(sim.registers[7].name))]
    ]

    start = int(clock.now) - 600
    status, body = await _raw_get(
        session, client, f"/api/register?reg=all-1:27&time={start}:60:{int(clock.now)}"
    )
    assert status == 200
    assert [reg["name"] for reg in body["registers"]] == ["Grid"]
    assert "rate" not in body["registers"][0]
    (history,) = body["ranges"]
    assert float(history["ts"]) == clock.now
    assert history["delta"] == 60
    rows = [int(row[0]) for row in history["rows"]]
    assert len(rows) == 11
    grid = sim.register("Grid")
    # newest first; each step back removes the integral of that minute
    for i in range(10):
        t1 = clock.now - i * 60
        expected = grid.integral(t1 - 60, t1)
        assert rows[i] - rows[i + 1] == pytest.approx(expected, abs=1)

    status, body = await _raw_get(session, client, "/api/register?delta&reg=0&time=now-120:60:now")
    delta_rows = body["ranges"][0]["rows"]
    assert int(delta_rows[0][0]) == sim.counter_of("Grid")
    assert int(delta_rows[1][0]) == pytest.approx(-grid.integral(clock.now - 60, clock.now), abs=1)

    status, _ = await _raw_get(session, client, "/api/register?time=yesterday")
    assert status == 400
    status, _ = await _raw_get(session, client, "/api/register?reg=x:y")
    assert status == 400
    status, body = await _raw_get(session, client, "/api/auth/unauthorized")
    assert (status, body) == (200, {"status": "You are logged in."})


def test_parse_history_is_oldest_first_and_skips_bad_rows() -> None:
    body = {
        "registers": [{"name": "Grid"}, {"name": "Solar"}, "junk"],
        "ranges": [
            {
                "ts": "1700001000",
                "delta": 60,
                "rows": [["30", "3", "x"], ["20", "2", "y"], ["short"]],
            },
            {"ts": "nope", "delta": 60, "rows": [["1", "1", "1"]]},
            "not a range",
        ],
    }
    assert parse_history(body) == [
        (1700000940.0, {"Grid": 20, "Solar": 2}),
        (1700001000.0, {"Grid": 30, "Solar": 3}),
    ]
    with pytest.raises(ApiPayloadError):
        parse_history({"registers": []})


# ----- regressions: meter clock and log flooding -------------------------------------


@pytest.mark.parametrize("ts", ["1e20", "1e400", "0", "-5", "99999999999"])
def test_impossible_meter_time_reads_as_none(ts: str) -> None:
    """1e20 used to reach Home Assistant's utc_from_timestamp and overflow there."""
    body = {"registers": [], "ranges": [{"ts": ts, "rows": [[]]}], "ts": ts}
    assert parse_readings(body).timestamp is None


def test_history_rows_at_impossible_times_are_skipped() -> None:
    body = {
        "registers": [{"name": "Grid"}],
        "ranges": [
            {"ts": "1700000000", "delta": 1e308, "rows": [["1"], ["2"]]},
            {"ts": "1e20", "delta": 60, "rows": [["3"]]},
        ],
    }
    assert parse_history(body) == [(1700000000.0, {"Grid": 1})]


async def test_row_length_mismatch_is_logged_once_per_meter(
    client: EgaugeClient, sim: EgaugeSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    """A meter repeats the mismatch on every poll; it used to log a warning every 30 s."""

    def long_row(body: Any) -> Any:
        body["ranges"][0]["rows"][0].append("0")
        return body

    _hook(sim, long_row)
    for _ in range(3):
        reading = await client.get_readings()
        assert all(reg.counter is None for reg in reading.registers.values())
    warnings = [r for r in caplog.records if "register row has" in r.getMessage()]
    assert len(warnings) == 1
    assert warnings[0].filename == "egauge.py"  # the record names the parser, not the helper


async def test_history_of_chosen_registers_and_from_where_the_meter_has_rows(
    client: EgaugeClient, sim: EgaugeSimulator, clock: Clock
) -> None:
    end = int(clock.now) // 3600 * 3600
    start = end - 3600
    rows = await client.get_history(start, end, 60, [2, 0])
    assert len(rows) == 61
    assert [moment for moment, _ in rows] == [float(start + 60 * i) for i in range(61)]
    assert all(set(counters) == {"Grid", "House"} for _, counters in rows)
    for moment, counters in rows:
        assert counters["Grid"] == sim.counter_at(sim.register("Grid"), moment)
    assert "reg=none+0+2" in sim.register_queries[-1].replace(" ", "+")

    # A meter whose database starts at half past: the earlier rows are simply absent.
    sim.history_start = start + 1800
    rows = await client.get_history(start, end, 60, [0])
    assert [moment for moment, _ in rows] == [float(start + 1800 + 60 * i) for i in range(31)]
    sim.history_start = end + 60
    assert await client.get_history(start, end, 60, [0]) == []


def test_simulator_history_never_changes_once_served() -> None:
    """Rows of the past stay what they were when rates and counters change later."""
    now = [1_700_000_000.0]
    sim = EgaugeSimulator(clock=lambda: now[0])
    grid = sim.register("Grid")
    past = [now[0] - 600 + 60 * i for i in range(11)]
    before = grid.counters(past)
    now[0] += 300
    sim.set_rate("Grid", -5000)
    now[0] += 300
    sim.set_counter("Grid", 42)
    now[0] += 60
    assert grid.counters(past) == before
    assert sim.counter_of("Grid") == 42 - 5000 * 60
