"""The reconnect pacing shared by the stream vendors."""

from custom_components.iot_bridge.api.backoff import Backoff


def test_backoff_grows_to_cap_and_resets() -> None:
    backoff = Backoff(initial=1, maximum=8, jitter=False)
    assert [backoff.next_delay() for _ in range(6)] == [1, 2, 4, 8, 8, 8]
    backoff.reset()
    assert backoff.next_delay() == 1


def test_backoff_jitter_stays_within_half_to_full() -> None:
    backoff = Backoff(initial=4, maximum=4)
    for _ in range(50):
        assert 2 <= backoff.next_delay() <= 4


def test_backoff_honours_retry_after_floor_but_not_beyond_cap() -> None:
    backoff = Backoff(initial=1, maximum=60, jitter=False)
    assert backoff.next_delay(floor=30) == 30
    assert backoff.next_delay(floor=600) == 60
