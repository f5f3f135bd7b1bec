"""Enapter: backfilling energy statistics from the cloud's telemetry history.

    .venv/bin/python -m benchmarks.enapter_backfill [--days 365] [--memory]

The simulated site's grid meter has two energy counters (import and export) with a
record a minute for more than ``--days``. Home Assistant with a recorder (SQLite in a
temporary directory) sets the entry up and the backfill runs as it does for a user:
hourly "last" readings in 30-day chunks, written to the database. The simulator runs in
this process, so the time it spends answering is measured and printed apart. Printed:
wall time, the simulator's share, requests and rows of CSV read, and statistics rows
written; with ``--memory`` the peak Python memory of the backfill (tracemalloc) instead.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
import time
import tracemalloc

from aiohttp import web
from aiohttp.test_utils import TestServer
from homeassistant.components.recorder import get_instance
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import async_initialize_recorder
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from simulators.enapter import TOKEN, EnapterSimulator
from simulators.enapter_history import history_for

from .harness import home_assistant


class Timed:
    """The simulator's history handler, timing every answer."""

    def __init__(self, handler: Callable[[web.Request], Awaitable[web.Response]]) -> None:
        self.handler = handler
        self.seconds = 0.0
        self.rows = 0

    async def __call__(self, request: web.Request) -> web.Response:
        started = time.perf_counter()
        response = await self.handler(request)
        self.seconds += time.perf_counter() - started
        self.rows += max(0, (response.text or "").count("\n") - 1)
        return response


async def backfill(
    hass: HomeAssistant, days: int
) -> tuple[float, float, float, int, int, int, int]:
    """Set an entry up and wait for its backfill.

    Returns seconds until stored, seconds until read and handed to the recorder,
    simulator seconds, requests, CSV rows, chunks and hours written.
    """
    sim = EnapterSimulator(page_size=50)
    # A counter high enough to reach back further than the backfill.
    sim.set_value(sim.meter.id, "import_energy", 40_000.0)
    history = history_for(sim)
    timed = Timed(history.handle)
    history.handle = timed  # make_app routes to whatever handle is then
    server = TestServer(sim.make_app(), host="127.0.0.1")
    await server.start_server()
    lab = next(iter(sim.sites))
    entry = MockConfigEntry(
        domain="iot_bridge",
        data={
            "vendor": "enapter",
            "url": str(server.make_url("")).rstrip("/"),
            "api_token": TOKEN,
            "verify_ssl": True,
            "site_id": lab,
            "site_name": "Hydrogen Lab",
            "gateway": False,
        },
        options={"history_days": days},
        unique_id=lab,
        title="bench",
    )
    entry.add_to_hass(hass)
    try:
        started = time.perf_counter()
        if not await hass.config_entries.async_setup(entry.entry_id):
            raise RuntimeError(f"set-up failed: {entry.state}")
        energy = entry.runtime_data.history
        if energy is None:
            raise RuntimeError("no energy history")
        await hass.async_block_till_done(wait_background_tasks=True)
        read = time.perf_counter() - started
        # The recorder writes in its own thread: the backfill ends when the rows are stored.
        await get_instance(hass).async_block_till_done()
        elapsed = time.perf_counter() - started
        diagnostics = energy.diagnostics()
        if diagnostics["last_error"]:
            raise RuntimeError(diagnostics["last_error"])
        await hass.config_entries.async_remove(entry.entry_id)
    finally:
        await server.close()
    return (
        elapsed,
        read,
        timed.seconds,
        len(history.queries),
        timed.rows,
        energy.chunks_done,
        energy.hours_written,
    )


async def with_recorder(days: int, traced: bool) -> tuple[tuple[float, ...], int]:
    """One backfill in a fresh Home Assistant, and tracemalloc's peak (bytes) when traced."""
    async with home_assistant() as hass:
        database = Path(hass.config.config_dir) / "bench.db"
        recorder = {"recorder": {"db_url": f"sqlite:///{database}", "commit_interval": 1}}
        async_initialize_recorder(hass)  # what bootstrap does before any integration loads
        if not await async_setup_component(hass, "recorder", recorder):
            raise RuntimeError("recorder did not start")
        await hass.async_block_till_done()
        if traced:
            tracemalloc.start()
        try:
            figures = await backfill(hass, days)
            peak = tracemalloc.get_traced_memory()[1] if traced else 0
        finally:
            tracemalloc.stop()
        return figures, peak


async def run(days: int, memory: bool) -> None:
    # One Home Assistant per process: a second one in the same process cannot create its
    # HTTP session (the first one's zeroconf and frame helpers are gone), hence --memory.
    figures, peak = await with_recorder(days, memory)
    seconds, read, simulator, requests, rows, chunks, hours = figures
    print(f"site: one meter with 2 energy counters, backfill of {days} days in 30-day chunks")
    if memory:
        print(f"peak Python memory, {days}-day backfill (tracemalloc): {peak / 2**20:.1f} MiB")
        return
    print(
        f"wall time until stored: {seconds:.1f} s (read and handed to the recorder: {read:.1f} s)"
    )
    print(f"the simulator answering: {simulator:.1f} s of it")
    print(f"requests: {requests} ({chunks} chunks read), CSV rows read: {rows}")
    print(f"statistics rows written: {hours}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument(
        "--memory", action="store_true", help="trace the run and print its peak memory instead"
    )
    args = parser.parse_args()
    asyncio.run(run(args.days, args.memory))


if __name__ == "__main__":
    main()
