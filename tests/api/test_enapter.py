"""Enapter HTTP API v3 client against the simulator (cloud and gateway layouts)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.test_utils import BaseTestServer, TestServer
import pytest

from custom_components.iot_bridge.api.enapter import (
    DEFAULT_CLOUD_URL,
    EnapterClient,
    TelemetryPoint,
    display_unit,
    normalize_url,
    parse_manifest,
)
from custom_components.iot_bridge.api.errors import (
    ApiAuthError,
    ApiCommandError,
    ApiConnectionError,
    ApiForbiddenError,
    ApiPayloadError,
    ApiRateLimitError,
)
from simulators.enapter import EXPIRED_TOKEN, TOKEN, EnapterSimulator

# Home Assistant's test plugin blocks sockets; the simulator listens on 127.0.0.1 only.
pytestmark = pytest.mark.usefixtures("socket_enabled")


class Clock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def sim(clock: Clock) -> EnapterSimulator:
    return EnapterSimulator(clock=clock)


@pytest.fixture
async def server(sim: EnapterSimulator) -> AsyncIterator[TestServer]:
    test_server = TestServer(sim.make_app(), host="127.0.0.1")
    await test_server.start_server()
    yield test_server
    await test_server.close()


def cloud_url(server: BaseTestServer) -> str:
    return str(server.make_url("")).rstrip("/")


def gateway_url(server: TestServer) -> str:
    return f"{cloud_url(server)}/api"


@pytest.fixture
def cloud(session: aiohttp.ClientSession, server: TestServer) -> EnapterClient:
    return EnapterClient(session, cloud_url(server), TOKEN)


@pytest.fixture
def gateway(session: aiohttp.ClientSession, server: TestServer) -> EnapterClient:
    return EnapterClient(session, gateway_url(server), TOKEN)


# -- pure helpers ------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", DEFAULT_CLOUD_URL),
        ("   ", DEFAULT_CLOUD_URL),
        ("https://api.enapter.com/", "https://api.enapter.com"),
        ("api.enapter.com", "https://api.enapter.com"),
        ("https://api.enapter.com/v3", "https://api.enapter.com"),
        ("192.168.1.20", "http://192.168.1.20/api"),
        ("enapter-gateway.local", "http://enapter-gateway.local/api"),
        ("http://192.168.1.20", "http://192.168.1.20"),
        ("http://127.0.0.1:8765/", "http://127.0.0.1:8765"),
        ("http://192.168.1.20/api/", "http://192.168.1.20/api"),
        ("https://enapter-gateway.local/api/v3/", "https://enapter-gateway.local/api"),
        ("http://192.168.1.20:8080/api", "http://192.168.1.20:8080/api"),
        (" 10.0.0.5/api ", "http://10.0.0.5/api"),
    ],
)
def test_normalize_url(text: str, expected: str) -> None:
    assert normalize_url(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "ftp://gateway/api",
        "http://",
        "not a url",
        "https://api.enapter.com/?x=1",
        "http://user:pw@gateway/api",
        "gate$way",
        "mailto:someone@example.com",
    ],
)
def test_normalize_url_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        normalize_url(text)


@pytest.mark.parametrize(
    ("unit", "expected"),
    [
        ("Cel", "°C"),
        ("Ohm", "Ω"),
        ("VAR", "var"),
        ("Nl/h", "NL/h"),
        ("l/h", "L/h"),
        ("W", "W"),
        ("kWh", "kWh"),
        ("bar", "bar"),
        ("%", "%"),
        ("m3/h", "m³/h"),
        ("{widgets}", "{widgets}"),
        (None, None),
    ],
)
def test_display_unit(unit: str | None, expected: str | None) -> None:
    assert display_unit(unit) == expected


def test_parse_manifest_tolerates_bad_entries() -> None:
    manifest = parse_manifest(
        {
            "display_name": "Thing",
            "telemetry": {
                "ok": {"type": "integer", "enum": [1, 2, True, None, "3"]},
                "no_type": {"display_name": "No type"},
                "json": {"type": "json", "display_name": "Blob"},
                "broken": "nope",
                "colours": {"type": "string", "enum": {"a": {"color": "red"}, "b": {}}},
                "empty_enum": {"type": "string", "enum": []},
            },
            "commands": {
                "go": {"arguments": {"x": {"type": "float", "required": "yes"}, "y": 3}},
                "bad": [],
            },
            "properties": "not a map",
        }
    )
    assert manifest is not None
    assert set(manifest.telemetry) == {"ok", "colours", "empty_enum"}
    assert manifest.telemetry["ok"].display_name == "ok"
    assert manifest.telemetry["ok"].enum == ("1", "2", "3")
    assert manifest.telemetry["colours"].enum == ("a", "b")
    assert manifest.telemetry["empty_enum"].enum is None
    assert set(manifest.commands) == {"go"}
    # Only a literal true makes an argument required.
    assert manifest.commands["go"].arguments["x"].required is False
    assert manifest.commands["go"].required_arguments == ()
    assert manifest.properties == {}
    assert parse_manifest(["not", "a", "manifest"]) is None


# -- sites ---------------------------------------------------------------------


async def test_cloud_lists_sites_with_pagination(
    sim: EnapterSimulator, cloud: EnapterClient
) -> None:
    sim.page_size = 1
    sites = await cloud.list_sites()
    assert [site.name for site in sites] == ["Hydrogen Lab", "Warehouse"]
    assert sites[0].timezone == "Europe/Berlin"
    assert cloud.is_gateway is False
    assert [r.query["offset"] for r in sim.requests] == ["0", "1", "2"]
    assert cloud.requests_sent == 3
    headers = sim.requests[0].headers
    assert headers["X-Enapter-Auth-Token"] == TOKEN
    assert headers["X-Enapter-Allow-HTTP"] == "true"


async def test_gateway_site_falls_back_then_remembers(
    sim: EnapterSimulator, gateway: EnapterClient
) -> None:
    sites = await gateway.list_sites()
    assert [site.name for site in sites] == ["Hydrogen Lab"]
    assert gateway.is_gateway is True
    assert [r.path for r in sim.requests] == ["/api/v3/sites", "/api/v3/site"]
    await gateway.list_sites()
    assert sim.requests_by_path["/api/v3/site"] == 2
    assert sim.requests_by_path["/api/v3/sites"] == 1
    assert gateway.requests_sent == 3


def test_allow_http_header_only_for_plain_http(session: aiohttp.ClientSession) -> None:
    secure = EnapterClient(session, "https://api.enapter.com/", "t")
    assert "X-Enapter-Allow-HTTP" not in secure._headers
    assert secure.base_url == "https://api.enapter.com"
    plain = EnapterClient(session, "HTTP://gw/api", "t")
    assert plain._headers["X-Enapter-Allow-HTTP"] == "true"


async def test_missing_allow_http_header_is_refused_by_simulator(
    session: aiohttp.ClientSession, server: TestServer
) -> None:
    async with session.get(
        f"{cloud_url(server)}/v3/sites", headers={"X-Enapter-Auth-Token": TOKEN}
    ) as resp:
        assert resp.status == 400


# -- devices -------------------------------------------------------------------


async def test_list_devices_paginates_and_parses_manifests(
    sim: EnapterSimulator, cloud: EnapterClient
) -> None:
    sim.page_size = 2
    lab = next(iter(sim.sites))
    sim.set_offline(sim.battery.id)
    devices = await cloud.list_devices(lab)
    assert [d.name for d in devices] == [
        "Enapter Gateway",
        "Electrolyser EL 2.1",
        "Battery Rack",
        "Grid Meter",
    ]
    assert [r.query["offset"] for r in sim.requests] == ["0", "2", "4"]
    assert set(sim.requests[0].query["expand"].split(",")) == {
        "manifest",
        "properties",
        "connectivity",
    }
    assert sim.requests[0].path == f"/v3/sites/{lab}/devices"

    gw, el, battery, meter = devices
    assert gw.type == "GATEWAY"
    assert el.id == sim.electrolyser.id
    assert el.site_id == lab
    assert el.slug
    assert el.blueprint_id
    assert el.connectivity == "ONLINE"
    assert battery.connectivity == "OFFLINE"
    assert el.properties["model"] == "EL 2.1"
    assert el.authorized_role == "INSTALLER"

    manifest = el.manifest
    assert manifest is not None
    assert manifest.display_name == "Enapter Electrolyser EL 2.1"
    status = manifest.telemetry["status"]
    assert status.type == "string"
    assert status.enum is not None
    assert {"idle", "steady", "ramp_up", "error"} <= set(status.enum)
    assert manifest.telemetry["electrolyte_level"].enum == ("empty", "low", "medium", "high")
    assert manifest.telemetry["h2_flow_rate"].unit == "Nl/h"
    assert manifest.telemetry["stack_temperature"].unit == "Cel"
    assert manifest.telemetry["h2_outlet_pressure"].unit == "bar"
    assert manifest.telemetry["has_error"].type == "boolean"
    assert manifest.telemetry["uptime"].type == "integer"
    assert "alerts" not in manifest.telemetry  # array_of_strings has no scalar entity
    assert manifest.commands["start"].arguments == {}
    assert manifest.commands["start"].group == "electrolyser"
    rate = manifest.commands["set_production_rate"].arguments["rate"]
    assert rate.required is True
    assert (rate.min, rate.max, rate.type, rate.unit) == (60.0, 100.0, "float", "%")
    assert manifest.commands["start"].access_level == "user"  # the default
    assert manifest.commands["factory_reset"].access_level == "vendor"
    mode = manifest.commands["set_operating_mode"].arguments["mode"]
    assert mode.enum == ("eco", "max_production", "follow_grid")
    assert mode.enum_names["max_production"] == "Maximum Production"
    assert status.enum_names["steady"] == "Steady"
    assert manifest.telemetry["electrolyte_level"].enum_names == {}
    assert manifest.properties["serial_number"].type == "string"

    assert battery.manifest is not None
    assert set(battery.manifest.commands) == {
        "enable_charging",
        "disable_charging",
        "set_charge_limit",
    }
    assert battery.manifest.telemetry["remaining_energy"].unit == "kWh"
    assert meter.manifest is not None
    assert meter.manifest.telemetry["reactive_power"].unit == "VAR"


async def test_gateway_lists_only_its_site(sim: EnapterSimulator, gateway: EnapterClient) -> None:
    devices = await gateway.list_devices()
    assert sim.warehouse_meter.id not in {d.id for d in devices}
    assert len(devices) == 4
    assert sim.requests[0].path == "/api/v3/devices"


async def test_devices_added_and_removed_at_runtime(
    sim: EnapterSimulator, cloud: EnapterClient
) -> None:
    warehouse = list(sim.sites)[1]
    assert len(await cloud.list_devices(warehouse)) == 1
    added = sim.add_device("battery", warehouse, name="New Battery")
    assert {d.id for d in await cloud.list_devices(warehouse)} == {
        sim.warehouse_meter.id,
        added.id,
    }
    sim.remove_device(sim.warehouse_meter.id)
    assert [d.name for d in await cloud.list_devices(warehouse)] == ["New Battery"]


async def test_unknown_site_is_a_connection_error(cloud: EnapterClient) -> None:
    with pytest.raises(ApiConnectionError, match="Site not found"):
        await cloud.list_devices("no-such-site")


# -- telemetry -----------------------------------------------------------------


async def test_latest_telemetry_one_request(
    sim: EnapterSimulator, cloud: EnapterClient, clock: Clock
) -> None:
    request = {
        sim.electrolyser.id: ["status", "h2_flow_rate", "has_error", "uptime"],
        sim.battery.id: ["soc", "charging", "status"],
        sim.meter.id: ["total_power", "not_in_manifest"],
    }
    result = await cloud.latest_telemetry(request)
    assert cloud.requests_sent == 1
    assert sim.requests_by_path["/v3/telemetry/latest"] == 1
    el = result[sim.electrolyser.id]
    assert el["status"] == TelemetryPoint(timestamp=clock.now, value="idle")
    assert el["has_error"].value is False
    assert el["uptime"].value == 3600
    assert result[sim.battery.id]["soc"].value == 64.5
    assert result[sim.meter.id]["not_in_manifest"] == TelemetryPoint(None, None)
    query = sim.requests[0].query
    assert query[f"devices[{sim.electrolyser.id}]"] == "status,h2_flow_rate,has_error,uptime"


async def test_latest_telemetry_drifts_and_offline_values_go_stale(
    sim: EnapterSimulator, cloud: EnapterClient, clock: Clock
) -> None:
    request = {sim.meter.id: ["total_power", "frequency"], sim.battery.id: ["soc"]}
    first = await cloud.latest_telemetry(request, relevance_interval=60)
    assert sim.requests[0].query["relevance_interval"] == "60s"
    sim.set_offline(sim.battery.id)
    clock.now += 120
    sim.drift()
    second = await cloud.latest_telemetry(request, relevance_interval=60)
    meter_before, meter_after = first[sim.meter.id], second[sim.meter.id]
    assert meter_after["total_power"].timestamp == clock.now
    assert meter_after["total_power"].value != meter_before["total_power"].value
    # The offline battery stopped reporting: its value is older than the relevance interval.
    assert second[sim.battery.id]["soc"] == TelemetryPoint(timestamp=None, value=None)


async def test_latest_telemetry_splits_only_past_the_url_limit(
    session: aiohttp.ClientSession,
) -> None:
    sim = EnapterSimulator.bulk(20, 30)
    sim.max_url_length = 4000  # the simulator answers 414 past this
    async with TestServer(sim.make_app(), host="127.0.0.1") as test_server:
        client = EnapterClient(session, cloud_url(test_server), TOKEN)
        request = {d.id: [f"attr_{i:03d}" for i in range(30)] for d in sim.devices.values()}
        result = await client.latest_telemetry(request)
        # 20 UUIDs x 30 names do not fit in 4000 characters; two requests do.
        assert client.requests_sent == 2
        assert sum(len(points) for points in result.values()) == 600
        assert all(p.timestamp is not None for points in result.values() for p in points.values())

        roomy = EnapterClient(session, cloud_url(test_server), TOKEN, max_url_length=100_000)
        sim.max_url_length = None
        assert await roomy.latest_telemetry(request) == result
        assert roomy.requests_sent == 1


async def test_latest_telemetry_splits_one_long_device(
    sim: EnapterSimulator, cloud: EnapterClient
) -> None:
    sim.max_url_length = 4000
    names = [f"a_very_long_attribute_name_number_{i:04d}" for i in range(300)]
    for name in names:
        sim.set_value(sim.meter.id, name, 1.5)
    result = await cloud.latest_telemetry({sim.meter.id: [*names, names[0]], sim.battery.id: []})
    assert set(result[sim.meter.id]) == set(names)
    assert sim.battery.id not in result
    # 300 x 39 characters of names need three 4000-character URLs (the simulator 414s past it).
    assert cloud.requests_sent == 3


async def test_latest_telemetry_shrinks_its_urls_after_a_414(
    session: aiohttp.ClientSession, caplog: pytest.LogCaptureFixture
) -> None:
    sim = EnapterSimulator.bulk(20, 30)
    sim.max_url_length = 3000  # a proxy stricter than the client assumed
    async with TestServer(sim.make_app(), host="127.0.0.1") as test_server:
        client = EnapterClient(session, cloud_url(test_server), TOKEN, max_url_length=8000)
        request = {d.id: [f"attr_{i:03d}" for i in range(30)] for d in sim.devices.values()}
        result = await client.latest_telemetry(request)
        assert sum(len(points) for points in result.values()) == 600
        # 8000 refused (1 request), 4000 refused (1), then 2000 fits (4 requests).
        assert client.max_url_length == 2000
        assert client.requests_sent == 6
        assert caplog.text.count("HTTP 414") == 2
        # Later reads start at the smaller limit.
        await client.latest_telemetry(request)
        assert client.requests_sent == 10

        sim.max_url_length = 100  # nothing fits: after the floor the 414 is an error
        with pytest.raises(ApiPayloadError, match="HTTP 414"):
            await client.latest_telemetry(request)
        assert client.max_url_length == 1000


async def test_latest_telemetry_empty_request_sends_nothing(cloud: EnapterClient) -> None:
    assert await cloud.latest_telemetry({}) == {}
    assert cloud.requests_sent == 0


# -- commands ------------------------------------------------------------------


async def test_commands_change_state(sim: EnapterSimulator, cloud: EnapterClient) -> None:
    el = sim.electrolyser.id
    result = await cloud.execute_command(el, "start")
    assert result.state == "SUCCESS"
    assert result.execution_id == sim.executions[-1]["id"]
    assert sim.executions[-1]["request"]["arguments"] == {}
    assert (await cloud.latest_telemetry({el: ["status"]}))[el]["status"].value == "steady"
    await cloud.execute_command(el, "set_production_rate", {"rate": 80})
    assert sim.executions[-1]["request"]["arguments"] == {"rate": 80}
    await cloud.execute_command(el, "stop", None)
    assert (await cloud.latest_telemetry({el: ["status"]}))[el]["status"].value == "idle"

    battery = sim.battery.id
    await cloud.execute_command(battery, "disable_charging")
    points = (await cloud.latest_telemetry({battery: ["charging"]}))[battery]
    assert points["charging"].value is False
    assert sim.requests_by_path[f"/v3/devices/{el}/execute_command"] == 3


async def test_command_on_gateway_layout(sim: EnapterSimulator, gateway: EnapterClient) -> None:
    await gateway.execute_command(sim.battery.id, "enable_charging")
    assert sim.requests[-1].path == f"/api/v3/devices/{sim.battery.id}/execute_command"


@pytest.mark.parametrize(
    ("outcome", "reason"),
    [
        ("ERROR", "ERROR: Stack pressure too high"),
        ("TIMEOUT", "TIMEOUT: the device did not answer in time"),
        ("UNSYNC", "UNSYNC: the command's outcome is unknown: the device is out of sync"),
        ("IN_PROGRESS", "IN_PROGRESS: the command was still running"),
        ("NEW", "NEW: the command was not picked up yet"),
    ],
)
async def test_command_failures(
    sim: EnapterSimulator, cloud: EnapterClient, outcome: str, reason: str
) -> None:
    sim.set_command_outcome(outcome)
    with pytest.raises(ApiCommandError) as err:
        await cloud.execute_command(sim.electrolyser.id, "start")
    assert err.value.command == "start"
    assert err.value.reason == reason
    # A failed command changed nothing.
    points = await cloud.latest_telemetry({sim.electrolyser.id: ["status"]})
    assert points[sim.electrolyser.id]["status"].value == "idle"


async def test_command_to_offline_device_times_out(
    sim: EnapterSimulator, cloud: EnapterClient
) -> None:
    sim.set_offline(sim.electrolyser.id)
    with pytest.raises(ApiCommandError, match="TIMEOUT"):
        await cloud.execute_command(sim.electrolyser.id, "start")


async def test_command_refused_by_api(sim: EnapterSimulator, cloud: EnapterClient) -> None:
    with pytest.raises(ApiCommandError, match="not declared in the manifest") as err:
        await cloud.execute_command(sim.electrolyser.id, "self_destruct")
    assert err.value.command == "self_destruct"
    with pytest.raises(ApiCommandError, match="'rate' is required"):
        await cloud.execute_command(sim.electrolyser.id, "set_production_rate", {})
    with pytest.raises(ApiCommandError, match="Device not found"):
        await cloud.execute_command("missing-device", "start")


async def test_command_http_failures(sim: EnapterSimulator, cloud: EnapterClient) -> None:
    sim.set_command_outcome(503)
    with pytest.raises(ApiConnectionError, match="Simulated HTTP 503"):
        await cloud.execute_command(sim.electrolyser.id, "start")
    sim.set_command_outcome(None)
    sim.rate_limit_next(1, retry_after=7)
    with pytest.raises(ApiRateLimitError) as err:
        await cloud.execute_command(sim.electrolyser.id, "start")
    assert err.value.retry_after == 7
    sim.expire_token()
    with pytest.raises(ApiAuthError, match="expired"):
        await cloud.execute_command(sim.electrolyser.id, "start")


# -- errors --------------------------------------------------------------------


async def test_missing_token_is_auth_error(
    session: aiohttp.ClientSession, server: TestServer
) -> None:
    client = EnapterClient(session, cloud_url(server), "")
    with pytest.raises(ApiAuthError, match=r"HTTP 401: Authentication token is missed"):
        await client.list_sites()


@pytest.mark.parametrize(
    ("token", "message"),
    [(EXPIRED_TOKEN, "token is expired"), ("wrong-token", "token is invalid")],
)
async def test_invalid_or_expired_token_is_auth_error(
    session: aiohttp.ClientSession,
    server: TestServer,
    caplog: pytest.LogCaptureFixture,
    token: str,
    message: str,
) -> None:
    client = EnapterClient(session, gateway_url(server), token)
    with pytest.raises(ApiAuthError, match="HTTP 403") as err:
        await client.list_devices()
    assert message in str(err.value)
    assert "invalid_header" in str(err.value)
    assert token not in str(err.value)
    assert token not in caplog.text


@pytest.mark.parametrize(
    ("refusal", "error"), [("role", ApiForbiddenError), ("token", ApiAuthError)]
)
async def test_a_command_above_the_role_is_refused(
    sim: EnapterSimulator, cloud: EnapterClient, refusal: str, error: type[Exception]
) -> None:
    """A body naming the permission is a role refusal; one like a bad token's cannot be told."""
    sim.role_refusal = refusal
    sim.battery.authorized_role = "USER"
    with pytest.raises(error, match="HTTP 403"):
        await cloud.execute_command(sim.battery.id, "set_charge_limit", {"limit": 60})
    # Reading, and the commands the role allows, work with the same token.
    await cloud.execute_command(sim.battery.id, "disable_charging")
    assert await cloud.latest_telemetry({sim.battery.id: ["charging"]})
    assert [e["request"]["name"] for e in sim.executions] == ["disable_charging"]


async def test_an_execution_echoes_its_arguments(
    sim: EnapterSimulator, cloud: EnapterClient
) -> None:
    result = await cloud.execute_command(
        sim.electrolyser.id, "set_ramp_rates", {"ramp_up": 2.5, "ramp_down": 5}
    )
    assert result.arguments == {"ramp_up": 2.5, "ramp_down": 5}
    assert result.execution_id == sim.executions[-1]["id"]


async def test_token_expiring_between_polls(sim: EnapterSimulator, cloud: EnapterClient) -> None:
    await cloud.latest_telemetry({sim.meter.id: ["total_power"]})
    sim.expire_token()
    with pytest.raises(ApiAuthError):
        await cloud.latest_telemetry({sim.meter.id: ["total_power"]})


async def test_rate_limit(sim: EnapterSimulator, cloud: EnapterClient) -> None:
    sim.rate_limit_next(1, retry_after=12)
    with pytest.raises(ApiRateLimitError, match="Too many requests") as err:
        await cloud.list_sites()
    assert err.value.retry_after == 12
    assert len(await cloud.list_sites()) == 2


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors(sim: EnapterSimulator, cloud: EnapterClient, status: int) -> None:
    sim.fail_next(1, status)
    with pytest.raises(ApiConnectionError, match=f"HTTP {status}: Simulated failure"):
        await cloud.latest_telemetry({sim.meter.id: ["total_power"]})


async def test_failure_mid_pagination(sim: EnapterSimulator, cloud: EnapterClient) -> None:
    sim.page_size = 2
    sim.fail_next(1, 500, after=1)
    with pytest.raises(ApiConnectionError, match="HTTP 500"):
        await cloud.list_devices(next(iter(sim.sites)))
    assert [r.query["offset"] for r in sim.requests] == ["0", "2"]


async def test_unreachable_host_is_connection_error(session: aiohttp.ClientSession) -> None:
    test_server = TestServer(web.Application(), host="127.0.0.1")
    await test_server.start_server()
    url = cloud_url(test_server)
    await test_server.close()
    client = EnapterClient(session, url, TOKEN)
    with pytest.raises(ApiConnectionError):
        await client.list_sites()
    assert client.requests_sent == 1


# -- malformed vendor data -----------------------------------------------------


def raw_app(
    routes: dict[str, Callable[[web.Request], web.Response]],
) -> web.Application:
    app = web.Application()
    for path, answer in routes.items():

        async def handler(request: web.Request, answer: Any = answer) -> web.Response:
            result: web.Response = answer(request)
            return result

        app.router.add_route("*", path, handler)
    return app


@pytest.fixture
async def raw_server() -> AsyncIterator[Callable[..., Any]]:
    servers: list[TestServer] = []

    async def start(routes: dict[str, Callable[[web.Request], web.Response]]) -> str:
        test_server = TestServer(raw_app(routes), host="127.0.0.1")
        await test_server.start_server()
        servers.append(test_server)
        return cloud_url(test_server)

    yield start
    for test_server in servers:
        await test_server.close()


def json_answer(body: Any, status: int = 200) -> Callable[[web.Request], web.Response]:
    return lambda _request: web.json_response(body, status=status)


def text_answer(text: str, status: int = 200) -> Callable[[web.Request], web.Response]:
    return lambda _request: web.Response(text=text, status=status)


async def test_body_not_json(session: aiohttp.ClientSession, raw_server: Any) -> None:
    url = await raw_server({"/v3/telemetry/latest": text_answer("<html>oops</html>")})
    with pytest.raises(ApiPayloadError, match="not JSON"):
        await EnapterClient(session, url, "t").latest_telemetry({"d": ["a"]})


async def test_error_body_not_json_keeps_text(
    session: aiohttp.ClientSession, raw_server: Any
) -> None:
    url = await raw_server({"/v3/sites": text_answer("Bad gateway", 502)})
    with pytest.raises(ApiConnectionError, match="HTTP 502: Bad gateway"):
        await EnapterClient(session, url, "t").list_sites()


async def test_other_4xx_is_payload_error(session: aiohttp.ClientSession, raw_server: Any) -> None:
    body = {"errors": [{"code": "invalid_query", "message": "bad offset"}, "junk"]}
    url = await raw_server({"/v3/sites": json_answer(body, 400)})
    with pytest.raises(ApiPayloadError, match=r"bad offset \(invalid_query\)"):
        await EnapterClient(session, url, "t").list_sites()


@pytest.mark.parametrize(
    "body", [[], {"sites": "x"}, {"devices": []}, {"sites": None}, "just text"]
)
async def test_sites_wrong_shape(
    session: aiohttp.ClientSession, raw_server: Any, body: Any
) -> None:
    url = await raw_server({"/v3/sites": json_answer(body)})
    with pytest.raises(ApiPayloadError):
        await EnapterClient(session, url, "t").list_sites()


async def test_gateway_site_wrong_shape(session: aiohttp.ClientSession, raw_server: Any) -> None:
    url = await raw_server(
        {"/v3/sites": json_answer({}, 404), "/v3/site": json_answer({"site": {"name": "x"}})}
    )
    with pytest.raises(ApiPayloadError, match="no site object"):
        await EnapterClient(session, url, "t").list_sites()


async def test_malformed_items_are_skipped(session: aiohttp.ClientSession, raw_server: Any) -> None:
    pages = [
        {
            "devices": [
                "junk",
                {"name": "no id"},
                {
                    "id": "d1",
                    "connectivity": {"status": "SLEEPING"},
                    "manifest": "broken",
                    "properties": [],
                    "site_id": 5,
                },
                {"id": "d2", "name": "Two", "connectivity": "ONLINE"},
                {"id": "d1", "name": "Duplicate after a shifted offset"},
            ]
        },
        {"devices": []},
    ]

    def devices(request: web.Request) -> web.Response:
        return web.json_response(pages[0] if request.query["offset"] == "0" else pages[1])

    def site_pages(request: web.Request) -> web.Response:
        first = request.query["offset"] == "0"
        return web.json_response({"sites": [{"id": "s1"}, {"name": "no id"}, 3] if first else []})

    url = await raw_server({"/v3/sites": site_pages, "/v3/devices": devices})
    client = EnapterClient(session, url, "t")
    sites = await client.list_sites()
    assert [(s.id, s.name, s.timezone) for s in sites] == [("s1", "s1", None)]
    d1, d2 = await client.list_devices()
    assert (d1.id, d1.name, d1.connectivity, d1.manifest, d1.properties, d1.site_id) == (
        "d1",
        "d1",
        "UNKNOWN",
        None,
        {},
        None,
    )
    assert (d2.name, d2.connectivity) == ("Two", "UNKNOWN")


async def test_server_ignoring_offset_does_not_loop(
    session: aiohttp.ClientSession, raw_server: Any
) -> None:
    url = await raw_server({"/v3/devices": json_answer({"devices": [{"id": "d1"}]})})
    client = EnapterClient(session, url, "t")
    with pytest.raises(ApiPayloadError, match="same page"):
        await client.list_devices()
    assert client.requests_sent == 2


async def test_telemetry_wrong_shapes(session: aiohttp.ClientSession, raw_server: Any) -> None:
    body = {
        "telemetry": {
            "d1": {
                "ok": {"timestamp": 1700000000, "value": 1.5},
                "null_ts": {"timestamp": None, "value": None},
                "bad_ts": {"timestamp": "soon", "value": "x"},
                # An impossible time is no recent value either (it used to reach Home Assistant).
                "far_ts": {"timestamp": 1e20, "value": "y"},
                "junk": 5,
            },
            "d2": "junk",
        }
    }
    url = await raw_server({"/v3/telemetry/latest": json_answer(body)})
    result = await EnapterClient(session, url, "t").latest_telemetry({"d1": ["ok"]})
    assert result == {
        "d1": {
            "ok": TelemetryPoint(1700000000.0, 1.5),
            "null_ts": TelemetryPoint(None, None),
            "bad_ts": TelemetryPoint(None, "x"),
            "far_ts": TelemetryPoint(None, "y"),
        }
    }
    url = await raw_server({"/v3/telemetry/latest": json_answer({"telemetry": []})})
    with pytest.raises(ApiPayloadError, match="no telemetry object"):
        await EnapterClient(session, url, "t").latest_telemetry({"d1": ["ok"]})


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"execution": {"id": "e1"}}, ApiPayloadError),
        ({"nothing": True}, ApiPayloadError),
        ({"execution": {"state": "ERROR", "response": {"payload": {"reason": "jammed"}}}}, None),
        ({"execution": {"state": "ERROR", "response": "junk"}}, None),
        ({"execution": {"state": "SUCCESS", "response": {"payload": {"x": 1}}}}, "ok"),
    ],
)
async def test_execution_wrong_shapes(
    session: aiohttp.ClientSession, raw_server: Any, body: Any, error: Any
) -> None:
    url = await raw_server({"/v3/devices/d1/execute_command": json_answer(body)})
    client = EnapterClient(session, url, "t")
    if error == "ok":
        result = await client.execute_command("d1", "go")
        assert (result.execution_id, result.payload) == (None, {"x": 1})
    elif error is None:
        with pytest.raises(ApiCommandError) as err:
            await client.execute_command("d1", "go")
        expected = "jammed" if "reason" in str(body) else "the device reported an error"
        assert err.value.reason == f"ERROR: {expected}"
    else:
        with pytest.raises(error):
            await client.execute_command("d1", "go")
