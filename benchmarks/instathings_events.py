"""Instathings: websocket events handled per second and message-to-state latency.

    .venv/bin/python -m benchmarks.instathings_events [--events 5000] [--samples 500]

Home Assistant runs in-process with a real config entry against the simulator
(also in-process, on 127.0.0.1), so every figure covers the whole path: the
websocket frame, parsing, de-duplication, the coordinator waking only the
touched device's entities, and their state writes. The simulator's own cost of
sending shares the event loop and is included.

- latency: one ``data`` event at a time, from just before the simulator sends
  the frame to the state-changed event of the entity (p50/p95/max);
- throughput: a burst of events over three devices, sent back to back, until
  the last one is in the state machine;
- catch-up: records stored while the websocket was down, fetched with
  ``start=`` after the reconnect (the newest per device becomes the state, the
  older ones go to the sensors' statistics).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid

from aiohttp.test_utils import TestServer
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers.event import async_track_state_change_event

from custom_components.iot_bridge.api.backoff import Backoff
from custom_components.iot_bridge.instathings.coordinator import InstathingsCoordinator
from simulators.instathings import (
    CLIENT_ID,
    CLIENT_SECRET,
    PLUG_ID,
    PROJECT,
    SENSOR_ID,
    VIRTUAL_ID,
    InstathingsSimulator,
)

from .harness import add_entry, home_assistant

TEMPERATURE = "sensor.living_room_temperature"
DEVICES = (SENSOR_ID, PLUG_ID, VIRTUAL_ID)


def frame(device_id: str, ts: int, data: dict[str, object]) -> str:
    payload = {"id": str(uuid.uuid4()), "ts": ts, "deviceId": device_id, "data": data}
    return json.dumps({"action": "data", "payload": payload})


def values(device_id: str, i: int) -> dict[str, object]:
    if device_id == SENSOR_ID:
        return {"temperature": 15 + i / 1000, "humidity": 40 + i % 30, "battery": 90}
    if device_id == PLUG_ID:
        return {"state": "ON", "power": 100 + i % 50, "energy": 12 + i / 1e4, "voltage": 230}
    return {"value": i % 100, "isVirtualData": True}


async def wait_until(condition: object, timeout: float = 30.0) -> None:
    assert callable(condition)
    deadline = time.perf_counter() + timeout
    while not condition():
        if time.perf_counter() > deadline:
            raise TimeoutError("the integration did not catch up in time")
        await asyncio.sleep(0.001)


async def latency(
    hass: HomeAssistant, sim: InstathingsSimulator, start_ts: int, samples: int
) -> int:
    changed = asyncio.Event()

    @callback
    def on_change(event: Event[EventStateChangedData]) -> None:
        changed.set()

    unsub = async_track_state_change_event(hass, TEMPERATURE, on_change)
    delays: list[float] = []
    ts = start_ts
    for i in range(samples):
        ts += 1
        text = frame(SENSOR_ID, ts, {"temperature": 30 + i / 1000})
        changed.clear()
        begin = time.perf_counter()
        await sim.emit_raw(text)
        await changed.wait()
        delays.append(time.perf_counter() - begin)
    unsub()
    delays.sort()
    print(
        f"latency websocket message -> entity state ({samples} events):"
        f" p50 {delays[len(delays) // 2] * 1e3:.2f} ms,"
        f" p95 {delays[int(len(delays) * 0.95)] * 1e3:.2f} ms,"
        f" max {delays[-1] * 1e3:.2f} ms, mean {statistics.mean(delays) * 1e3:.2f} ms"
    )
    return ts


async def throughput(
    hass: HomeAssistant,
    sim: InstathingsSimulator,
    coordinator: InstathingsCoordinator,
    start_ts: int,
    count: int,
) -> int:
    frames = []
    ts = start_ts
    for i in range(count):
        ts += 1
        frames.append(frame(DEVICES[i % len(DEVICES)], ts, values(DEVICES[i % len(DEVICES)], i)))
    target = coordinator.stream_stats["events"] + count
    last_temperature = str(
        values(SENSOR_ID, max(i for i in range(count) if i % 3 == 0))["temperature"]
    )
    writes = 0

    @callback
    def on_change(event: Event[EventStateChangedData]) -> None:
        nonlocal writes
        writes += 1

    unsub = hass.bus.async_listen("state_changed", on_change)
    cpu = time.process_time()
    begin = time.perf_counter()
    for text in frames:
        await sim.emit_raw(text)
    await wait_until(
        lambda: (
            coordinator.stream_stats["events"] >= target
            and (state := hass.states.get(TEMPERATURE)) is not None
            and state.state == last_temperature
        )
    )
    elapsed = time.perf_counter() - begin
    cpu = time.process_time() - cpu
    unsub()
    print(
        f"throughput: {count} events over {len(DEVICES)} devices in {elapsed:.2f} s"
        f" = {count / elapsed:,.0f} events/s ({cpu / count * 1e6:.0f} µs CPU per event,"
        f" simulator included; {writes} state changes)"
    )
    return ts


async def catch_up(
    hass: HomeAssistant, sim: InstathingsSimulator, coordinator: InstathingsCoordinator, count: int
) -> None:
    sim.fail_next(1_000_000, status=503)
    drops = coordinator.stream_stats["drops"]
    await sim.drop_websockets()
    await wait_until(lambda: coordinator.stream_stats["drops"] > drops)
    for i in range(count):
        device_id = DEVICES[i % len(DEVICES)]
        await sim.add_data(device_id, values(device_id, i))  # nobody listening
    before = coordinator.stream_stats["caught_up_records"]
    connects = coordinator.stream_stats["connects"]
    begin = time.perf_counter()
    sim.fail_next(0)
    await wait_until(lambda: coordinator.stream_stats["connects"] > connects)
    elapsed = time.perf_counter() - begin
    caught = coordinator.stream_stats["caught_up_records"] - before
    print(
        f"catch-up after a drop: {caught} missed records fetched and applied in {elapsed:.2f} s"
        f" (includes up to {coordinator.backoff.maximum * 1e3:.0f} ms of reconnect backoff)"
    )


async def run(events: int, samples: int) -> None:
    sim = InstathingsSimulator(seed=1, history=5)
    server = TestServer(sim.make_app(), host="127.0.0.1")
    await server.start_server()
    base = f"http://127.0.0.1:{server.port}"
    try:
        async with home_assistant() as hass:
            entry = await add_entry(
                hass,
                {
                    "vendor": "instathings",
                    "project": PROJECT,
                    "client_id": CLIENT_ID,
                    "client_secret": CLIENT_SECRET,
                    "api_url": base,
                    "websocket_url": base,
                },
                PROJECT,
            )
            coordinator = entry.runtime_data.coordinator
            assert isinstance(coordinator, InstathingsCoordinator)
            coordinator.backoff = Backoff(initial=0.05, maximum=0.05, jitter=False)
            await wait_until(lambda: coordinator.stream_connected)
            print(f"entities: {len(hass.states.async_all())}, devices: {len(coordinator.devices)}")
            # Right after the seeded history (which ends a minute ago), so the
            # catch-up records the simulator stamps "now" are newer still.
            start_ts = max(r["ts"] for records in sim.records.values() for r in records)
            ts = await latency(hass, sim, start_ts, samples)
            await throughput(hass, sim, coordinator, ts, events)
            await catch_up(hass, sim, coordinator, min(events, 600))
            print(f"requests sent by the client in total: {coordinator.client.requests_sent}")
            await hass.config_entries.async_unload(entry.entry_id)
    finally:
        await server.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--samples", type=int, default=500)
    args = parser.parse_args()
    asyncio.run(run(args.events, args.samples))


if __name__ == "__main__":
    main()
