"""Enapter's own Python SDK (``enapter==0.25.0``) against the simulator.

If Enapter's client parses what the simulator serves and gets the same answers
as ours, the simulator speaks the real wire format rather than one we made up.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
import pytest

from custom_components.iot_bridge.api.enapter import EnapterClient, parse_manifest
from custom_components.iot_bridge.api.errors import ApiAuthError, ApiCommandError
from simulators.enapter import EXPIRED_TOKEN, TOKEN, EnapterSimulator

sdk = pytest.importorskip("enapter.http.api")

pytestmark = pytest.mark.usefixtures("socket_enabled")


@pytest.fixture
def sim() -> EnapterSimulator:
    return EnapterSimulator(page_size=2)


@pytest.fixture
async def base_url(sim: EnapterSimulator) -> AsyncIterator[str]:
    async with TestServer(sim.make_app(), host="127.0.0.1") as server:
        yield str(server.make_url("")).rstrip("/")


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


async def collect(listing: Any) -> list[Any]:
    async with listing as items:
        return [item async for item in items]


def sdk_client(url: str, token: str = TOKEN) -> Any:
    return sdk.Client(sdk.Config(base_url=url, token=token))


async def test_sites_match(sim: EnapterSimulator, base_url: str, session: Any) -> None:
    async with sdk_client(base_url) as client:
        theirs = await collect(client.sites.list())
    ours = await EnapterClient(session, base_url, TOKEN).list_sites()
    assert [(s.id, s.name, s.timezone) for s in theirs] == [
        (s.id, s.name, s.timezone) for s in ours
    ]
    assert len(ours) == 2
    assert {s.version for s in theirs} == {"V3"}

    gateway_url = f"{base_url}/api"
    async with sdk_client(gateway_url) as client:
        gateway_site = await client.sites.get(None)  # GET /v3/site
    (ours_gateway,) = await EnapterClient(session, gateway_url, TOKEN).list_sites()
    assert (gateway_site.id, gateway_site.name) == (ours_gateway.id, ours_gateway.name)


@pytest.mark.parametrize("layout", ["", "/api"])
async def test_devices_with_manifests_match(
    sim: EnapterSimulator, base_url: str, session: Any, layout: str
) -> None:
    url = f"{base_url}{layout}"
    lab = next(iter(sim.sites))
    sim.set_offline(sim.meter.id)
    async with sdk_client(url) as client:
        theirs = await collect(
            client.devices.list(
                expand_manifest=True,
                expand_properties=True,
                expand_connectivity=True,
                site_id=lab,
            )
        )
        one = await client.devices.get(sim.electrolyser.id, expand_manifest=True)
    ours = await EnapterClient(session, url, TOKEN).list_devices(lab)
    assert len(ours) == len(theirs) == 4
    for mine, their in zip(ours, theirs, strict=True):
        assert (mine.id, mine.name, mine.site_id, mine.blueprint_id, mine.slug) == (
            their.id,
            their.name,
            their.site_id,
            their.blueprint_id,
            their.slug,
        )
        assert mine.type == their.type.value
        assert mine.authorized_role == their.authorized_role.value
        assert mine.connectivity == their.connectivity.status.value
        assert dict(mine.properties) == their.properties
        assert mine.manifest == parse_manifest(their.manifest)
    assert ours[3].connectivity == "OFFLINE"
    assert one.manifest["telemetry"]["status"]["enum"]["steady"]["display_name"] == "Steady"
    assert one.connectivity is None  # not expanded, not sent


async def test_latest_telemetry_matches(sim: EnapterSimulator, base_url: str, session: Any) -> None:
    request = {
        sim.electrolyser.id: ["status", "h2_flow_rate", "has_error"],
        sim.battery.id: ["soc", "charging"],
        sim.meter.id: ["total_power", "unknown_attribute"],
    }
    async with sdk_client(base_url) as client:
        theirs = await client.telemetry.latest(request)
    ours = await EnapterClient(session, base_url, TOKEN).latest_telemetry(request)
    assert set(theirs) == set(ours)
    for device_id, points in theirs.items():
        assert set(points) == set(ours[device_id])
        for attribute, point in points.items():
            mine = ours[device_id][attribute]
            if point is None:  # the SDK's reading of "timestamp": null
                assert mine.timestamp is None
            else:
                assert mine.timestamp == point.timestamp.timestamp()
                assert mine.value == point.value
    assert theirs[sim.meter.id]["unknown_attribute"] is None


async def test_execute_command_matches(sim: EnapterSimulator, base_url: str, session: Any) -> None:
    ours = EnapterClient(session, base_url, TOKEN)
    async with sdk_client(base_url) as client:
        execution = await client.commands.execute(sim.electrolyser.id, "start")
        assert execution.state.value == "SUCCESS"
        assert execution.request.name == "start"
        assert execution.response.state.value == "SUCCEEDED"
        status = await client.telemetry.latest({sim.electrolyser.id: ["status"]})
        assert status[sim.electrolyser.id]["status"].value == "steady"

        result = await ours.execute_command(sim.electrolyser.id, "stop")
        assert result.state == "SUCCESS"
        status = await client.telemetry.latest({sim.electrolyser.id: ["status"]})
        assert status[sim.electrolyser.id]["status"].value == "idle"

        execution = await client.commands.execute(
            sim.electrolyser.id, "set_production_rate", {"rate": 75}
        )
        assert execution.request.arguments == {"rate": 75}

        sim.set_command_outcome("ERROR", "Electrolyte level low")
        failed = await client.commands.execute(sim.electrolyser.id, "start")
        assert failed.state.value == "ERROR"
        assert failed.response.payload == {"message": "Electrolyte level low"}
        with pytest.raises(ApiCommandError, match="Electrolyte level low"):
            await ours.execute_command(sim.electrolyser.id, "start")

        sim.set_command_outcome("TIMEOUT")
        timed_out = await client.commands.execute(sim.electrolyser.id, "start")
        assert (timed_out.state.value, timed_out.response) == ("TIMEOUT", None)
        with pytest.raises(ApiCommandError, match="TIMEOUT"):
            await ours.execute_command(sim.electrolyser.id, "start")


async def test_errors_match(base_url: str, session: Any) -> None:
    async with sdk_client(base_url, EXPIRED_TOKEN) as client:
        with pytest.raises(sdk.Error) as their_error:
            await collect(client.sites.list())
    assert their_error.value.code == "invalid_header"
    assert their_error.value.details == {"header": "X-Enapter-Auth-Token"}
    with pytest.raises(ApiAuthError) as our_error:
        await EnapterClient(session, base_url, EXPIRED_TOKEN).list_sites()
    assert their_error.value.message in str(our_error.value)
