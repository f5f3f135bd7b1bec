"""One reader for every vendor timestamp, and the bounds that make a time believable.

Vendors send ISO 8601 text (with ``Z``, an offset, or none, which means UTC;
Efento writes ``"2024-10-12 15:28:21 UTC"``) or Unix time in seconds or
milliseconds. Whatever the form, the result is an aware UTC datetime between
``EARLIEST`` and ``MAX_FUTURE`` from now, or ``InvalidTimestampError``.

The bounds are what makes later arithmetic safe: a time inside them plus or
minus a duration clamped by ``clamp_duration`` (at most ``MAX_UPTIME``) stays
far from ``datetime.min``/``datetime.max``, so no deadline, age or boot time
computed from vendor data can raise OverflowError.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
import math
from typing import Any, Final, Literal

from .errors import ApiPayloadError

# No device we talk to existed before this; a time before it is an unset clock
# (1970, GPS epoch 1980) or a number in the wrong unit.
EARLIEST: Final = datetime(2000, 1, 1, tzinfo=UTC)
# Clocks drift and time zones get mislabelled by hours, not days; anything
# further ahead would also outrank every genuine reading in "newest wins" rules.
MAX_FUTURE: Final = timedelta(days=1)

# Measurement, transmission and heartbeat schedules are seconds to hours; a week
# is beyond any schedule a supported vendor documents.
MAX_INTERVAL: Final = timedelta(days=7)
# Longer than any of these devices has run without a restart, and short enough that
# ``time - uptime`` for a time after EARLIEST stays far inside datetime's range.
MAX_UPTIME: Final = timedelta(days=366 * 50)

# The longest ISO 8601 form we read (with nanoseconds and an offset) is 35
# characters; a cap keeps hostile text from costing parse time.
MAX_TEXT: Final = 64

type EpochUnit = Literal["s", "ms"]

_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_PER_SECOND: Final[dict[str, int]] = {"s": 1, "ms": 1000}
_ZERO: Final = timedelta(0)


class InvalidTimestampError(ApiPayloadError):
    """A vendor time that cannot be real; ``reason`` says why in a few words."""

    def __init__(self, reason: str, value: Any, field: str = "timestamp") -> None:
        """Name the field and keep a short excerpt of the value: it may be megabytes of garbage."""
        super().__init__(f"{field} {_excerpt(value)}: {reason}")
        self.reason = reason
        self.field = field


def _excerpt(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _now(now: datetime | None) -> datetime:
    return datetime.now(UTC) if now is None else now


def check_timestamp(
    moment: datetime, *, now: datetime | None = None, max_future: timedelta = MAX_FUTURE
) -> datetime:
    """Return ``moment`` in UTC if it lies in [EARLIEST, now + max_future], else raise.

    A naive ``moment`` is taken as UTC, as vendors that omit the offset mean.
    """
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        # 9999-12-31T23:59:59-14:00 is a valid string whose UTC form does not exist.
        raise InvalidTimestampError("out of range", moment) from None
    if moment < EARLIEST:
        raise InvalidTimestampError(f"before {EARLIEST:%Y-%m-%d}", moment)
    if moment > _now(now) + max_future:
        raise InvalidTimestampError("in the future", moment)
    return moment


def check_epoch(
    value: float,
    unit: EpochUnit = "s",
    *,
    now: datetime | None = None,
    max_future: timedelta = MAX_FUTURE,
) -> float:
    """Return a Unix time (in ``unit``) unchanged if it is believable, else raise.

    For callers that keep vendor times as numbers (eGauge rows, Enapter datapoints).
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidTimestampError("not a number", value)
    if isinstance(value, float) and not math.isfinite(value):
        raise InvalidTimestampError("not finite", value)
    scale = _PER_SECOND[unit]
    # Compared as numbers first: 1e20 must be refused before datetime ever sees it.
    if value < (EARLIEST - _EPOCH).total_seconds() * scale:
        raise InvalidTimestampError(f"before {EARLIEST:%Y-%m-%d}", value)
    latest = _now(now) + max_future
    if value > (latest - _EPOCH).total_seconds() * scale:
        raise InvalidTimestampError("in the future", value)
    return value


def from_epoch(
    value: float,
    unit: EpochUnit = "s",
    *,
    now: datetime | None = None,
    max_future: timedelta = MAX_FUTURE,
) -> datetime:
    """Turn a believable Unix time (in ``unit``) into an aware UTC datetime, else raise."""
    checked = check_epoch(value, unit, now=now, max_future=max_future)
    # Adding a timedelta avoids the platform's C time functions (OSError on some),
    # and milliseconds stay exact instead of passing through a float division.
    if unit == "ms":
        return _EPOCH + timedelta(milliseconds=checked)
    return _EPOCH + timedelta(seconds=checked)


def parse_iso(
    text: str, *, now: datetime | None = None, max_future: timedelta = MAX_FUTURE
) -> datetime:
    """Read ISO 8601 text (``Z``, offset, or none meaning UTC; Efento's `` UTC`` suffix)."""
    cleaned = text.strip()
    if not cleaned:
        raise InvalidTimestampError("empty", text)
    if len(cleaned) > MAX_TEXT or not cleaned.isascii():
        # isascii: fromisoformat would accept some non-ASCII digits.
        raise InvalidTimestampError("not ISO 8601", text)
    cleaned = cleaned.upper()
    if cleaned.endswith(" UTC"):
        cleaned = cleaned.removesuffix(" UTC") + "+00:00"
    try:
        parsed = datetime.fromisoformat(cleaned)
    except ValueError:
        raise InvalidTimestampError("not ISO 8601", text) from None
    return check_timestamp(parsed, now=now, max_future=max_future)


def parse_timestamp(
    value: Any,
    *,
    epoch: EpochUnit | None = None,
    now: datetime | None = None,
    max_future: timedelta = MAX_FUTURE,
) -> datetime:
    """Read a vendor time: ISO 8601 text, or a JSON number of Unix ``epoch`` units.

    Numbers are refused unless the caller says which unit its vendor uses;
    numeric text ("1728746901") is refused too, as no vendor documents it.
    Raises InvalidTimestampError for anything that is not a believable time.
    """
    if isinstance(value, str):
        return parse_iso(value, now=now, max_future=max_future)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if epoch is None:
            raise InvalidTimestampError("a number where text was expected", value)
        return from_epoch(value, epoch, now=now, max_future=max_future)
    raise InvalidTimestampError("missing" if value is None else "not a time", value)


def timestamp_or_none(
    value: Any,
    *,
    epoch: EpochUnit | None = None,
    now: datetime | None = None,
    max_future: timedelta = MAX_FUTURE,
) -> datetime | None:
    """Like ``parse_timestamp`` but None for anything refused (for optional fields and stores)."""
    try:
        return parse_timestamp(value, epoch=epoch, now=now, max_future=max_future)
    except InvalidTimestampError:
        return None


def epoch_ms(moment: datetime) -> int:
    """Milliseconds since the Unix epoch, exactly (no float rounding)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def clamp_duration(
    seconds: float | None, *, maximum: timedelta, minimum: timedelta = _ZERO
) -> timedelta | None:
    """A vendor's number of seconds as a timedelta in [minimum, maximum]; None if not a number.

    Use it for anything added to or subtracted from a time, so the result stays
    inside datetime's range whatever the vendor sent.
    """
    # isnan only for floats: it converts an int first, and 10**400 overflows that.
    if seconds is None or isinstance(seconds, bool):
        return None
    if isinstance(seconds, float) and math.isnan(seconds):
        return None
    # Compared before building a timedelta: timedelta(seconds=1e15) itself overflows.
    if seconds >= maximum.total_seconds():
        return maximum
    if seconds <= minimum.total_seconds():
        return minimum
    return timedelta(seconds=seconds)


def clamp_seconds(
    seconds: int | None, *, maximum: timedelta, minimum: timedelta = _ZERO
) -> int | None:
    """A vendor's whole number of seconds clamped into [minimum, maximum] (None stays None)."""
    if seconds is None:
        return None
    return max(int(minimum.total_seconds()), min(seconds, int(maximum.total_seconds())))
