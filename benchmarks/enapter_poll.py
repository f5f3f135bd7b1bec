"""Requests and CPU per Enapter poll for a site of 20 devices x 30 attributes.

Runs the simulator in its own process (so its CPU is not counted), sets an entry up in an
in-process Home Assistant and drives the entry's real coordinator: each poll reads the latest
telemetry over HTTP, parses it and writes the state of all 600 sensors.

    .venv/bin/python -m benchmarks.enapter_poll [--polls 40]

Prints figures; never asserts on timings.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
import socket
import statistics
import sys
import tempfile
import time

import aiohttp
from homeassistant import loader
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_test_home_assistant,
)

from custom_components.iot_bridge.api.enapter import EnapterClient
from custom_components.iot_bridge.const import DOMAIN
from custom_components.iot_bridge.enapter.coordinator import EnapterCoordinator
from simulators.enapter import TOKEN

ROOT = Path(__file__).resolve().parent.parent
DEVICES, ATTRIBUTES = 20, 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_for(url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(100):
            try:
                async with session.get(url, headers={"X-Enapter-Auth-Token": TOKEN}):
                    return
            except aiohttp.ClientError:
                await asyncio.sleep(0.1)
    raise TimeoutError(f"{url} did not come up")


async def site(url: str) -> tuple[str, str]:
    async with aiohttp.ClientSession() as session:
        (first,) = await EnapterClient(session, url, TOKEN).list_sites()
    return first.id, first.name


async def run(polls: int) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    simulator = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "simulators.enapter",
        "--port",
        str(port),
        "--bulk",
        f"{DEVICES}x{ATTRIBUTES}",
        "--drift",
        "0.2",
        cwd=ROOT,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        await wait_for(f"{url}/v3/sites")
        site_id, site_name = await site(url)
        with tempfile.TemporaryDirectory() as config_dir:
            async with async_test_home_assistant(config_dir=config_dir) as hass:
                hass.data.pop(loader.DATA_CUSTOM_COMPONENTS, None)  # load custom_components/
                entry = MockConfigEntry(
                    domain=DOMAIN,
                    title=site_name,
                    unique_id=site_id,
                    data={
                        "vendor": "enapter",
                        "url": url,
                        "api_token": TOKEN,
                        "verify_ssl": True,
                        "site_id": site_id,
                        "site_name": site_name,
                        "gateway": False,
                    },
                )
                entry.add_to_hass(hass)
                started = time.perf_counter()
                assert await hass.config_entries.async_setup(entry.entry_id)
                await hass.async_block_till_done()
                setup_wall = time.perf_counter() - started
                coordinator = entry.runtime_data.coordinator
                assert isinstance(coordinator, EnapterCoordinator)
                client = coordinator.client
                setup_requests = client.requests_sent
                entities = len(hass.states.async_all())

                cpu: list[float] = []
                wall: list[float] = []
                before = client.requests_sent
                for _ in range(polls):
                    await asyncio.sleep(0.25)  # let the simulated values drift
                    cpu_start, wall_start = time.process_time(), time.perf_counter()
                    await coordinator.async_refresh()
                    await hass.async_block_till_done()
                    cpu.append(time.process_time() - cpu_start)
                    wall.append(time.perf_counter() - wall_start)
                    assert coordinator.last_update_success
                per_poll = (client.requests_sent - before) / polls

                # The same request map through a client with the API module's
                # conservative 4000-character default, for comparison.
                strict = EnapterClient(async_get_clientsession(hass), url, TOKEN)
                await strict.latest_telemetry(coordinator.request_map)
                strict_requests = strict.requests_sent

                await hass.config_entries.async_unload(entry.entry_id)
                await hass.async_block_till_done()
                await hass.async_stop(force=True)
    finally:
        simulator.terminate()
        await simulator.wait()

    ms = 1000
    print(f"Enapter poll: {DEVICES} devices x {ATTRIBUTES} attributes, {polls} polls")
    print(f"  entities:                     {entities}")
    print(f"  set-up:                       {setup_requests} requests, {setup_wall * ms:.0f} ms")
    print(f"  requests per poll:            {per_poll:g} (URL limit {client.max_url_length})")
    print(f"  requests per poll at 4000:    {strict_requests}")
    print(
        f"  CPU per poll:                 median {statistics.median(cpu) * ms:.1f} ms, "
        f"max {max(cpu) * ms:.1f} ms"
    )
    print(
        f"  wall time per poll:           median {statistics.median(wall) * ms:.1f} ms, "
        f"max {max(wall) * ms:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--polls", type=int, default=40)
    args = parser.parse_args()
    asyncio.run(run(args.polls))


if __name__ == "__main__":
    main()
