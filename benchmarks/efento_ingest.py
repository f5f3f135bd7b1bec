"""Efento: how fast Home Assistant ingests gateway messages, against a trivial 201 view.

    .venv/bin/python -m benchmarks.efento_ingest [--messages 300]

Starts Home Assistant in-process with its real HTTP server (``HomeAssistantHTTP.start``:
the same aiohttp runner, middlewares and routes a production instance uses) on
127.0.0.1, adds an Efento entry, and POSTs measurements messages of 1, 16 and 128
loggers one after another, as a gateway does (it waits for each answer). Each
message is new (measured_at grows), so every one is applied. The same bodies go
to a view that only reads the body and answers 201: the ratio of the two is the
cost of parsing, applying and writing states. State writes per message count
``state_changed`` and ``state_reported`` events.
"""

from __future__ import annotations

import argparse
import asyncio
from datetime import UTC, datetime, timedelta
import json
import time
from typing import Any

import aiohttp
from aiohttp import web
from homeassistant.const import EVENT_STATE_CHANGED, EVENT_STATE_REPORTED
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers.http import HomeAssistantView
from homeassistant.setup import async_setup_component

from custom_components.iot_bridge.efento.view import measurements_path
from simulators.efento_gateway import EmulatedGateway

from .harness import add_entry, free_port, home_assistant

WEBHOOK_ID = "benchmark-webhook-id-0123456789abcdef"
TOKEN = "benchmark-token-0123456789abcdef0123456789"
TRIVIAL_PATH = "/api/benchmark/efento_trivial"
SIZES = (1, 16, 128)


class TrivialView(HomeAssistantView):
    """The floor: read the body, answer 201."""

    url = TRIVIAL_PATH
    name = "api:benchmark:efento_trivial"
    requires_auth = False

    async def post(self, request: web.Request) -> web.Response:
        await request.read()
        return web.Response(status=201, text='{"Y": [], "N": []}')


def _gateway(loggers: int, hours_ahead: int) -> EmulatedGateway:
    """An emulator used only to build bodies, its clock ahead of every earlier run's."""
    start = datetime.now(UTC) + timedelta(hours=hours_ahead)
    return EmulatedGateway(
        None,  # type: ignore[arg-type]  # never sends
        "http://unused",
        loggers=loggers,
        clock=lambda: start,
    )


def _bodies(loggers: int, count: int, hours_ahead: int) -> list[bytes]:
    """``count`` consecutive messages of ``loggers`` loggers, each newer than the last."""
    gateway = _gateway(loggers, hours_ahead)
    return [json.dumps(gateway.measurements_payload()).encode() for _ in range(count)]


async def _run(
    session: aiohttp.ClientSession, url: str, bodies: list[bytes]
) -> tuple[float, list[float]]:
    headers = {"Content-Type": "application/json; charset=UTF-8", "X-Api-Token": TOKEN}
    latencies: list[float] = []
    started = time.perf_counter()
    for body in bodies:
        sent = time.perf_counter()
        async with session.post(url, data=body, headers=headers) as resp:
            await resp.read()
            if resp.status != 201:
                raise RuntimeError(f"{url} answered {resp.status}")
        latencies.append(time.perf_counter() - sent)
    return time.perf_counter() - started, latencies


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000


async def bench(messages: int) -> None:
    port = free_port()
    async with home_assistant() as hass:
        assert await async_setup_component(
            hass, "http", {"http": {"server_host": "127.0.0.1", "server_port": port}}
        )
        hass.http.register_view(TrivialView())
        await add_entry(
            hass,
            {"vendor": "efento", "webhook_id": WEBHOOK_ID, "token": TOKEN},
            unique_id=WEBHOOK_ID,
            title="Bench gateway",
        )
        await hass.http.start()
        writes = _count_writes(hass)
        base = f"http://127.0.0.1:{port}"
        print(f"Efento ingest, {messages} sequential messages per size (HA {port=})")
        print(
            f"{'loggers':>7} | {'HA msg/s':>9} {'p50 ms':>7} {'p99 ms':>7} | "
            f"{'201-view msg/s':>14} {'p50 ms':>7} {'p99 ms':>7} | {'ratio':>5} | "
            f"{'writes/msg':>10}"
        )
        async with aiohttp.ClientSession() as session:
            for hours_ahead, size in enumerate(SIZES, start=1):
                count = messages if size < 128 else max(20, messages // 3)
                warm = _bodies(size, count + 5, hours_ahead)
                # Warm-up creates the loggers' entities; not timed.
                await _run(session, base + measurements_path(WEBHOOK_ID), warm[:5])
                await hass.async_block_till_done()
                bodies = warm[5:]
                writes.clear()
                elapsed, lat = await _run(session, base + measurements_path(WEBHOOK_ID), bodies)
                await hass.async_block_till_done()
                per_message = len(writes) / len(bodies)
                t_elapsed, t_lat = await _run(session, base + TRIVIAL_PATH, bodies)
                rate, t_rate = len(bodies) / elapsed, len(bodies) / t_elapsed
                print(
                    f"{size:>7} | {rate:>9.0f} {_p(lat, 0.5):>7.2f} {_p(lat, 0.99):>7.2f} | "
                    f"{t_rate:>14.0f} {_p(t_lat, 0.5):>7.2f} {_p(t_lat, 0.99):>7.2f} | "
                    f"{t_rate / rate:>5.1f} | {per_message:>10.1f}"
                )
            # One logger of 128 in a message: only its entities are written.
            gateway = _gateway(128, len(SIZES) + 1)
            one = [
                json.dumps(gateway.measurements_payload([gateway.loggers[7].serial])).encode()
                for _ in range(20)
            ]
            writes.clear()
            await _run(session, base + measurements_path(WEBHOOK_ID), one)
            await hass.async_block_till_done()
            print(
                f"one logger of 128 loggers in a message: {len(writes) / len(one):.1f} state "
                f"writes per message ({len(hass.states.async_entity_ids())} entities in total)"
            )
        await hass.http.stop()


def _count_writes(hass: HomeAssistant) -> list[Any]:
    writes: list[Any] = []

    @callback
    def record(event: Event[Any]) -> None:
        writes.append(event.data["entity_id"])

    hass.bus.async_listen(EVENT_STATE_CHANGED, record)
    hass.bus.async_listen(EVENT_STATE_REPORTED, record, event_filter=callback(lambda _: True))
    return writes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--messages", type=int, default=300)
    args = parser.parse_args()
    asyncio.run(bench(args.messages))


if __name__ == "__main__":
    main()
