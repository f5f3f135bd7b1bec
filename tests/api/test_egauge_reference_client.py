"""eGauge's own Python client (``egauge-python``) against the simulator.

If eGauge's client logs in, reads every register and interprets counters the way
our client does, the simulator speaks the meter's real wire format and our type
table agrees with eGauge's.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any
import warnings

import aiohttp
from aiohttp.test_utils import TestServer
import pytest

from custom_components.iot_bridge.api.egauge import REGISTER_TYPES, EgaugeClient
from simulators.egauge import EgaugeSimulator

webapi = pytest.importorskip("egauge.webapi")
register_mod = pytest.importorskip("egauge.webapi.device.register")
register_type = pytest.importorskip("egauge.webapi.device.register_type")

pytestmark = pytest.mark.usefixtures("socket_enabled")

NOW = 1_700_000_000.0


@pytest.fixture
def sim() -> EgaugeSimulator:
    return EgaugeSimulator(clock=lambda: NOW)


@pytest.fixture
async def base_url(sim: EgaugeSimulator) -> AsyncIterator[str]:
    async with TestServer(sim.make_app(), host="127.0.0.1") as server:
        yield str(server.make_url("")).rstrip("/")


def read_with_egauge(url: str, user: str, password: str) -> dict[str, Any]:
    """Blocking: log in with eGauge's JWTAuth and read rates and one counter row."""
    device = webapi.device.Device(url, webapi.JWTAuth(user, password))
    regs = register_mod.Register(device, {"rate": "", "time": "now"})
    (row,) = list(regs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # rate() is their raw accessor
        rates = {name: regs.rate(name) for name in regs.regs}
    return {
        "hostname": device.get("/config/net/hostname")["result"],
        "rights": device.get("/auth/rights")["rights"],
        "types": {name: regs.type_code(name) for name in regs.regs},
        "indices": {name: regs.index(name) for name in regs.regs},
        "rates": rates,
        "counters": dict(row.regs),
        "ts": float(row.ts),
        "kwh": {name: row.pq_accu(name) for name in regs.regs if regs.type_code(name) == "P"},
        "raw": regs.raw,
    }


async def test_egauge_client_reads_what_the_simulator_holds(
    sim: EgaugeSimulator, base_url: str
) -> None:
    theirs = await asyncio.to_thread(read_with_egauge, base_url, "owner", "secret")
    assert theirs["hostname"] == sim.hostname
    assert set(theirs["rights"]) == {"save", "ctrl"}
    assert theirs["ts"] == NOW
    assert sim.requests_by_path["/api/auth/login"] >= 1
    assert len(theirs["types"]) == len(sim.registers)
    for reg in sim.registers:
        assert theirs["types"][reg.name] == reg.type_code
        assert theirs["indices"][reg.name] == reg.idx
        assert theirs["rates"][reg.name] == pytest.approx(sim.rate_of(reg.name))
        assert theirs["counters"][reg.name] == sim.counter_of(reg.name)
    # eGauge's unit handling: power counters are watt-seconds, shown as kWh.
    for name, quantity in theirs["kwh"].items():
        assert quantity.unit == "kWh"
        assert quantity.value == pytest.approx(sim.counter_of(name) / 3_600_000)


async def test_both_clients_agree(sim: EgaugeSimulator, base_url: str) -> None:
    theirs = await asyncio.to_thread(read_with_egauge, base_url, "owner", "secret")
    async with aiohttp.ClientSession() as session:
        client = EgaugeClient(session, base_url, "owner", "secret")
        ours = await client.get_readings()
        await client.close()
    assert ours.timestamp == theirs["ts"]
    assert {name: reg.counter for name, reg in ours.registers.items()} == theirs["counters"]
    assert {name: reg.rate for name, reg in ours.registers.items()} == pytest.approx(
        theirs["rates"]
    )


def test_quanta_match_egauge_unit_table() -> None:
    """Where eGauge's table keeps counters in rate-unit seconds, its scale is our quantum."""
    table = register_type.Units.table
    for code in ("#3", "T", "h", "F", "a", "THD", "m", "%", "ppm", "Qe", "$", "R", "Pa", "#"):
        assert table[code].cumul_scale == pytest.approx(REGISTER_TYPES[code].quantum), code
    # eGauge shows these in hours or kWh: quantum / 3600 (/ 1000 for kilo-units)
    for code in ("P", "S", "Ee"):
        assert table[code].cumul_scale == pytest.approx(REGISTER_TYPES[code].quantum / 3_600_000)
    for code in ("V", "I"):
        assert table[code].cumul_scale == pytest.approx(REGISTER_TYPES[code].quantum / 3600)
    # fix_scale is the inverse of the quantum for rates kept as fixed-point numbers
    for code in ("V", "I", "$", "Qv", "#3"):
        assert table[code].fix_scale * REGISTER_TYPES[code].quantum == pytest.approx(1), code


async def test_viewer_is_refused_register_reads(sim: EgaugeSimulator, base_url: str) -> None:
    def read() -> None:
        device = webapi.device.Device(base_url, webapi.JWTAuth("viewer", "view"))
        register_mod.Register(device, {"rate": ""})

    with pytest.raises(register_mod.RegisterError, match="403"):
        await asyncio.to_thread(read)


async def test_wrong_password_is_refused(base_url: str) -> None:
    def read() -> None:
        device = webapi.device.Device(base_url, webapi.JWTAuth("owner", "nope"))
        device.get("/sys/sn")

    with pytest.raises(webapi.JSONAPIError, match="Authentication failed"):
        await asyncio.to_thread(read)
