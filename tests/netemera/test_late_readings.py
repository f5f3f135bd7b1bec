"""Missed uplinks: a catch-up shows each device's newest once, the rest go to statistics.

The simulator keeps uplinks it received while nobody listened (``send_missed``): history
answers them after a restart, and a resumed stream replays them after a drop.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_bridge.late_readings import COMPILE_MARGIN, LateReading
from simulators.netemera import NetemeraSimulator
from tests.late_statistics import expected_means, hourly_rows, settle, state_changes

from .conftest import CLIMATE, STORE_KEY, coordinator, entity_id, state_of, wait_for

OPTIONS = {CLIMATE: {"decoder": "cayenne_lpp"}}
TEMPERATURE_KEY = "lpp_1_103"
HOUR = timedelta(hours=1)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Any, enable_custom_integrations: None, socket_enabled: None
) -> None:
    """The recorder must start before Home Assistant does."""


@pytest.fixture
def entry_options() -> dict[str, Any]:
    return OPTIONS


@pytest.fixture
def freezer() -> FrozenDateTimeFactory:
    """Real time runs here (the stream needs it); ``settle`` only fires timers ahead."""
    return _RealTime()


class _RealTime(FrozenDateTimeFactory):
    def __init__(self) -> None:
        """Nothing is frozen."""

    def tick(self, delta: Any = None) -> None:
        """Time goes on by itself."""


def _outage_times() -> tuple[datetime, list[datetime]]:
    """An hour before an outage, and the receive times of what was missed during it.

    Three complete hours of uplinks every 15 minutes, then one a minute ago (the present).
    """
    base = dt_util.utcnow().replace(minute=0, second=0, microsecond=0) - 4 * HOUR
    missed = [base + timedelta(minutes=5 + 15 * k) for k in range(12)]
    return base - HOUR + timedelta(minutes=30), [*missed, dt_util.utcnow() - timedelta(minutes=1)]


def _temperatures(simulator: NetemeraSimulator, dev_eui: str) -> list[LateReading]:
    """The temperatures a climate device sent, decoded by hand from its LPP payload."""
    found = []
    for _, uplink in simulator.events:
        if uplink["dev_eui"] != dev_eui:
            continue
        payload = bytes.fromhex(uplink["frm_payload"])
        assert payload[:2] == bytes((1, 0x67))
        when = datetime.fromisoformat(uplink["recv_time"].replace("000Z", "+00:00"))
        found.append(LateReading(when, int.from_bytes(payload[2:4], "big", signed=True) / 10))
    return sorted(found, key=lambda reading: reading.when)


def _complete(hour: datetime) -> bool:
    return hour + HOUR <= dt_util.utcnow() - COMPILE_MARGIN


def _assert_rows(
    rows: dict[datetime, dict[str, Any]], expected: dict[datetime, dict[str, float]]
) -> None:
    assert set(rows) == set(expected)
    for hour, values in expected.items():
        for kind, value in values.items():
            assert rows[hour][kind] == pytest.approx(value), (hour, kind)


async def test_restart_catch_up_from_history_fills_statistics(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    config_entry: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    hass_storage: dict[str, Any],
    freezer: FrozenDateTimeFactory,
) -> None:
    """Home Assistant was down for hours: history brings the missed uplinks at set-up."""
    before, missed = _outage_times()
    device = simulator.devices[CLIMATE]
    stored = simulator.make_uplink(device, before)
    hass_storage[STORE_KEY] = {
        "version": 1,
        "minor_version": 1,
        "key": STORE_KEY,
        "data": {
            "last_event_id": None,
            "last_recv_time": before.isoformat(),
            "covered_until": before.isoformat(),
            "devices": {CLIMATE: {"uplink": stored, "values": [], "switch_on": None}},
        },
    }
    simulator.send_missed(CLIMATE, missed)
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    coord = coordinator(config_entry)
    await wait_for(lambda: coord.stream_connected)
    await settle(hass, freezer)

    temperatures = _temperatures(simulator, CLIMATE)
    assert [reading.when for reading in temperatures] == missed
    found = entity_id(entity_registry, CLIMATE, TEMPERATURE_KEY)
    assert found is not None
    assert float(state_of(hass, entity_registry, CLIMATE, TEMPERATURE_KEY) or "nan") == (
        temperatures[-1].value
    )
    assert coord.stats["superseded"] == len(missed) - 1
    rows = await hourly_rows(hass, found, missed[0] - HOUR, {"mean", "min", "max"})
    expected = expected_means(temperatures[:-1], _complete)
    assert len(expected) == 3
    _assert_rows(rows, expected)


async def test_resumed_stream_replay_is_one_state_change(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A drop: the stream resumes from its event id and the server replays the gap."""
    before, missed = _outage_times()
    simulator.send_uplink(CLIMATE, before)
    await wait_for(lambda: state_of(hass, entity_registry, CLIMATE, TEMPERATURE_KEY))
    found = entity_id(entity_registry, CLIMATE, TEMPERATURE_KEY)
    assert found is not None
    changes = state_changes(hass, found)
    coord = coordinator(init_integration)
    last_id = coord.data.last_event_id
    # Received by the server, never pushed to us: only the resume brings them.
    simulator.send_missed(CLIMATE, missed)
    simulator.drop_streams(abort=True)
    final = simulator.devices[CLIMATE].f_cnt
    await wait_for(lambda: state_of(hass, entity_registry, CLIMATE, "frame_counter") == str(final))
    await settle(hass, freezer)

    assert simulator.stream_last_event_ids[-1] == last_id
    temperatures = _temperatures(simulator, CLIMATE)
    assert float(state_of(hass, entity_registry, CLIMATE, TEMPERATURE_KEY) or "nan") == (
        temperatures[-1].value
    )
    assert len(changes) == 1
    rows = await hourly_rows(hass, found, missed[0] - HOUR, {"mean", "min", "max"})
    _assert_rows(rows, expected_means(temperatures[1:-1], _complete))


async def test_late_uplink_on_the_live_stream_is_history_only(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A packet older than the shown one (a network's late forward) changes no state."""
    simulator.send_uplink(CLIMATE)
    await wait_for(lambda: state_of(hass, entity_registry, CLIMATE, "frame_counter") == "1")
    found = entity_id(entity_registry, CLIMATE, TEMPERATURE_KEY)
    assert found is not None
    shown = state_of(hass, entity_registry, CLIMATE, TEMPERATURE_KEY)
    changes = state_changes(hass, found)
    old = dt_util.utcnow().replace(minute=0, second=0, microsecond=0) - 2 * HOUR
    simulator.send_uplink(CLIMATE, old + timedelta(minutes=20))
    await wait_for(lambda: coordinator(init_integration).stats["late"] == 1)
    await settle(hass, freezer)
    assert changes == []
    assert state_of(hass, entity_registry, CLIMATE, TEMPERATURE_KEY) == shown
    late = _temperatures(simulator, CLIMATE)[0]
    rows = await hourly_rows(hass, found, old - HOUR, {"mean", "min", "max"})
    assert rows == {old: {"mean": late.value, "min": late.value, "max": late.value}}
    # Its radio values are history of their own sensors too.
    rssi = entity_id(entity_registry, CLIMATE, "rssi")
    assert rssi is not None
    assert set(await hourly_rows(hass, rssi, old - HOUR, {"mean"})) == {old}


async def test_without_the_decoder_only_radio_values_are_kept(
    hass: HomeAssistant,
    simulator: NetemeraSimulator,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The raw device's payload is no LPP: its late uplink keeps RSSI and SNR only."""
    raw = next(d for d in simulator.devices.values() if d.kind == "raw").dev_eui
    simulator.send_uplink(raw)
    await wait_for(lambda: state_of(hass, entity_registry, raw, "frame_counter") == "1")
    old = dt_util.utcnow().replace(minute=0, second=0, microsecond=0) - 3 * HOUR
    simulator.send_uplink(raw, old + timedelta(minutes=1))
    await wait_for(lambda: coordinator(init_integration).stats["late"] == 1)
    await settle(hass, freezer)
    for key in ("rssi", "snr"):
        found = entity_id(entity_registry, raw, key)
        assert found is not None
        assert set(await hourly_rows(hass, found, old - HOUR, {"mean"})) == {old}
