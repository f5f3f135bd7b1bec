"""A gateway's resent buffer: the newest reading is the state once, the rest go to statistics.

The emulated gateway sends what a real one sends after an outage: its stored
measurements, several per logger in one message, a series of messages oldest first.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
import json
import math
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.components.recorder.models import StatisticData, StatisticMeanType
from homeassistant.components.recorder.statistics import async_import_statistics
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import STATE_UNAVAILABLE
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.util.unit_system import US_CUSTOMARY_SYSTEM
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed
from pytest_homeassistant_custom_component.components.recorder.common import (
    async_wait_recording_done,
)

from custom_components.iot_bridge.compat import statistic_metadata
from custom_components.iot_bridge.efento.coordinator import EfentoCoordinator
from custom_components.iot_bridge.late_readings import LateReading
from simulators.efento_gateway import TIME_FORMAT, EmulatedGateway
from tests.late_statistics import expected_means, hourly_rows, settle, state_changes

from .conftest import NOW, GatewayFactory

B1 = "282C024FFFB1"
TEMPERATURE = "sensor.efento_282c024fffb1_temperature"
HUMIDITY = "sensor.efento_282c024fffb2_humidity"
SIGNAL = "sensor.efento_282c024fffb1_signal_strength"
LAST_MEASUREMENT = "sensor.efento_282c024fffb1_last_measurement"
OUTAGE = timedelta(hours=4)
# Further apart than a logger's schedule allows (180 s and 10 minutes' grace): each
# buffered reading was overdue when it arrived, only the last one is the present.
EVERY = timedelta(minutes=15)
# At NOW (15:31:21) the hours up to 14:00 are complete and left by the recorder; the
# current hour is the recorder's to compile from the live state.
COMPLETE = {datetime(2024, 10, 12, hour, tzinfo=UTC) for hour in (11, 12, 13, 14)}


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    recorder_mock: Any, enable_custom_integrations: None, socket_enabled: None
) -> None:
    """The recorder must start before Home Assistant does."""


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None, entity_id
    return state.state


def _readings(payloads: list[dict[str, Any]], serial: str, channel: int) -> list[LateReading]:
    """What the gateway sent for one channel (or the signal, channel 0), oldest first."""
    found: list[LateReading] = []
    for payload in payloads:
        for item in payload["measurements"]:
            if item["serial"] != serial:
                continue
            when = datetime.strptime(item["measured_at"], TIME_FORMAT).replace(tzinfo=UTC)
            if channel == 0:
                found.append(LateReading(when, float(item["signal"])))
                continue
            for param in item["params"]:
                if param["channel"] == channel:
                    found.append(LateReading(when, float(param["value"])))
    return sorted(found, key=lambda reading: reading.when)


def _assert_rows(
    rows: dict[datetime, dict[str, Any]], expected: dict[datetime, dict[str, float]]
) -> None:
    assert set(rows) == set(expected)
    for hour, values in expected.items():
        for kind, value in values.items():
            assert rows[hour][kind] == pytest.approx(value), (hour, kind)


async def _outage(
    hass: HomeAssistant, gateway: EmulatedGateway, freezer: FrozenDateTimeFactory
) -> None:
    """The gateway reports live, then loses its link for ``OUTAGE``; time is NOW after.

    Its loggers' entities went unavailable during the outage.
    """
    freezer.move_to(NOW - OUTAGE - timedelta(minutes=5))
    assert await gateway.send_measurements()
    await hass.async_block_till_done()
    freezer.move_to(NOW)
    async_fire_time_changed(hass, NOW)
    await hass.async_block_till_done()
    assert _state(hass, TEMPERATURE) == STATE_UNAVAILABLE


def _post_all(gateway: EmulatedGateway, payloads: list[dict[str, Any]]) -> Iterator[int]:
    for payload in payloads:
        yield gateway.enqueue("measurements", gateway.measurements_path, json.dumps(payload))


async def test_resent_buffer_lands_in_statistics_state_once(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    gateway: EmulatedGateway,
    freezer: FrozenDateTimeFactory,
) -> None:
    await _outage(hass, gateway, freezer)
    changes = state_changes(hass, TEMPERATURE)
    stamps = state_changes(hass, LAST_MEASUREMENT)

    payloads = gateway.buffered_payloads(OUTAGE, every=EVERY, per_message=9)
    assert len(payloads) > 5  # a series of messages, several measurements of a logger in each
    assert all(len([m for m in p["measurements"] if m["serial"] == B1]) >= 2 for p in payloads[:-1])
    list(_post_all(gateway, payloads))
    assert await gateway.flush()
    await settle(hass, freezer)

    temperatures = _readings(payloads, B1, 1)
    # Only the newest became the state, with one state change for the whole buffer.
    assert float(_state(hass, TEMPERATURE)) == temperatures[-1].value
    assert len(changes) == 1
    assert len(stamps) == 1
    coordinator: EfentoCoordinator = init_integration.runtime_data.coordinator
    assert coordinator.data.loggers[B1].measured_at == temperatures[-1].when

    since = NOW - timedelta(days=1)
    _assert_rows(
        await hourly_rows(hass, TEMPERATURE, since, {"mean", "min", "max"}),
        expected_means(temperatures[:-1], COMPLETE.__contains__),
    )
    _assert_rows(
        await hourly_rows(hass, HUMIDITY, since, {"mean", "min", "max"}),
        expected_means(_readings(payloads, "282C024FFFB2", 2)[:-1], COMPLETE.__contains__),
    )
    _assert_rows(
        await hourly_rows(hass, SIGNAL, since, {"mean", "min", "max"}),
        expected_means(_readings(payloads, B1, 0)[:-1], COMPLETE.__contains__),
    )


async def test_second_delivery_and_recorded_hours_are_not_written_again(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    gateway: EmulatedGateway,
    freezer: FrozenDateTimeFactory,
) -> None:
    await _outage(hass, gateway, freezer)
    # Home Assistant holds 12:00 already (it compiled it from live states).
    held = datetime(2024, 10, 12, 12, tzinfo=UTC)
    async_import_statistics(
        hass,
        statistic_metadata(
            source="recorder",
            statistic_id=TEMPERATURE,
            name=None,
            unit="°C",
            unit_class="temperature",
            has_sum=False,
            mean_type=StatisticMeanType.ARITHMETIC,
        ),
        [StatisticData(start=held, mean=99.0, min=98.0, max=100.0)],
    )
    await async_wait_recording_done(hass)

    payloads = gateway.buffered_payloads(OUTAGE, every=EVERY, per_message=7)
    list(_post_all(gateway, payloads))
    assert await gateway.flush()
    await settle(hass, freezer)
    since = NOW - timedelta(days=1)
    first = await hourly_rows(hass, TEMPERATURE, since, {"mean", "min", "max"})
    assert first[held] == {"mean": 99.0, "min": 98.0, "max": 100.0}
    _assert_rows(
        {hour: row for hour, row in first.items() if hour != held},
        expected_means(_readings(payloads, B1, 1)[:-1], (COMPLETE - {held}).__contains__),
    )

    # The same buffer again, its values changed: nothing written already is written again.
    for payload in payloads:
        for item in payload["measurements"]:
            for param in item["params"]:
                if isinstance(param["value"], (int, float)):
                    param["value"] += 10
    changes = state_changes(hass, TEMPERATURE)
    list(_post_all(gateway, payloads))
    assert await gateway.flush()
    await settle(hass, freezer)
    assert await hourly_rows(hass, TEMPERATURE, since, {"mean", "min", "max"}) == first
    assert changes == []


async def test_buffer_of_a_new_logger_creates_it_and_fills_its_history(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    gateway: EmulatedGateway,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The first message of a logger may be its buffer: its sensors exist before it is written."""
    payloads = gateway.buffered_payloads(OUTAGE, loggers=[B1], every=EVERY)
    assert len(payloads) == 1
    list(_post_all(gateway, payloads))
    assert await gateway.flush()
    await settle(hass, freezer)
    temperatures = _readings(payloads, B1, 1)
    assert float(_state(hass, TEMPERATURE)) == temperatures[-1].value
    _assert_rows(
        await hourly_rows(hass, TEMPERATURE, NOW - timedelta(days=1), {"mean", "min", "max"}),
        expected_means(temperatures[:-1], COMPLETE.__contains__),
    )


async def test_stale_message_after_newer_state_is_history_only(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    gateway: EmulatedGateway,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A whole message older than what is shown changes no state; its readings are history."""
    old = gateway.buffered_payloads(timedelta(hours=3), loggers=[B1], every=EVERY)[0]
    # The buffer's first twelve measurements (12:31 to 15:16), sent after the newest one.
    old["measurements"] = old["measurements"][:12]
    assert await gateway.send_measurements([B1])
    await hass.async_block_till_done()
    shown = hass.states.get(TEMPERATURE)
    assert shown is not None
    changes = state_changes(hass, TEMPERATURE)
    list(_post_all(gateway, [old]))
    assert await gateway.flush()
    await settle(hass, freezer)
    assert changes == []
    assert _state(hass, TEMPERATURE) == shown.state
    rows = await hourly_rows(hass, TEMPERATURE, NOW - timedelta(days=1), {"mean"})
    assert set(rows) == {datetime(2024, 10, 12, hour, tzinfo=UTC) for hour in (12, 13, 14)}


async def test_disabled_sensor_gets_no_statistics(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    gateway: EmulatedGateway,
    freezer: FrozenDateTimeFactory,
) -> None:
    await _outage(hass, gateway, freezer)
    er.async_get(hass).async_update_entity(TEMPERATURE, disabled_by=er.RegistryEntryDisabler.USER)
    await hass.async_block_till_done()
    list(_post_all(gateway, gateway.buffered_payloads(OUTAGE, every=EVERY)))
    assert await gateway.flush()
    await settle(hass, freezer)
    since = NOW - timedelta(days=1)
    assert await hourly_rows(hass, TEMPERATURE, since, {"mean"}) == {}
    assert set(await hourly_rows(hass, HUMIDITY, since, {"mean"})) == COMPLETE


async def test_hostile_readings_are_harmless(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    gateway: EmulatedGateway,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Impossible times and numbers are dropped, floods capped with one warning."""
    assert await gateway.send_measurements([B1])
    await hass.async_block_till_done()
    coordinator: EfentoCoordinator = init_integration.runtime_data.coordinator
    device, key = "logger_" + B1, "ch1_temperature"
    twelve = datetime(2024, 10, 12, 12, 10, tzinfo=UTC)
    hostile = [
        LateReading(twelve, math.nan),
        LateReading(twelve, math.inf),
        LateReading(twelve + timedelta(minutes=1), -math.inf),
        LateReading(datetime(1970, 1, 1, tzinfo=UTC), 1.0),
        LateReading(datetime.max.replace(tzinfo=UTC), 2.0),
        LateReading(datetime(2024, 10, 12, 11, 5, tzinfo=UTC).replace(tzinfo=None), 3.0),  # naive
        LateReading(NOW + timedelta(hours=1), 4.0),  # in the future
        LateReading(NOW - timedelta(days=45), 5.0),  # older than MAX_AGE
        LateReading(twelve + timedelta(minutes=2), 20.5),
    ]
    coordinator.async_record_late(device, key, hostile, unit="°C")
    flood = (LateReading(datetime(2024, 10, 12, 13, 30, tzinfo=UTC), 7.0) for _ in range(50_000))
    coordinator.async_record_late(device, key, flood, unit="°C")
    # A second flood is capped too, without a second warning.
    again = [LateReading(datetime(2024, 10, 12, 13, 40, tzinfo=UTC), 7.0)] * 20_000
    coordinator.async_record_late(device, key, again, unit="°C")
    # Sensors that do not exist, or take no statistics, are no harm either.
    coordinator.async_record_late(device, "ch9_nothing", [LateReading(twelve, 1.0)], unit=None)
    coordinator.async_record_late(device, "last_measurement", [LateReading(twelve, 1.0)], unit=None)
    await settle(hass, freezer)
    rows = await hourly_rows(hass, TEMPERATURE, NOW - timedelta(days=60), {"mean", "min", "max"})
    assert rows == {
        datetime(2024, 10, 12, 12, tzinfo=UTC): {"mean": 20.5, "min": 20.5, "max": 20.5},
        datetime(2024, 10, 12, 13, tzinfo=UTC): {"mean": 7.0, "min": 7.0, "max": 7.0},
    }
    assert caplog.text.count("more late readings at once than are kept") == 1
    assert init_integration.state is ConfigEntryState.LOADED


async def test_readings_are_converted_to_the_unit_of_the_statistics(
    hass: HomeAssistant,
    config_entry: MockConfigEntry,
    make_gateway: GatewayFactory,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A system in °F shows and records Efento's °C in °F: late readings follow."""
    hass.config.units = US_CUSTOMARY_SYSTEM
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    gateway = await make_gateway()
    await _outage(hass, gateway, freezer)
    payloads = gateway.buffered_payloads(OUTAGE, loggers=[B1], every=EVERY)
    list(_post_all(gateway, payloads))
    assert await gateway.flush()
    await settle(hass, freezer)
    fahrenheit = [
        LateReading(reading.when, reading.value * 9 / 5 + 32)
        for reading in _readings(payloads, B1, 1)[:-1]
    ]
    _assert_rows(
        await hourly_rows(hass, TEMPERATURE, NOW - timedelta(days=1), {"mean", "min", "max"}),
        expected_means(fahrenheit, COMPLETE.__contains__),
    )
