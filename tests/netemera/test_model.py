"""The application's state without Home Assistant: which uplinks count, catch-up, the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from custom_components.iot_bridge.api.netemera import Uplink, parse_uplink
from custom_components.iot_bridge.netemera.model import (
    CATCH_UP_MARGIN,
    FIRST_CATCH_UP,
    MAX_CATCH_UP,
    ApplicationState,
    Decoder,
    EndDevice,
    Outcome,
)

RAW = "70b3d5ca40000003"
LIGHT = "70b3d5ca40000001"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def make(f_cnt: int | None, minute: float | None, dev_eui: str = RAW) -> Uplink:
    raw: dict[str, object] = {"dev_eui": dev_eui, "frm_payload": "0167000A"}
    if f_cnt is not None:
        raw["f_cnt_up"] = f_cnt
    if minute is not None:
        raw["recv_time"] = (T0 + timedelta(minutes=minute)).isoformat()
    return parse_uplink(raw)


def test_accept_rules() -> None:
    device = EndDevice(RAW)
    assert device.accept(make(5, 0)) is Outcome.APPLIED
    assert device.accept(make(5, 0)) is Outcome.DUPLICATE
    # A network resend of the same frame a little later is still a repeat.
    assert device.accept(make(5, 0.1)) is Outcome.DUPLICATE
    assert device.accept(make(7, 2)) is Outcome.APPLIED
    # Frame 6 arrives late: remembered, not shown; a second copy is a repeat.
    assert device.accept(make(6, 1)) is Outcome.LATE
    assert device.accept(make(6, 1)) is Outcome.DUPLICATE
    assert device.uplink is not None
    assert device.uplink.f_cnt_up == 7
    # Rejoin: the counter starts again with a newer time.
    assert device.accept(make(1, 3)) is Outcome.APPLIED
    assert device.accept(make(2, 4)) is Outcome.APPLIED
    # Packets without a counter are told apart by their time.
    assert device.accept(make(None, 5)) is Outcome.APPLIED
    assert device.accept(make(None, 5)) is Outcome.DUPLICATE
    # A packet without a time never replaces one with a time.
    assert device.accept(make(9, None)) is Outcome.LATE


def test_recent_frames_are_bounded() -> None:
    device = EndDevice(RAW)
    for f_cnt in range(100):
        device.accept(make(f_cnt, f_cnt))
    assert len(device.recent) == 32


def test_store_round_trip_and_malformed_data() -> None:
    device = EndDevice(RAW)
    device.accept(make(5, 0))
    device.decode(Decoder.CAYENNE_LPP)
    device.switch_on = True
    restored = EndDevice.from_dict(RAW, device.as_dict())
    assert restored.uplink == device.uplink
    assert restored.values == device.values
    assert restored.switch_on is True
    assert restored.accept(make(5, 0)) is Outcome.DUPLICATE

    assert EndDevice.from_dict(RAW, "garbage").uplink is None
    broken = EndDevice.from_dict(
        RAW,
        {
            "uplink": {"no": "dev_eui"},
            "values": [[1, 103, "hot"], [1, 250, 1], [2, 136, [1, 2]], "x", [3, 113, [1, 2, 3]]],
            "switch_on": "yes",
        },
    )
    assert broken.uplink is None
    assert broken.switch_on is None
    assert list(broken.values) == [(3, 113)]


def test_application_adds_devices_and_tracks_the_newest_time() -> None:
    state = ApplicationState()
    assert state.apply(make(1, 0)) is Outcome.NEW_DEVICE
    assert state.apply(make(1, 0)) is Outcome.DUPLICATE
    assert state.apply(make(2, 2)) is Outcome.APPLIED
    assert state.last_recv_time == T0 + timedelta(minutes=2)
    # A late packet of another device still moves the newest time only forwards.
    assert state.apply(make(1, 1, LIGHT)) is Outcome.NEW_DEVICE
    assert state.last_recv_time == T0 + timedelta(minutes=2)
    assert list(state.devices) == [RAW, LIGHT]


def test_catch_up_starts_before_the_newest_known_moment() -> None:
    state = ApplicationState()
    now = T0 + timedelta(hours=3)
    assert state.catch_up_start(now) == now - FIRST_CATCH_UP
    state.apply(make(1, 0))
    assert state.catch_up_start(now) == T0 - CATCH_UP_MARGIN
    state.cover(T0 + timedelta(hours=1))
    state.cover(T0)  # coverage never moves backwards
    assert state.catch_up_start(now) == T0 + timedelta(hours=1) - CATCH_UP_MARGIN
    much_later = T0 + timedelta(days=30)
    assert state.catch_up_start(much_later) == much_later - MAX_CATCH_UP


def test_only_silent_or_unknown_devices_may_be_forgotten() -> None:
    state = ApplicationState()
    state.apply(make(1, 0))
    state.apply(make(None, None, LIGHT))
    assert not state.may_forget(RAW, T0 + timedelta(hours=23))
    assert state.may_forget(RAW, T0 + timedelta(days=1))
    assert not state.may_forget(LIGHT, T0 + timedelta(days=30))  # no time: cannot tell
    assert state.may_forget("0000000000000000", T0)


def test_application_store_round_trip_and_malformed_data() -> None:
    state = ApplicationState(last_event_id="AAAAAAAAAAE=")
    state.apply(make(1, 0))
    state.cover(T0 + timedelta(minutes=1))
    restored = ApplicationState.from_dict(state.as_dict())
    assert restored == state

    assert ApplicationState.from_dict(None) == ApplicationState()
    broken = ApplicationState.from_dict(
        {
            "last_event_id": "",
            "last_recv_time": "yesterday",
            "covered_until": "2024-05-01T12:00:00",  # no offset: UTC
            "devices": {RAW: {"uplink": None}, LIGHT: "garbage"},
        }
    )
    assert broken.last_event_id is None
    assert broken.last_recv_time is None
    assert broken.covered_until == T0
    assert broken.devices == {}
