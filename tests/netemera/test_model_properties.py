"""Property-based tests: the model applies any uplink and restores any stored state.

Whatever the server sends (after parsing) and whatever a stored file holds, the
model's apply paths answer with an ``Outcome``, never an exception, and keep their
promises: caps hold, the history cursor never passes Home Assistant's clock, and
what is stored can be written by Home Assistant's JSON writer and read back.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
import math
from typing import Any
from unittest.mock import patch

from homeassistant.helpers.json import json_bytes
from hypothesis import HealthCheck, given, settings, strategies as st

from custom_components.iot_bridge.api.errors import ApiPayloadError
from custom_components.iot_bridge.api.netemera import GatewayInfo, Uplink, parse_uplink
from custom_components.iot_bridge.netemera import model
from custom_components.iot_bridge.netemera.model import (
    CATCH_UP_MARGIN,
    FIRST_CATCH_UP,
    MAX_CATCH_UP,
    RECENT_FRAMES,
    ApplicationState,
    Decoder,
    EndDevice,
    Outcome,
)

FAST = settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# Small caps so that a few dozen uplinks reach them.
CAPS: dict[str, Any] = {"MAX_DEVICES": 3, "MAX_LPP_VALUES": 4, "MAX_REFUSED_TRACKED": 5}

# --- strategies -----------------------------------------------------------------------

HOSTILE_INTS = st.sampled_from([0, -1, 2**32 - 1, 2**32, 2**63, 10**30, -(10**400)])
INTS = st.none() | st.integers(-10, 300) | HOSTILE_INTS
FLOATS = st.none() | st.floats(allow_nan=False, allow_infinity=False)
HOSTILE_NUMBERS = st.sampled_from([1e20, 1e308, 10**400, math.inf, -math.inf, math.nan])
SCALARS = st.none() | st.booleans() | st.integers() | st.floats() | HOSTILE_NUMBERS | st.text()
JSON = st.recursive(
    SCALARS,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
ZONES = st.sampled_from(
    [UTC, timezone(timedelta(hours=14)), timezone(timedelta(hours=-14, minutes=-30))]
)
# Home Assistant's clock: any time it could show.
NOWS = st.datetimes(
    min_value=datetime(2000, 1, 1),  # noqa: DTZ001 - Hypothesis bounds are naive
    max_value=datetime(2200, 1, 1),  # noqa: DTZ001
    timezones=st.just(UTC),
)
# Any aware time, including the extremes of datetime's range.
TIMES = st.none() | st.datetimes(timezones=ZONES)
DEV_EUIS = st.sampled_from(
    ["70b3d5ca40000000", "70b3d5ca40000001", "70b3d5ca40000002", "70B3D5CA40000002"]
) | st.text(min_size=1, max_size=80)
# Cayenne LPP items on any channel (so values pile up), and random bytes.
LPP_ITEMS = st.lists(
    st.tuples(st.integers(0, 255), st.sampled_from([0x67, 0x68, 0x01, 0x88])),
    max_size=6,
).map(
    lambda items: b"".join(
        bytes((channel, kind)) + bytes({0x67: 2, 0x68: 1, 0x01: 1, 0x88: 9}[kind])
        for channel, kind in items
    )
)
PAYLOADS = st.none() | LPP_ITEMS | st.binary(max_size=300)
GATEWAYS = st.lists(
    st.builds(GatewayInfo, st.none() | st.text(max_size=100), FLOATS, FLOATS), max_size=20
).map(tuple)


@st.composite
def uplinks(draw: st.DrawFn) -> Uplink:
    """An Uplink as the client hands it over, with any value in any field."""
    payload = draw(PAYLOADS)
    payload_hex = draw(
        st.one_of(st.just(None if payload is None else payload.hex().upper()), st.text())
    )
    return Uplink(
        dev_eui=draw(DEV_EUIS),
        f_cnt_up=draw(INTS),
        f_port=draw(INTS),
        payload=payload,
        payload_hex=payload_hex,
        recv_time=draw(TIMES),
        data_rate=draw(INTS),
        frequency=draw(FLOATS),
        ack=draw(st.none() | st.booleans()),
        adr=draw(st.none() | st.booleans()),
        gateways=draw(GATEWAYS),
        event_id=draw(st.none() | st.text(max_size=20)),
    )


@st.composite
def raw_uplinks(draw: st.DrawFn) -> dict[str, Any]:
    """An Uplink Packet object as the server might send it: right keys, any values."""
    fields = {
        "dev_eui": DEV_EUIS | SCALARS,
        "recv_time": st.datetimes(timezones=ZONES).map(datetime.isoformat) | SCALARS,
        "f_cnt_up": INTS | SCALARS,
        "f_port": INTS | SCALARS,
        "frm_payload": PAYLOADS.map(lambda p: None if p is None else p.hex()) | SCALARS,
        "data_rate": INTS | SCALARS,
        "ul_freq": SCALARS,
        "gw_info": JSON,
    }
    return {key: draw(value) for key, value in fields.items() if draw(st.booleans())}


STEPS = st.lists(st.tuples(uplinks() | raw_uplinks(), NOWS), max_size=15)


def _as_uplink(item: Uplink | dict[str, Any]) -> Uplink | None:
    if isinstance(item, Uplink):
        return item
    try:
        return parse_uplink(item)
    except ApiPayloadError:
        return None


def _check_storable(state: ApplicationState) -> None:
    """Home Assistant's Store can write it, and it reads back without loss of devices."""
    stored = state.as_dict()
    json_bytes(stored)  # raises on what the Store's writer cannot write (ints past 64 bits)
    problems: list[str] = []
    restored = ApplicationState.from_dict(stored, problems)
    # A device is only dropped for a time the API would refuse (from a wrong clock).
    for dev_eui in set(state.devices) - set(restored.devices):
        assert any(dev_eui[:40] in problem for problem in problems), (dev_eui, problems)


# --- properties -----------------------------------------------------------------------


@FAST
@given(steps=STEPS, decoder=st.sampled_from(Decoder))
def test_application_state_applies_any_uplink(
    steps: list[tuple[Uplink | dict[str, Any], datetime]], decoder: Decoder
) -> None:
    with patch.multiple(model, **CAPS):
        state = ApplicationState()
        latest_now: datetime | None = None
        for item, now in steps:
            uplink = _as_uplink(item)
            if uplink is None:
                continue
            outcome = state.apply(uplink, now)
            assert isinstance(outcome, Outcome)
            if outcome in (Outcome.APPLIED, Outcome.NEW_DEVICE):
                state.devices[uplink.dev_eui].decode(decoder)
            latest_now = now if latest_now is None else max(latest_now, now)
            # Caps hold, and nothing a server sends moves the cursor past the clock.
            assert len(state.devices) <= CAPS["MAX_DEVICES"]
            assert len(state.refused) <= CAPS["MAX_REFUSED_TRACKED"]
            assert state.last_recv_time is None or state.last_recv_time <= latest_now
            for device in state.devices.values():
                assert len(device.values) <= CAPS["MAX_LPP_VALUES"]
                assert len(device.recent) <= RECENT_FRAMES
            start = state.catch_up_start(now)
            if state.last_recv_time is None and state.covered_until is None:
                assert start == now - FIRST_CATCH_UP
            else:
                assert now - MAX_CATCH_UP <= start <= now - CATCH_UP_MARGIN
        _check_storable(state)


@FAST
@given(steps=STEPS, decoder=st.sampled_from(Decoder))
def test_end_device_accepts_and_decodes_any_uplink(
    steps: list[tuple[Uplink | dict[str, Any], datetime]], decoder: Decoder
) -> None:
    with patch.multiple(model, **CAPS):
        device = EndDevice("70b3d5ca40000000")
        for item, now in steps:
            uplink = _as_uplink(item)
            if uplink is None:
                continue
            outcome = device.accept(uplink, now)
            assert outcome in (Outcome.APPLIED, Outcome.DUPLICATE, Outcome.LATE)
            assert isinstance(device.decode(decoder), bool)
            assert len(device.values) <= CAPS["MAX_LPP_VALUES"]
            shown = device.uplink
            if shown is not None:
                # What is shown stays inside LoRaWAN's ranges.
                assert shown.f_cnt_up is None or 0 <= shown.f_cnt_up <= model.MAX_F_CNT
                assert shown.payload is None or len(shown.payload) <= model.MAX_PAYLOAD
                assert len(shown.gateways) <= model.MAX_GATEWAYS
        json_bytes(device.as_dict())


@FAST
@given(
    uplink=uplinks(),
    later=st.lists(st.integers(0, 2**32 - 1), min_size=1, max_size=5, unique=True),
    now=NOWS,
)
def test_a_packet_from_the_future_never_hides_the_next_ones(
    uplink: Uplink, later: list[int], now: datetime
) -> None:
    """Whatever a wrong clock stamped on one packet, the next real ones are shown."""
    device = EndDevice(uplink.dev_eui)
    ahead = now + model.CLOCK_SKEW + timedelta(seconds=1)
    device.accept(replace(uplink, recv_time=ahead, f_cnt_up=0), now)
    for offset, f_cnt in enumerate(sorted(later)):
        real = replace(uplink, recv_time=now + timedelta(seconds=offset), f_cnt_up=f_cnt + 1)
        assert device.accept(real, now) is not Outcome.LATE


STORED_UPLINK = st.fixed_dictionaries(
    {},
    optional={
        "dev_eui": DEV_EUIS | SCALARS,
        "recv_time": st.datetimes(timezones=ZONES).map(datetime.isoformat) | SCALARS,
        "f_cnt_up": INTS | SCALARS,
        "frm_payload": SCALARS,
        "gw_info": JSON,
    },
)
STORED_DEVICE = st.fixed_dictionaries(
    {},
    optional={
        "uplink": STORED_UPLINK | JSON,
        "values": st.lists(
            st.lists(st.integers(-1, 300) | SCALARS | st.lists(SCALARS, max_size=4), max_size=4)
            | JSON,
            max_size=5,
        )
        | JSON,
        "switch_on": SCALARS,
    },
)
STORED = st.fixed_dictionaries(
    {},
    optional={
        "last_event_id": SCALARS,
        "last_recv_time": SCALARS | st.datetimes(timezones=ZONES).map(datetime.isoformat),
        "covered_until": SCALARS | st.datetimes(timezones=ZONES).map(datetime.isoformat),
        "devices": st.dictionaries(DEV_EUIS, STORED_DEVICE | JSON, max_size=4) | JSON,
    },
)


@FAST
@given(stored=STORED | JSON, now=NOWS)
def test_any_stored_state_restores(stored: Any, now: datetime) -> None:
    """A stored file of any shape restores to a state that works and can be stored again."""
    problems: list[str] = []
    state = ApplicationState.from_dict(stored, problems)
    assert all(isinstance(problem, str) for problem in problems)
    assert state.last_event_id is None or model.usable_event_id(state.last_event_id)
    start = state.catch_up_start(now)
    assert start <= now
    for device in state.devices.values():
        device.decode(Decoder.CAYENNE_LPP)
    json_bytes(state.as_dict())
