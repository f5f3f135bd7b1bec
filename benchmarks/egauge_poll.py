"""eGauge: requests per poll and CPU time of one poll-and-update.

    .venv/bin/python -m benchmarks.egauge_poll [--registers 64] [--polls 200]

Requests are counted by the integration's own client against the simulator in
this process (so tokens can be revoked); CPU time is measured with the
simulator in a separate process, so it is Home Assistant's side alone:
the request, JSON parsing, the energy ledger and every entity's state write.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import time

import aiohttp
from aiohttp.test_utils import TestServer
from homeassistant.core import HomeAssistant

from simulators.egauge import EgaugeSimulator

from .harness import ROOT, add_entry, free_port, home_assistant, python


def _data(url: str) -> dict[str, object]:
    return {
        "vendor": "egauge",
        "url": url,
        "username": "owner",
        "password": "secret",
        "verify_ssl": True,
    }


async def request_counts(hass: HomeAssistant, registers: int) -> None:
    simulator = EgaugeSimulator.with_registers(registers)
    server = TestServer(simulator.make_app(), host="127.0.0.1")
    await server.start_server()
    try:
        url = str(server.make_url("/")).rstrip("/")
        entry = await add_entry(hass, _data(url), simulator.serial)
        coordinator = entry.runtime_data.coordinator
        client = coordinator.client

        async def poll() -> int:
            before = client.requests_sent
            await coordinator.async_refresh()
            await hass.async_block_till_done()
            return int(client.requests_sent - before)

        steady = [await poll() for _ in range(10)]
        simulator.revoke_all_tokens()
        expiry = await poll()
        after = await poll()
        entities = len(hass.states.async_all("sensor"))
        print(f"registers: {registers}, enabled sensor entities: {entities}")
        print(f"requests per poll, steady state: {statistics.mean(steady):.1f}")
        print(f"requests per poll, token expired: {expiry} (then {after})")
        await hass.config_entries.async_remove(entry.entry_id)
    finally:
        await server.close()


async def cpu_per_poll(hass: HomeAssistant, registers: int, polls: int) -> None:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(  # noqa: ASYNC220 - started once, before timing
        [python(), "-m", "simulators.egauge", "--port", str(port), "--registers", str(registers)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(f"{url}/api/auth/unauthorized"):
                        break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
        serial = EgaugeSimulator.with_registers(registers).serial
        entry = await add_entry(hass, _data(url), serial)
        coordinator = entry.runtime_data.coordinator
        samples = []
        for _ in range(polls):
            start = time.process_time()
            await coordinator.async_refresh()
            await hass.async_block_till_done()
            samples.append(time.process_time() - start)
        samples.sort()
        mean_ms = statistics.mean(samples) * 1e3
        print(
            f"CPU per poll-and-update ({polls} polls): mean {mean_ms:.2f} ms,"
            f" p50 {samples[len(samples) // 2] * 1e3:.2f} ms,"
            f" p95 {samples[int(len(samples) * 0.95)] * 1e3:.2f} ms"
        )
        await hass.config_entries.async_unload(entry.entry_id)
    finally:
        process.terminate()
        process.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--registers", type=int, default=64)
    parser.add_argument("--polls", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(run(args.registers, args.polls))


async def run(registers: int, polls: int) -> None:
    async with home_assistant() as hass:
        await request_counts(hass, registers)
        await cpu_per_poll(hass, registers, polls)


if __name__ == "__main__":
    main()
