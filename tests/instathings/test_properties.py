"""Property-based tests of what applies Instathings data: any record, any event, no surprise.

The model's ``apply`` and ``kind_of`` take whatever the parsers let through (any
JSON under any key, any timestamp order, repeated or missing record ids): for every
input they return a value and keep their invariants (caps, monotonic time, kinds
fixed once). The coordinator's event handler, fed arbitrary parsed websocket
messages in a running Home Assistant, never meets a bug (``item_errors`` stays 0).
"""

from __future__ import annotations

import json
import logging
import math
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from hypothesis import HealthCheck, given, settings, strategies as st
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.iot_bridge.api.instathings_events import DataRecord, parse_event
from custom_components.iot_bridge.instathings import model
from custom_components.iot_bridge.instathings.model import (
    MAX_IDS_AT_TS,
    MAX_KEY_LENGTH,
    Applied,
    InstathingsDeviceState,
    ValueKind,
    kind_of,
)
from simulators.instathings import GATEWAY_ID, PLUG_ID, SENSOR_ID, VIRTUAL_ID

from .conftest import coordinator_of
from .test_model import blank_device

FAST = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

HOSTILE_NUMBERS = st.sampled_from(
    [0, -1, 1e15, 1e20, 1e308, -1e308, 10**300, -(10**300), math.inf, -math.inf, math.nan]
)
NUMBERS = st.integers() | st.floats() | HOSTILE_NUMBERS
SCALARS = st.none() | st.booleans() | NUMBERS | st.text(max_size=20) | st.just("x" * 300)
KEYS = (
    st.sampled_from(["state", "temperature", "power", "contact", "pm2.5", "", "x" * 500])
    | st.text(max_size=12)
    | st.sampled_from([MAX_KEY_LENGTH - 1, MAX_KEY_LENGTH, MAX_KEY_LENGTH + 1]).map("é".__mul__)
)
JSON = st.recursive(
    SCALARS | st.sampled_from(["ON", "off", "On"]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3)
    ),
    max_leaves=12,
)
TIMES = st.integers(min_value=-(10**20), max_value=10**20) | st.integers(min_value=0, max_value=20)
RECORD_IDS = st.none() | st.sampled_from(["a", "b", "c"]) | st.text(max_size=8)
RECORDS = st.builds(
    DataRecord,
    device_id=st.just("d"),
    ts=TIMES,
    data=st.dictionaries(KEYS, JSON, max_size=8),
    record_id=RECORD_IDS,
)
ROOMS = st.none() | st.integers(min_value=-5, max_value=20)


@FAST
@given(key=KEYS, value=JSON)
def test_kind_of_any_value(key: str, value: Any) -> None:
    kind = kind_of(key, value)
    assert kind is None or isinstance(kind, ValueKind)
    if not key or len(key) > MAX_KEY_LENGTH:
        assert kind is None
    elif isinstance(value, bool):
        assert kind is ValueKind.FLAG
    elif isinstance(value, (dict, list)) or value is None:
        assert kind is None


@FAST
@given(steps=st.lists(st.tuples(RECORDS, ROOMS), max_size=12), cap=st.integers(0, 8))
def test_apply_any_records(steps: list[tuple[DataRecord, int | None]], cap: int) -> None:
    state = InstathingsDeviceState(blank_device("d"))
    with patch.object(model, "MAX_KEYS_PER_DEVICE", cap):
        for record, room in steps:
            before_ts = state.last_ts
            before_values = dict(state.values)
            before_kinds = dict(state.kinds)
            result = state.apply(record, room=room)
            assert isinstance(result, Applied)
            new_keys = [key for key in record.data if key not in before_values]
            if not result.applied:
                # A stale or repeated record changes nothing at all; an older one says so.
                older = before_ts is not None and record.ts < before_ts
                assert result == (model.OLDER if older else model.NOT_APPLIED)
                assert state.values == before_values
                assert state.last_ts == before_ts
                continue
            assert state.last_ts == record.ts
            assert before_ts is None or record.ts >= before_ts
            allowed = max(0, cap - len(before_values))
            if room is not None:
                allowed = min(allowed, max(0, room))
            assert result.refused == max(0, len(new_keys) - allowed)
            # Known keys always take the record's value.
            for key in before_values:
                if key in record.data:
                    assert state.values[key] is record.data[key]
            # Kinds are fixed the first time a key gets one.
            assert {k: v for k, v in state.kinds.items() if k in before_kinds} == before_kinds
            assert result.new_kinds == (len(state.kinds) > len(before_kinds))
            assert len(state.values) <= max(cap, len(before_values))
            assert set(state.kinds) <= set(state.values)
            assert len(state.ids_at_last_ts) <= MAX_IDS_AT_TS
            for key, kind in state.kinds.items():
                assert isinstance(kind, ValueKind)
                assert 0 < len(key) <= MAX_KEY_LENGTH


DEVICE_IDS = st.sampled_from([SENSOR_ID, PLUG_ID, GATEWAY_ID, VIRTUAL_ID, "Ghost001"])
# Keys the simulated devices already have entities for, so values reach them at once.
ENTITY_KEYS = st.sampled_from(
    ["temperature", "humidity", "battery", "state", "power", "energy", "current", "value"]
)
PAYLOADS = st.fixed_dictionaries(
    {
        "deviceId": DEVICE_IDS,
        "id": DEVICE_IDS,
        "ts": st.just(0),
        "data": st.dictionaries(ENTITY_KEYS | KEYS, HOSTILE_NUMBERS | JSON, max_size=6),
    },
    optional={
        "isGateway": st.booleans(),
        "parentDevice": DEVICE_IDS,
        "name": st.text(max_size=20),
        "status": st.fixed_dictionaries({"eventType": st.sampled_from(["connected", "x"])}),
        "version": st.dictionaries(st.just("gate"), st.text(max_size=10)),
        "subDevices": st.lists(DEVICE_IDS, max_size=3),
    },
)
ACTIONS = st.sampled_from(
    ["data"] * 6 + ["connected", "disconnected", "paired", "not_paired", "software_version", "log"]
)


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_any_parsed_event_meets_no_bug(
    hass: HomeAssistant, init_integration: MockConfigEntry, caplog: pytest.LogCaptureFixture
) -> None:
    """Arbitrary websocket messages, parsed as the client does, applied in Home Assistant."""
    coordinator = coordinator_of(init_integration)
    base_ts = max(state.last_ts or 0 for state in coordinator.devices.values())
    counter = iter(range(1, 10**9))

    @FAST
    @given(
        messages=st.lists(
            st.tuples(ACTIONS, PAYLOADS, st.booleans())
            | st.text(max_size=40).map(lambda text: (None, text, False)),
            max_size=8,
        )
    )
    def handle(messages: list[tuple[str | None, Any, bool]]) -> None:
        for action, payload, newer in messages:
            if action is None:
                text = str(payload)
            else:
                # Most records move time on, so their values reach the entities.
                body = {**payload, "ts": base_ts + next(counter)} if newer else payload
                text = json.dumps({"action": action, "payload": body})
            coordinator._handle_item(parse_event(text))

    handle()
    await hass.async_block_till_done()
    assert coordinator.stream_stats["item_errors"] == 0
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR and "Skipping" in r.msg]
    assert init_integration.state is ConfigEntryState.LOADED
    assert coordinator.stream_connected
