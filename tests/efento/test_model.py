"""The Efento model alone: newest wins, repeats change nothing, Y/N per logger, silence, store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import json
from typing import Any
from unittest.mock import patch

from custom_components.iot_bridge.api.efento import (
    HeartbeatMessage,
    MeasurementsMessage,
    parse_message,
)
from custom_components.iot_bridge.efento.model import (
    HEARTBEAT_GRACE,
    HEARTBEAT_PERIOD,
    MEASUREMENT_GRACE,
    UNSCHEDULED_SILENCE,
    EfentoState,
    GatewayState,
    LoggerState,
    late_values,
)

B1 = "282C024FFFB1"
B2 = "282C024FFFB2"
NOW = datetime(2024, 10, 12, 15, 31, 21, tzinfo=UTC)
MEASURED = datetime(2024, 10, 12, 15, 28, 21, tzinfo=UTC)


def _measurement(
    serial: str,
    handle: int | None,
    at: str = "2024-10-12 15:28:21 UTC",
    params: list[dict[str, Any]] | None = None,
    **fields: Any,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "serial": serial,
        "battery": "ok",
        "signal": -60,
        "measured_at": at,
        "params": params if params is not None else [_param(1, "temperature", 6)],
        **fields,
    }
    if handle is not None:
        item["response_handle"] = handle
    return item


def _param(channel: int, type_name: str, value: Any, status: str = "ok") -> dict[str, Any]:
    return {"channel": channel, "type": type_name, "value": value, "status": status}


def _measurements(*items: dict[str, Any]) -> MeasurementsMessage:
    message = parse_message(json.dumps({"measurements": list(items)}))
    assert isinstance(message, MeasurementsMessage)
    return message


def _heartbeat(**fields: Any) -> HeartbeatMessage:
    message = parse_message(json.dumps({"name": "Gateway", **fields}))
    assert isinstance(message, HeartbeatMessage)
    return message


def _temperature(state: EfentoState, serial: str) -> float | None:
    channel = state.loggers[serial].channel(1, "temperature")
    assert channel is not None
    return channel.value


def test_new_logger_is_created_and_answered_yes() -> None:
    state = EfentoState()
    outcome = state.apply_measurements(_measurements(_measurement(B1, 1)), NOW)
    assert outcome.reply == {"Y": [1], "N": []}
    assert outcome.touched == {B1}
    assert outcome.catalog_changed
    logger_state = state.loggers[B1]
    assert logger_state.measured_at == MEASURED
    assert logger_state.received_at == NOW
    assert logger_state.signal == -60
    assert logger_state.battery_low is False
    assert _temperature(state, B1) == 6


def test_repeat_changes_nothing_and_is_still_answered_yes() -> None:
    state = EfentoState()
    message = _measurements(_measurement(B1, 1))
    state.apply_measurements(message, NOW)
    outcome = state.apply_measurements(message, NOW + timedelta(minutes=1))
    assert outcome.reply == {"Y": [1], "N": []}
    assert not outcome.touched
    assert not outcome.catalog_changed
    assert state.loggers[B1].received_at == NOW


def test_newest_measurement_wins_in_any_order() -> None:
    state = EfentoState()
    newer = _measurement(B1, 1, "2024-10-12 15:30:00 UTC", [_param(1, "temperature", 20)])
    older = _measurement(B1, 1, "2024-10-12 15:29:00 UTC", [_param(1, "temperature", 10)])
    state.apply_measurements(_measurements(newer, older), NOW)
    assert _temperature(state, B1) == 20
    # An older backlog sent later does not overwrite either.
    outcome = state.apply_measurements(_measurements(older), NOW)
    assert not outcome.touched
    assert _temperature(state, B1) == 20


def test_new_channel_type_changes_the_catalog() -> None:
    state = EfentoState()
    state.apply_measurements(_measurements(_measurement(B1, 1)), NOW)
    outcome = state.apply_measurements(
        _measurements(_measurement(B1, 1, "2024-10-12 15:29:21 UTC", [_param(1, "humidity", 40)])),
        NOW,
    )
    assert outcome.catalog_changed
    assert state.loggers[B1].channel(1, "temperature") is None
    assert state.loggers[B1].channel(1, "humidity") is not None


def test_refused_logger_is_answered_no() -> None:
    state = EfentoState()
    state.apply_measurements(_measurements(_measurement(B1, 1), _measurement(B2, 2)), NOW)
    state.set_accept(B1, False)
    later = "2024-10-12 15:29:21 UTC"
    outcome = state.apply_measurements(
        _measurements(_measurement(B1, 1, later), _measurement(B2, 2, later)), NOW
    )
    assert outcome.reply == {"Y": [2], "N": [1]}
    # Still applied: the user refuses the gateway's backlog, not the readings.
    assert outcome.touched == {B1, B2}


def test_rejected_measurements_are_answered_by_their_logger() -> None:
    state = EfentoState()
    state.apply_measurements(_measurements(_measurement(B1, 1)), NOW)
    state.set_accept(B1, False)
    outcome = state.apply_measurements(
        _measurements(
            _measurement(B1, 1, at="not a time"),
            _measurement(B2, 2, at="not a time"),
        ),
        NOW,
    )
    assert outcome.reply == {"Y": [2], "N": [1]}
    assert B2 not in state.loggers


def test_unusable_newer_reading_clears_the_old_value() -> None:
    state = EfentoState()
    state.apply_measurements(_measurements(_measurement(B1, 1)), NOW)
    state.apply_measurements(
        _measurements(
            _measurement(B1, 1, "2024-10-12 15:29:21 UTC", [_param(1, "temperature", "hot", "ok")])
        ),
        NOW,
    )
    channel = state.loggers[B1].channel(1, "temperature")
    assert channel is not None
    assert not channel.ok
    assert channel.value is None


def test_logger_silence_follows_its_schedule() -> None:
    announced = LoggerState(
        B1,
        measured_at=MEASURED,
        measurement_interval=180,
        next_measurement_at=MEASURED + timedelta(hours=3),
    )
    assert announced.deadline == MEASURED + timedelta(hours=3) + MEASUREMENT_GRACE
    interval_only = LoggerState(B1, measured_at=MEASURED, measurement_interval=180)
    assert interval_only.deadline == MEASURED + timedelta(seconds=180) + MEASUREMENT_GRACE
    assert interval_only.fresh(MEASURED + timedelta(seconds=180))
    assert not interval_only.fresh(interval_only.deadline)
    unscheduled = LoggerState(B1, measured_at=MEASURED, received_at=NOW)
    assert unscheduled.deadline == NOW + UNSCHEDULED_SILENCE
    never = LoggerState(B1)
    assert never.deadline is None
    assert not never.fresh(NOW)


def test_stored_interval_cannot_overflow_the_deadline() -> None:
    logger_state = LoggerState(B1, measured_at=MEASURED, measurement_interval=10**18)
    assert logger_state.deadline is not None


def test_heartbeat_older_than_held_is_ignored() -> None:
    gateway = GatewayState()
    assert gateway.connected(NOW) is None
    assert gateway.apply(_heartbeat(current_time=1728747000, uptime=3600), NOW)
    assert gateway.heard
    assert gateway.started_at == datetime(2024, 10, 12, 14, 30, tzinfo=UTC)
    assert not gateway.apply(_heartbeat(current_time=1728746000, software_version="00.00.01"), NOW)
    assert gateway.software_version is None


def test_gateway_connectivity_follows_its_heartbeats() -> None:
    gateway = GatewayState()
    gateway.apply(_heartbeat(current_time=1728747000), NOW)
    last = datetime.fromtimestamp(1728747000, UTC)
    assert gateway.deadline == last + HEARTBEAT_PERIOD + HEARTBEAT_GRACE
    assert gateway.connected(last + HEARTBEAT_PERIOD)
    assert not gateway.connected(last + HEARTBEAT_PERIOD + HEARTBEAT_GRACE)
    gateway.apply(_heartbeat(current_time=1728747060, next_communication_at=1728747960), NOW)
    assert gateway.deadline == datetime.fromtimestamp(1728747960, UTC) + HEARTBEAT_GRACE


def test_store_round_trip() -> None:
    state = EfentoState()
    state.apply_measurements(
        _measurements(
            _measurement(
                B1,
                1,
                params=[_param(1, "temperature", 6), _param(2, "open-close", "open")],
                measurement_interval=180,
                next_measurement_at="2024-10-12 18:28:21 UTC",
            )
        ),
        NOW,
    )
    state.set_accept(B1, False)
    state.gateway.apply(_heartbeat(current_time=1728747000, mac="AA:BB:CC:DD:EE:FF"), NOW)
    stored = json.loads(json.dumps(state.as_dict()))
    assert EfentoState.from_dict(stored) == state


def test_store_tolerates_empty_and_unreadable_times() -> None:
    assert EfentoState.from_dict(None) == EfentoState()
    restored = EfentoState.from_dict(
        {"loggers": [{"serial": B1, "measured_at": "yesterday", "received_at": 3}]}
    )
    logger_state = restored.loggers[B1]
    assert logger_state.accept
    assert logger_state.measured_at is None
    assert logger_state.received_at is None


def test_store_skips_an_unreadable_logger_or_channel() -> None:
    dropped: list[str] = []
    restored = EfentoState.from_dict(
        {
            "loggers": [
                {"channels": {}},
                {"serial": B2, "channels": {"x": {}, "1": {"type": "humidity"}}},
                {"serial": B1},
            ]
        },
        dropped,
    )
    assert list(restored.loggers) == [B2, B1]
    assert list(restored.loggers[B2].channels) == [1]
    assert dropped == ["logger", "channel"]


def test_what_is_not_applied_comes_back_as_late() -> None:
    state = EfentoState()
    newer = _measurement(B1, 1, "2024-10-12 15:30:00 UTC", [_param(1, "temperature", 20)])
    older = _measurement(B1, 1, "2024-10-12 15:29:00 UTC", [_param(1, "temperature", 10)])
    outcome = state.apply_measurements(_measurements(newer, older, newer), NOW)
    # The older one is history; the applied one (twice in the message) is the state.
    assert [item.measured_at for item in outcome.late] == [MEASURED + timedelta(seconds=39)]
    # The same message again: the older one is late again, the shown one is a repeat.
    again = state.apply_measurements(_measurements(newer, older), NOW)
    assert [item.measured_at for item in again.late] == [MEASURED + timedelta(seconds=39)]
    # A refused logger's measurements are nobody's history.
    state.loggers.clear()
    with patch("custom_components.iot_bridge.efento.model.MAX_LOGGERS", 0):
        assert state.apply_measurements(_measurements(newer, older), NOW).late == ()


def test_an_overdue_newest_is_history_once_a_reading_is_shown() -> None:
    state = EfentoState()
    state.apply_measurements(_measurements(_measurement(B1, 1, "2024-10-12 11:00:00 UTC")), NOW)
    # From a resent buffer: its schedule (the next measurement at 12:03) ran out long ago.
    stale = _measurement(
        B1,
        1,
        "2024-10-12 12:00:00 UTC",
        [_param(1, "temperature", 15)],
        measurement_interval=180,
    )
    outcome = state.apply_measurements(_measurements(stale), NOW)
    assert not outcome.touched
    assert [item.measured_at for item in outcome.late] == [datetime(2024, 10, 12, 12, tzinfo=UTC)]
    assert state.loggers[B1].measured_at == datetime(2024, 10, 12, 11, tzinfo=UTC)
    # A logger we hold nothing of takes its newest reading, overdue or not.
    fresh_state = EfentoState()
    assert fresh_state.apply_measurements(_measurements(stale), NOW).touched == {B1}


def test_late_values_are_the_good_numbers_of_channels_that_can_have_an_entity() -> None:
    message = _measurements(
        _measurement(
            B1,
            1,
            params=[
                _param(1, "temperature", 21.5),
                _param(2, "humidity", 40, status="error"),
                _param(3, "open-close", "open"),
                _param(4, "Bad Type!", 1),
                _param(999, "temperature", 1),
                _param(5, "co2_level", 400),
            ],
            signal=10**400,
        )
    )
    (item,) = message.measurements
    assert list(late_values(item)) == [
        ("ch1_temperature", "°C", 21.5),
        ("ch5_co2_level", None, 400.0),
    ]
