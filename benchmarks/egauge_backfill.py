"""eGauge: backfilling energy statistics from a meter's minute history.

    .venv/bin/python -m benchmarks.egauge_backfill [--registers 16] [--days 365]

A meter of ``--registers`` power registers (every fourth one net, so it gets import
and export statistics too) runs in a separate process with ``--days`` of history.
Home Assistant with a recorder (SQLite in a temporary directory) sets the entry up
and the backfill runs as it does for a user, written to the database. Printed:
the wall time until the last day was read and until the recorder had written it all,
the entry's requests meanwhile (one per day of history, plus the 30-second polls and
logins), then, in runs traced by tracemalloc, the peak Python memory of a backfill of
a month and of ``--days`` (the meter's side holds one day of rows at a time; what
grows beyond that is the recorder's queue of statistics not yet written).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
import os
from pathlib import Path
import subprocess
import time
import tracemalloc

import aiohttp
from homeassistant.components.recorder import get_instance
from homeassistant.core import HomeAssistant
from homeassistant.helpers.recorder import async_initialize_recorder
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from .harness import ROOT, free_port, home_assistant, python


@asynccontextmanager
async def meter(registers: int, days: int, serial: str) -> AsyncIterator[str]:
    """A simulated meter in its own process; yields its URL."""
    port = free_port()
    process = subprocess.Popen(  # noqa: ASYNC220 - started once, before timing
        [
            python(),
            "-m",
            "simulators.egauge",
            "--port",
            str(port),
            "--power-registers",
            str(registers),
            "--history-days",
            str(days + 1),
            "--serial",
            serial,
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(100):
                try:
                    async with session.get(f"{url}/api/auth/unauthorized"):
                        break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait()


async def backfill(
    hass: HomeAssistant, registers: int, days: int, serial: str, *, traced: bool
) -> tuple[float, float, int, int, int]:
    """Set an entry up and wait for its backfill.

    Returns the seconds until the last chunk was read and until the recorder had
    written it all, the requests, the statistics rows written and tracemalloc's peak
    (bytes; 0 unless ``traced``). Each run is another meter (serial): the recorder
    already holds the statistics of the ones before.
    """
    async with meter(registers, days, serial) as url:
        entry = MockConfigEntry(
            domain="iot_bridge",
            data={
                "vendor": "egauge",
                "url": url,
                "username": "owner",
                "password": "secret",
                "verify_ssl": True,
            },
            options={"history_days": days},
            unique_id=serial,
            title=f"bench {serial}",
        )
        entry.add_to_hass(hass)
        if traced:
            tracemalloc.start()
        try:
            started = time.perf_counter()
            if not await hass.config_entries.async_setup(entry.entry_id):
                raise RuntimeError(f"set-up failed: {entry.state}")
            client = entry.runtime_data.coordinator.client
            history = entry.runtime_data.history
            if history is None:
                raise RuntimeError("no energy history")
            before = client.requests_sent
            await hass.async_block_till_done(wait_background_tasks=True)
            read = time.perf_counter() - started
            # The recorder writes behind the reads: the backfill is done once it has caught up.
            await get_instance(hass).async_block_till_done()
            elapsed = time.perf_counter() - started
            peak = tracemalloc.get_traced_memory()[1] if traced else 0
        finally:
            tracemalloc.stop()
        requests = client.requests_sent - before
        error = history.diagnostics()["last_error"]
        if error:
            raise RuntimeError(error)
        figures = (read, elapsed, requests, history.hours_written, peak)
        await hass.config_entries.async_unload(entry.entry_id)
        return figures


async def run(registers: int, days: int) -> None:
    async with home_assistant() as hass:
        database = Path(hass.config.config_dir) / "bench.db"
        recorder = {"recorder": {"db_url": f"sqlite:///{database}", "commit_interval": 1}}
        async_initialize_recorder(hass)  # what bootstrap does before any integration loads
        if not await async_setup_component(hass, "recorder", recorder):
            raise RuntimeError("recorder did not start")
        await hass.async_block_till_done()

        read, written, requests, rows, _ = await backfill(
            hass, registers, days, "BENCH0", traced=False
        )
        print(f"meter: {registers} power registers, backfill of {days} days in day chunks")
        print(f"wall time: {read:.1f} s to read, {written:.1f} s until written")
        print(f"requests: {requests} ({requests / max(days, 1):.2f} per day)")
        print(f"statistics rows written: {rows}")
        for number, period in enumerate(sorted({min(30, days), days}), 1):
            peak = (await backfill(hass, registers, period, f"BENCH{number}", traced=True))[4]
            print(
                f"peak Python memory, {period}-day backfill (tracemalloc): {peak / 2**20:.1f} MiB"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--registers", type=int, default=16)
    parser.add_argument("--days", type=int, default=365)
    args = parser.parse_args()
    asyncio.run(run(args.registers, args.days))


if __name__ == "__main__":
    main()
