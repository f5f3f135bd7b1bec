"""The application's state without Home Assistant: which uplinks count, catch-up, the store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from custom_components.iot_bridge.api.netemera import Uplink, parse_uplink
from custom_components.iot_bridge.netemera import model
from custom_components.iot_bridge.netemera.model import (
    CATCH_UP_MARGIN,
    FIRST_CATCH_UP,
    MAX_CATCH_UP,
    ApplicationState,
    Decoder,
    EndDevice,
    Outcome,
    usable_event_id,
)

RAW = "70b3d5ca40000003"
LIGHT = "70b3d5ca40000001"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
# Home Assistant's clock in these tests: after every packet they make.
NOW = T0 + timedelta(days=1)


def make(f_cnt: int | None, minute: float | None, dev_eui: str = RAW) -> Uplink:
    raw: dict[str, object] = {"dev_eui": dev_eui, "frm_payload": "0167000A"}
    if f_cnt is not None:
        raw["f_cnt_up"] = f_cnt
    if minute is not None:
        raw["recv_time"] = (T0 + timedelta(minutes=minute)).isoformat()
    return parse_uplink(raw)


def test_accept_rules() -> None:
    device = EndDevice(RAW)
    assert device.accept(make(5, 0), NOW) is Outcome.APPLIED
    assert device.accept(make(5, 0), NOW) is Outcome.DUPLICATE
    # A network resend of the same frame a little later is still a repeat.
    assert device.accept(make(5, 0.1), NOW) is Outcome.DUPLICATE
    assert device.accept(make(7, 2), NOW) is Outcome.APPLIED
    # Frame 6 arrives late: remembered, not shown; a second copy is a repeat.
    assert device.accept(make(6, 1), NOW) is Outcome.LATE
    assert device.accept(make(6, 1), NOW) is Outcome.DUPLICATE
    assert device.uplink is not None
    assert device.uplink.f_cnt_up == 7
    # Rejoin: the counter starts again with a newer time.
    assert device.accept(make(1, 3), NOW) is Outcome.APPLIED
    assert device.accept(make(2, 4), NOW) is Outcome.APPLIED
    # Packets without a counter are told apart by their time.
    assert device.accept(make(None, 5), NOW) is Outcome.APPLIED
    assert device.accept(make(None, 5), NOW) is Outcome.DUPLICATE
    # A packet without a time never replaces one with a time.
    assert device.accept(make(9, None), NOW) is Outcome.LATE


def test_recent_frames_are_bounded() -> None:
    device = EndDevice(RAW)
    for f_cnt in range(100):
        device.accept(make(f_cnt, f_cnt), NOW)
    assert len(device.recent) == 32


def test_store_round_trip_and_malformed_data() -> None:
    device = EndDevice(RAW)
    device.accept(make(5, 0), NOW)
    device.decode(Decoder.CAYENNE_LPP)
    device.switch_on = True
    restored = EndDevice.from_dict(RAW, device.as_dict())
    assert restored.uplink == device.uplink
    assert restored.values == device.values
    assert restored.switch_on is True
    assert restored.accept(make(5, 0), NOW) is Outcome.DUPLICATE

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
    assert state.apply(make(1, 0), NOW) is Outcome.NEW_DEVICE
    assert state.apply(make(1, 0), NOW) is Outcome.DUPLICATE
    assert state.apply(make(2, 2), NOW) is Outcome.APPLIED
    assert state.last_recv_time == T0 + timedelta(minutes=2)
    # A late packet of another device still moves the newest time only forwards.
    assert state.apply(make(1, 1, LIGHT), NOW) is Outcome.NEW_DEVICE
    assert state.last_recv_time == T0 + timedelta(minutes=2)
    assert list(state.devices) == [RAW, LIGHT]


def test_catch_up_starts_before_the_newest_known_moment() -> None:
    state = ApplicationState()
    now = T0 + timedelta(hours=3)
    assert state.catch_up_start(now) == now - FIRST_CATCH_UP
    state.apply(make(1, 0), NOW)
    assert state.catch_up_start(now) == T0 - CATCH_UP_MARGIN
    state.cover(T0 + timedelta(hours=1))
    state.cover(T0)  # coverage never moves backwards
    assert state.catch_up_start(now) == T0 + timedelta(hours=1) - CATCH_UP_MARGIN
    much_later = T0 + timedelta(days=30)
    assert state.catch_up_start(much_later) == much_later - MAX_CATCH_UP


def test_only_silent_or_unknown_devices_may_be_forgotten() -> None:
    state = ApplicationState()
    state.apply(make(1, 0), NOW)
    state.apply(make(None, None, LIGHT), NOW)
    assert not state.may_forget(RAW, T0 + timedelta(hours=23))
    assert state.may_forget(RAW, T0 + timedelta(days=1))
    assert not state.may_forget(LIGHT, T0 + timedelta(days=30))  # no time: cannot tell
    assert state.may_forget("0000000000000000", T0)


def test_application_store_round_trip_and_malformed_data() -> None:
    state = ApplicationState(last_event_id="AAAAAAAAAAE=")
    state.apply(make(1, 0), NOW)
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


def test_a_packet_from_a_wrong_clock_does_not_hide_later_ones() -> None:
    device = EndDevice(RAW)
    assert device.accept(make(5, 0), NOW) is Outcome.APPLIED
    # The server's clock jumped 20 hours ahead for one packet (the API accepts a day).
    ahead = (NOW - T0 + timedelta(hours=20)).total_seconds() / 60
    assert device.accept(make(6, ahead), NOW) is Outcome.APPLIED
    # The next real packets are shown, not taken as late behind the wrong one.
    assert device.accept(make(7, 1), NOW) is Outcome.APPLIED
    assert device.accept(make(8, 2), NOW) is Outcome.APPLIED
    assert device.uplink is not None
    assert device.uplink.f_cnt_up == 8
    # A wrong time inside the allowed skew still orders packets by time.
    assert device.accept(make(9, 1.5), NOW) is Outcome.LATE


def test_future_times_never_become_the_history_cursor() -> None:
    state = ApplicationState()
    ahead = (NOW - T0 + timedelta(hours=20)).total_seconds() / 60
    state.apply(make(1, ahead), NOW)
    assert state.last_recv_time == NOW
    assert state.catch_up_start(NOW) == NOW - CATCH_UP_MARGIN
    # Stored by a clock that has since gone back: catch-up still starts before now.
    state.last_recv_time = NOW + timedelta(hours=20)
    state.covered_until = NOW + timedelta(hours=21)
    assert state.catch_up_start(NOW) == NOW - CATCH_UP_MARGIN
    # Far in the past: no further back than a week.
    state = ApplicationState(last_recv_time=datetime(2000, 1, 1, tzinfo=UTC))
    assert state.catch_up_start(NOW) == NOW - MAX_CATCH_UP


def test_new_devices_stop_at_the_cap_until_one_is_forgotten(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(model, "MAX_DEVICES", 3)
    state = ApplicationState()
    euis = [f"00000000000000{index:02x}" for index in range(10)]
    outcomes = [state.apply(make(1, index, eui), NOW) for index, eui in enumerate(euis)]
    assert outcomes == [Outcome.NEW_DEVICE] * 3 + [Outcome.REFUSED] * 7
    assert list(state.devices) == euis[:3]
    assert state.refused == set(euis[3:])
    # Known devices go on as before.
    assert state.apply(make(2, 20, euis[0]), NOW) is Outcome.APPLIED
    assert state.forget(euis[1])
    assert state.refused == set()
    assert state.apply(make(2, 21, euis[9]), NOW) is Outcome.NEW_DEVICE
    assert state.apply(make(2, 22, euis[8]), NOW) is Outcome.REFUSED


def test_refused_devices_are_counted_up_to_a_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model, "MAX_DEVICES", 0)
    monkeypatch.setattr(model, "MAX_REFUSED_TRACKED", 5)
    state = ApplicationState()
    for index in range(20):
        assert state.apply(make(1, 0, f"{index:016x}"), NOW) is Outcome.REFUSED
    assert len(state.refused) == 5


def test_lpp_values_stop_at_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model, "MAX_LPP_VALUES", 2)
    device = EndDevice(RAW)
    # Temperature on channels 1, 2 and 3.
    payload = "0167000A" + "0267000B" + "0367000C"
    device.accept(parse_uplink({"dev_eui": RAW, "f_cnt_up": 1, "frm_payload": payload}), NOW)
    assert device.decode(Decoder.CAYENNE_LPP)
    assert sorted(device.values) == [(1, 103), (2, 103)]
    assert device.refused_values == {(3, 103)}
    # The channels that fit keep updating.
    device.accept(parse_uplink({"dev_eui": RAW, "f_cnt_up": 2, "frm_payload": "0167001E"}), NOW)
    assert not device.decode(Decoder.CAYENNE_LPP)
    assert device.values[1, 103].value == 3.0
    device.clear_values()
    assert device.values == {}
    assert device.refused_values == set()


@pytest.mark.parametrize(
    ("event_id", "usable"),
    [
        ("AAABWByxABU=", True),
        ("", False),
        (None, False),
        (12, False),
        ("\x01abc", False),  # the HTTP client refuses control characters in a header
        ("é", False),
        ("x" * 257, False),  # servers refuse long headers (400 or 431)
    ],
)
def test_only_ids_that_fit_a_header_are_resumed_from(event_id: object, usable: bool) -> None:
    assert usable_event_id(event_id) is usable


@pytest.mark.parametrize(
    "bad_time",
    ["9999-12-31T23:59:59-14:00", "2100-01-01T00:00:00Z", "1970-01-01T00:00:00Z", 1e20, "+"],
)
def test_stored_cursor_times_are_checked_like_received_ones(bad_time: object) -> None:
    problems: list[str] = []
    state = ApplicationState.from_dict(
        {
            "last_event_id": "\x01bad",
            "last_recv_time": bad_time,
            "covered_until": bad_time,
            "devices": {
                RAW: {"uplink": {"dev_eui": RAW, "recv_time": bad_time}},
                LIGHT: {
                    "uplink": {"dev_eui": LIGHT, "f_cnt_up": 1, "recv_time": T0.isoformat()},
                    "values": 5,
                },
            },
        },
        problems,
    )
    assert state.last_event_id is None
    assert state.last_recv_time is None
    assert state.covered_until is None
    # One bad device is dropped; the other keeps its packet.
    assert list(state.devices) == [LIGHT]
    assert len(problems) == 5, problems
    assert state.catch_up_start(NOW) == NOW - FIRST_CATCH_UP


def test_a_stored_state_of_the_wrong_shape_is_noted() -> None:
    problems: list[str] = []
    assert ApplicationState.from_dict(["not", "an", "object"], problems) == ApplicationState()
    assert ApplicationState.from_dict({"devices": []}, problems) == ApplicationState()
    assert len(problems) == 2
    assert ApplicationState.from_dict(None, problems) == ApplicationState()
    assert len(problems) == 2  # nothing stored yet is no problem


def test_uplink_readings_are_radio_values_and_decoded_numbers() -> None:
    # Temperature 1.0 °C on channel 1, an accelerometer (x, y, z) on channel 2.
    payload = "0167000A" + "0271" + "03E8FC180000"
    uplink = parse_uplink(
        {
            "dev_eui": RAW,
            "frm_payload": payload,
            "gw_info": [{"id": "gw", "rssi": -90.5, "snr": 7.25}],
        }
    )
    assert list(model.uplink_readings(uplink, Decoder.CAYENNE_LPP)) == [
        ("rssi", "dBm", -90.5),
        ("snr", "dB", 7.25),
        ("lpp_1_103", "°C", 1.0),
        ("lpp_2_113_x", "G", 1.0),
        ("lpp_2_113_y", "G", -1.0),
        ("lpp_2_113_z", "G", 0.0),
    ]
    # Without the decoder, or with a payload that is no LPP, only the radio values.
    assert [key for key, _, _ in model.uplink_readings(uplink, Decoder.NONE)] == ["rssi", "snr"]
    junk = parse_uplink({"dev_eui": RAW, "frm_payload": "CAFE0001"})
    assert list(model.uplink_readings(junk, Decoder.CAYENNE_LPP)) == []
