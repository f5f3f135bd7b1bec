"""Netemera: uplinks per second handled, and latency from SSE event to entity state.

    .venv/bin/python -m benchmarks.netemera_stream [--devices 1 500] [--samples 200]

Home Assistant runs in-process with the integration set up through a config
entry against the Netemera simulator (also in-process, on 127.0.0.1), with the
Cayenne LPP decoder on for every LPP device (climate, light, relay; a quarter
send raw vendor frames). Each figure goes the whole real path:
the simulator writes an SSE frame, the client parses it, the coordinator drops
repeats, decodes the payload and wakes only that device's entities, which write
their states.

- latency: one uplink at a time; from the simulator emitting the event to the
  device's frame counter state being written (state_changed event);
- throughput: a burst of uplinks (every device several times) emitted at once;
  uplinks handled per second until the last one is applied, and CPU per uplink.
  The simulator shares the event loop, so its share of writing frames is included.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from typing import Any

from aiohttp.test_utils import TestServer
from homeassistant.const import EVENT_STATE_CHANGED
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er

from custom_components.iot_bridge.netemera.coordinator import NetemeraCoordinator
from simulators.netemera import APPLICATION_ID, CLIENT_ID, CLIENT_SECRET, NetemeraSimulator

from .harness import add_entry, home_assistant


async def _wait(predicate: Any, timeout: float = 60.0) -> None:
    async with asyncio.timeout(timeout):
        while not predicate():  # noqa: ASYNC110 - polling the coordinator's counters
            await asyncio.sleep(0.001)


async def run_one(hass: HomeAssistant, devices: int, samples: int) -> None:
    simulator = NetemeraSimulator(devices)
    server = TestServer(simulator.make_app(), host="127.0.0.1")
    await server.start_server()
    base = f"http://127.0.0.1:{server.port}"
    data = {
        "vendor": "netemera",
        "auth_url": base,
        "api_url": f"{base}/api/v3",
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "application_id": APPLICATION_ID,
    }
    try:
        entry = await add_entry(hass, data, f"bench-{devices}", title=f"bench {devices}")
        hass.config_entries.async_update_entry(
            entry,
            options={
                eui: {"decoder": "cayenne_lpp"}
                for eui, device in simulator.devices.items()
                if device.kind != "raw"  # its vendor-specific frames stay raw
            },
        )
        coordinator = entry.runtime_data.coordinator
        assert isinstance(coordinator, NetemeraCoordinator)
        await _wait(lambda: coordinator.stream_connected)

        # Every device appears (entities are created) before anything is timed.
        start = time.perf_counter()
        simulator.tick()
        await _wait(lambda: coordinator.stats["uplinks"] >= devices)
        await hass.async_block_till_done()
        created = time.perf_counter() - start
        entities = len(er.async_entries_for_config_entry(er.async_get(hass), entry.entry_id))
        print(
            f"\n{devices} end-device(s): {entities} entities, first uplinks + entity creation "
            f"{created * 1e3:.0f} ms"
        )

        # Latency: one event at a time, to the frame counter's state write.
        registry = er.async_get(hass)
        counter_entity = {
            eui: registry.async_get_entity_id(
                "sensor", "iot_bridge", f"{entry.unique_id}_{eui}_frame_counter"
            )
            for eui in simulator.devices
        }
        waiting: dict[str, asyncio.Future[float]] = {}

        @callback
        def on_state(event: Event[Any]) -> None:
            future = waiting.pop(event.data["entity_id"], None)
            if future is not None and not future.done():
                future.set_result(time.perf_counter())

        unsubscribe = hass.bus.async_listen(EVENT_STATE_CHANGED, on_state)
        rng = random.Random(1)
        euis = list(simulator.devices)
        latencies = []
        for _ in range(samples):
            eui = rng.choice(euis)
            future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
            waiting[str(counter_entity[eui])] = future
            sent = time.perf_counter()
            simulator.send_uplink(eui)
            latencies.append(await asyncio.wait_for(future, 10) - sent)
        unsubscribe()
        latencies.sort()
        print(
            f"  latency SSE event -> entity state ({samples} uplinks): "
            f"p50 {latencies[len(latencies) // 2] * 1e3:.2f} ms, "
            f"p95 {latencies[int(len(latencies) * 0.95)] * 1e3:.2f} ms, "
            f"max {latencies[-1] * 1e3:.2f} ms"
        )

        # Throughput: a burst of uplinks.
        burst = max(2000, devices * 10)
        before = coordinator.stats["uplinks"]
        rounds = burst // devices
        cpu = time.process_time()
        start = time.perf_counter()
        for _ in range(rounds):
            simulator.tick()
        await _wait(lambda: coordinator.stats["uplinks"] >= before + rounds * devices)
        elapsed = time.perf_counter() - start
        cpu = time.process_time() - cpu
        handled = coordinator.stats["uplinks"] - before
        print(
            f"  throughput: {handled} uplinks in {elapsed:.2f} s = {handled / elapsed:,.0f} "
            f"uplinks/s (CPU {cpu / handled * 1e6:.0f} µs per uplink, simulator included)"
        )
        print(
            f"  duplicates dropped: {coordinator.stats['duplicates']}, "
            f"requests sent: {coordinator.client.requests_sent}"
        )
        await hass.config_entries.async_remove(entry.entry_id)
    finally:
        await server.close()


async def run(device_counts: list[int], samples: int) -> None:
    async with home_assistant() as hass:
        for devices in device_counts:
            await run_one(hass, devices, samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--devices", type=int, nargs="+", default=[1, 500])
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(run(args.devices, args.samples))


if __name__ == "__main__":
    main()
