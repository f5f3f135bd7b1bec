"""Property-based tests: the Efento model takes any parsed message or stored state.

Applying a message and restoring a store are where vendor data enters Home
Assistant; neither has an error of its own to raise, so for any input they must
return, and leave a state that keeps the model's promises: usable serials and
type names, the caps, computable deadlines, values the entities can show, and a
form Home Assistant's JSON store can write (64-bit integers, valid UTF-8).
The messages are built field by field with hostile values (times from year 1 to
9999, huge numbers, lone surrogates), and parsed from random JSON as well.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
import json
from typing import Any
from unittest.mock import patch

from homeassistant.helpers.json import json_bytes
from hypothesis import HealthCheck, given, settings, strategies as st

from custom_components.iot_bridge.api.efento import (
    PARAM_KINDS,
    EfentoMessageError,
    HeartbeatMessage,
    InvalidParam,
    Measurement,
    MeasurementsMessage,
    Param,
    RejectedMeasurement,
    parse_message,
)
from custom_components.iot_bridge.efento import entities, model
from custom_components.iot_bridge.efento.model import EfentoState, GatewayState, LoggerState

NOW = datetime(2024, 10, 12, 15, 31, 21, tzinfo=UTC)
SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

HOSTILE_TEXT = st.sampled_from(["", " ", "\ud800", "\x00", "é" * 100, "A" * 5000, "ok", "low"])
texts = st.one_of(st.text(max_size=40), HOSTILE_TEXT)
ints = st.one_of(
    st.integers(-1000, 1000),
    st.integers(),
    st.sampled_from([-(2**63), 2**63, 2**64, 10**15, 10**30, -(10**30)]),
)
floats = st.floats(allow_nan=True, allow_infinity=True)
# Aware times across datetime's whole range: the parser bounds them, the model must not rely on it.
times = st.one_of(
    st.datetimes(timezones=st.just(UTC)),
    st.datetimes(
        # Hypothesis takes naive bounds and adds the zone itself.
        min_value=datetime(2024, 10, 1),  # noqa: DTZ001
        max_value=datetime(2024, 10, 14),  # noqa: DTZ001
        timezones=st.just(UTC),
    ),
    st.sampled_from([datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)]),
)
serials = st.one_of(
    st.sampled_from(["282C024FFFB1", "282C024FFFB2", "KCwCT/+x", "AAAA"]),
    st.text(alphabet="0123456789ABCDEF", min_size=1, max_size=12),
    texts,
)
type_names = st.one_of(st.sampled_from([*PARAM_KINDS, "co2", "Temperature", "<b>"]), texts)

params = st.builds(
    Param,
    channel=st.one_of(st.integers(0, 4), ints),
    type=type_names,
    status=st.one_of(st.sampled_from(["ok", "error"]), texts),
    kind=st.one_of(st.none(), st.sampled_from(list(PARAM_KINDS.values()))),
    value=st.one_of(st.none(), floats),
    is_on=st.one_of(st.none(), st.booleans()),
)
invalid_params = st.builds(
    InvalidParam,
    index=st.one_of(st.none(), ints),
    channel=st.one_of(st.none(), st.integers(0, 4), ints),
    reason=texts,
)
measurements = st.builds(
    Measurement,
    serial=serials,
    response_handle=st.one_of(st.none(), st.integers(0, 10), ints),
    battery=st.one_of(st.none(), texts),
    signal=st.one_of(st.none(), ints),
    measured_at=times,
    measurement_interval=st.one_of(st.none(), ints),
    next_measurement_at=st.one_of(st.none(), times),
    params=st.lists(params, max_size=4).map(tuple),
    invalid_params=st.lists(invalid_params, max_size=3).map(tuple),
)
# Well-formed measurements of a few loggers with several channels: they reach the caps.
sane_measurements = st.builds(
    Measurement,
    serial=st.sampled_from(["B1", "B2", "B3", "B4", "B5", "B6"]),
    response_handle=st.integers(1, 6),
    battery=st.none(),
    signal=st.none(),
    measured_at=times,
    measurement_interval=st.none(),
    next_measurement_at=st.none(),
    params=st.lists(
        st.builds(
            Param,
            channel=st.integers(0, 5),
            type=st.sampled_from(list(PARAM_KINDS)),
            status=st.just("ok"),
            kind=st.none(),
            value=st.floats(-50, 50),
            is_on=st.none(),
        ),
        max_size=5,
    ).map(tuple),
    invalid_params=st.just(()),
)
rejected = st.builds(
    RejectedMeasurement,
    index=ints,
    response_handle=st.one_of(st.none(), st.integers(0, 10), ints),
    serial=st.one_of(st.none(), serials),
    reason=st.one_of(texts, st.just("measurements[3]: measured_at in the future")),
)
messages = st.builds(
    MeasurementsMessage,
    measurements=st.lists(measurements, max_size=8).map(tuple),
    rejected=st.lists(rejected, max_size=3).map(tuple),
)
heartbeats = st.builds(
    HeartbeatMessage,
    name=st.one_of(st.none(), texts),
    model=st.one_of(st.none(), texts),
    software_version=st.one_of(st.none(), texts),
    current_time=st.one_of(st.none(), times),
    uptime=st.one_of(st.none(), ints),
    mac=st.one_of(st.none(), st.just("28:2C:02:4F:03:0A"), texts),
    sensors_number=st.one_of(st.none(), texts),
    loggers_in_range=st.one_of(st.none(), ints),
    next_communication_at=st.one_of(st.none(), times),
    is_usb_connected=st.one_of(st.none(), st.booleans()),
    is_charging=st.one_of(st.none(), st.booleans()),
    battery_level=st.one_of(st.none(), ints),
)
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), ints, floats, texts),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(texts, children, max_size=4)
    ),
    max_leaves=20,
)
stored_times = st.one_of(
    times.map(datetime.isoformat),
    st.sampled_from(["9999-12-31T23:59:59-14:00", "2100-01-01T00:00:00+00:00", "yesterday"]),
    json_values,
)
stored_loggers = st.fixed_dictionaries(
    {"serial": st.one_of(serials, json_values)},
    optional={
        "accept": json_values,
        "response_handle": ints,
        "battery": json_values,
        "signal": st.one_of(ints, json_values),
        "measured_at": stored_times,
        "measurement_interval": st.one_of(ints, floats, st.just("1000000000000000"), json_values),
        "next_measurement_at": stored_times,
        "received_at": stored_times,
        "channels": st.one_of(
            st.dictionaries(
                st.one_of(st.sampled_from(["1", "2", "-1", "x", "10" * 30]), texts),
                st.one_of(
                    st.fixed_dictionaries(
                        {"type": type_names},
                        optional={
                            "status": json_values,
                            "value": json_values,
                            "is_on": json_values,
                        },
                    ),
                    json_values,
                ),
                max_size=4,
            ),
            json_values,
        ),
    },
)
stored_gateways = st.fixed_dictionaries(
    {},
    optional={
        name: st.one_of(ints, floats, stored_times, json_values)
        for name in GatewayState().as_dict()
    },
)
stores = st.one_of(
    json_values,
    st.fixed_dictionaries(
        {},
        optional={
            "gateway": st.one_of(stored_gateways, json_values),
            "loggers": st.one_of(st.lists(st.one_of(stored_loggers, json_values), max_size=5)),
        },
    ),
)


def _descriptions(logger_state: LoggerState) -> Iterator[Any]:
    yield from entities.HEALTH_SENSORS
    yield from entities.HEALTH_BINARY_SENSORS
    yield entities.ACCEPT_SWITCH
    yield from entities.channel_sensors(logger_state)
    yield from entities.channel_binary_sensors(logger_state)


def _read_like_entities(state: EfentoState) -> None:
    """What every entity of the state would read: nothing may raise."""
    for logger_state in state.loggers.values():
        for description in _descriptions(logger_state):
            for name in ("value_fn", "is_on_fn", "available_fn"):
                if (function := getattr(description, name, None)) is not None:
                    function(logger_state)
    for description in (*entities.GATEWAY_SENSORS, *entities.GATEWAY_BINARY_SENSORS):
        for name in ("value_fn", "is_on_fn", "available_fn"):
            if (function := getattr(description, name, None)) is not None:
                function(state.gateway)


def _check_promises(state: EfentoState) -> None:
    for serial, logger_state in state.loggers.items():
        assert serial == logger_state.serial
        assert model.usable_serial(serial)
        for channel, channel_state in logger_state.channels.items():
            assert 0 <= channel <= model.MAX_CHANNEL_NUMBER
            assert model.type_key(channel_state.type)
        # Deadlines and freshness are computable whatever the times.
        logger_state.fresh(NOW)
        assert logger_state.measurement_interval is None or (
            0 <= logger_state.measurement_interval <= 7 * 24 * 3600
        )
    state.gateway.connected(NOW)
    assert state.gateway.started_at is None or isinstance(state.gateway.started_at, datetime)
    assert state.gateway.mac is None or model.usable_mac(state.gateway.mac)
    # Home Assistant's store (orjson) can write it: no big integer, no surrogate.
    stored = json_bytes(state.as_dict())
    # And what it wrote reads back, and reads back the same a second time.
    restored = EfentoState.from_dict(json.loads(stored))
    assert EfentoState.from_dict(json.loads(json_bytes(restored.as_dict()))) == restored
    _read_like_entities(state)


@SETTINGS
@given(st.lists(messages, min_size=1, max_size=3), st.lists(heartbeats, max_size=2))
def test_any_messages_apply_and_keep_the_promises(
    sent: list[MeasurementsMessage], beats: list[HeartbeatMessage]
) -> None:
    state = EfentoState()
    for number, message in enumerate(sent):
        outcome = state.apply_measurements(message, NOW + timedelta(minutes=number))
        handles = {item.response_handle for item in message.measurements} | {
            item.response_handle for item in message.rejected
        }
        assert set(outcome.reply["Y"]) <= handles
        assert set(outcome.reply["N"]) <= handles
        assert not set(outcome.reply["Y"]) & set(outcome.reply["N"])
        assert outcome.touched <= set(state.loggers)
    for beat in beats:
        state.gateway.apply(beat, NOW)
    _check_promises(state)


@SETTINGS
@given(
    st.lists(
        st.one_of(
            messages,
            st.builds(
                MeasurementsMessage,
                measurements=st.lists(sane_measurements, max_size=8).map(tuple),
                rejected=st.just(()),
            ),
        ),
        min_size=1,
        max_size=3,
    )
)
def test_caps_hold_for_any_messages(sent: list[MeasurementsMessage]) -> None:
    """Scaled down so that random messages reach them."""
    with (
        patch.object(model, "MAX_LOGGERS", 4),
        patch.object(model, "MAX_NEW_LOGGERS_PER_MESSAGE", 2),
        patch.object(model, "MAX_CHANNELS", 2),
    ):
        state = EfentoState()
        for message in sent:
            before = set(state.loggers)
            outcome = state.apply_measurements(message, NOW)
            created = set(state.loggers) - before
            assert len(created) <= 2
            assert len(state.loggers) <= 4
            assert before <= set(state.loggers)  # nothing that existed is harmed
            assert all(len(item.channels) <= 2 for item in state.loggers.values())
            refused = outcome.refused_by_entry + outcome.refused_by_message
            new_serials = {
                item.serial
                for item in message.measurements
                if model.usable_serial(item.serial) and item.serial not in before
            }
            assert len(created) + refused == len(new_serials)
            declined = set(outcome.reply["N"])
            for item in message.measurements:
                if item.serial in new_serials - created and item.response_handle is not None:
                    accepted_elsewhere = item.response_handle in outcome.reply["Y"]
                    assert item.response_handle in declined or accepted_elsewhere


@SETTINGS
@given(stores)
def test_any_stored_state_restores(raw: Any) -> None:
    dropped: list[str] = []
    state = EfentoState.from_dict(raw, dropped)
    assert set(dropped) <= {"state", "gateway", "logger", "channel"}
    # Stored times are believed as the gateway's would be: since 2000, at most a day ahead.
    latest = datetime.now(UTC) + timedelta(days=1)
    for logger_state in state.loggers.values():
        for moment in (
            logger_state.measured_at,
            logger_state.next_measurement_at,
            logger_state.received_at,
        ):
            assert moment is None or datetime(2000, 1, 1, tzinfo=UTC) <= moment <= latest
    _check_promises(state)


@SETTINGS
@given(st.dictionaries(st.sampled_from(["serial", "measured_at", "params", "x"]), json_values))
def test_parsed_random_bodies_apply(item: dict[str, Any]) -> None:
    try:
        message = parse_message(json.dumps({"measurements": [item, item]}))
    except EfentoMessageError:
        return
    assert isinstance(message, MeasurementsMessage)
    state = EfentoState()
    state.apply_measurements(message, NOW)
    _check_promises(state)


@SETTINGS
@given(heartbeats, heartbeats)
def test_any_heartbeats_apply(first: HeartbeatMessage, second: HeartbeatMessage) -> None:
    gateway = GatewayState()
    assert gateway.apply(first, NOW)
    gateway.apply(second, NOW)
    state = EfentoState(gateway=gateway)
    _check_promises(state)
