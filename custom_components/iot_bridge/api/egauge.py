"""eGauge meter WebAPI client (firmware 4.2+, JWT digest login).

One poll is one request, ``GET /api/register?rate&time=now``: it carries each
register's current rate and one row of cumulative counters. The token is kept
until a call answers 401; that answer already holds a fresh challenge, so the
client logs in from it and repeats the call once.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
import hashlib
import logging
import re
import secrets
from typing import Any, Final

import aiohttp
from yarl import URL

from .errors import ApiAuthError, ApiError, ApiPayloadError
from .fields import as_float, as_int, as_list, as_mapping, as_str
from .http import decode_json, raise_for_status, request
from .log_once import LogOnce
from .timestamps import InvalidTimestampError, check_epoch
from .urls import base_url, parse_url, strip_path_suffix

__all__ = [
    "REGISTER_TYPES",
    "EgaugeClient",
    "EgaugeIdentity",
    "EgaugeReading",
    "EgaugeRegister",
    "RegisterType",
    "normalize_url",
]

_LOGGER = logging.getLogger(__name__)

# Flag parameters without values: aiohttp's ``params`` would send ``rate=``.
READINGS_PATH: Final = "/api/register?rate&time=now"
NONCE_EXPIRED: Final = "Nonce expired."
_HOST_RE = re.compile(r"^[a-z0-9]([a-z0-9\-_.]*[a-z0-9])?$|^[0-9a-f:.]+$", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class RegisterType:
    """A register type code: the rate's unit and the quantum of its counter."""

    code: str
    description: str
    unit: str | None
    quantum: float


def _types(*rows: tuple[str, str, str | None, float]) -> dict[str, RegisterType]:
    return {code: RegisterType(code, desc, unit, quantum) for code, desc, unit, quantum in rows}


REGISTER_TYPES: Final[dict[str, RegisterType]] = _types(
    ("#", "Whole number", None, 1),
    ("#3", "Number with 3 decimals", None, 0.001),
    ("d", "Discrete number", None, 1),
    ("P", "Power", "W", 1),
    ("S", "Apparent power", "VA", 1),
    ("var", "Reactive power", "var", 1),
    ("V", "Voltage", "V", 0.001),
    ("I", "Current", "A", 0.001),
    ("R", "Resistance", "Ω", 1),
    ("Qe", "Electric charge", "Ah", 0.001),
    ("T", "Temperature", "°C", 0.001),
    ("h", "Relative humidity", "%", 0.001),
    ("Pa", "Pressure", "Pa", 1),
    # The type-code table lists "s" as the rate unit, which would make a duration
    # of an index; eGauge's own Python client treats it as unitless.
    ("aq", "Air quality index", None, 0.001),
    ("F", "Frequency", "Hz", 0.001),
    ("a", "Angle", "°", 0.001),
    ("THD", "Total harmonic distortion", "%", 0.001),
    ("Q", "Mass flow", "g/s", 1),
    ("Qv", "Volumetric flow", "m³/s", 1e-9),
    ("m", "Mass", "g", 0.001),
    ("v", "Speed", "m/s", 0.001),
    ("%", "Percentage", "%", 0.001),
    # 2**-29, not 2: egauge-python's unit table scales "$" by 536870912 (2**29).
    ("$", "Monetary accrual rate", "$/s", 2**-29),
    ("Ee", "Irradiance", "W/m²", 1),
    ("ppm", "Parts per million", "ppm", 0.001),
)


@dataclass(frozen=True, slots=True)
class EgaugeRegister:
    """One register: its current rate and raw cumulative counter."""

    idx: int
    name: str
    type_code: str
    rate: float | None
    counter: int | None

    @property
    def register_type(self) -> RegisterType | None:
        """The known type of this register, None for a code we do not know."""
        return REGISTER_TYPES.get(self.type_code)

    def cumulative(self) -> float | None:
        """The counter in physical units (rate unit x seconds); quantum 1 for unknown codes."""
        if self.counter is None:
            return None
        known = REGISTER_TYPES.get(self.type_code)
        return self.counter * (known.quantum if known else 1.0)


@dataclass(frozen=True, slots=True)
class EgaugeReading:
    """One poll: the row's timestamp and every register keyed by name."""

    timestamp: float | None
    registers: dict[str, EgaugeRegister]


@dataclass(frozen=True, slots=True)
class EgaugeIdentity:
    """What identifies the meter as a device."""

    serial: str
    model: str | None
    hostname: str | None
    firmware: str | None


def normalize_url(text: str) -> str:
    """Turn what a user typed into the meter's base URL (no trailing slash or ``/api``).

    A bare host gets ``https://``; a query or fragment is dropped. Raises
    ValueError for anything that is not an http(s) URL with a valid host and port,
    or that carries credentials.
    """
    url = parse_url(text, default_scheme="https", host_pattern=_HOST_RE, query="drop")
    return base_url(url, strip_path_suffix(url.path, "/api", ignore_case=True))


def _md5(text: str) -> str:
    # MD5 is what the meter's digest login prescribes, not our choice.
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def _challenge(text: str) -> tuple[str, str] | None:
    """Realm and server nonce from a 401 body, None if it holds none."""
    try:
        body = as_mapping(decode_json(text, "challenge"))
    except ApiPayloadError:
        return None
    if body is None:
        return None
    realm, nonce = as_str(body.get("rlm")), as_str(body.get("nnc"))
    if realm is None or not nonce:
        return None
    return realm, nonce


def _object(text: str, what: str) -> Mapping[str, Any]:
    body = as_mapping(decode_json(text, what))
    if body is None:
        raise ApiPayloadError(f"{what}: body is not a JSON object")
    return body


def _meter_time(value: Any, log_once: LogOnce) -> float | None:
    """The meter's Unix time, None when missing or not believable (its clock is then wrong)."""
    seconds = as_float(value)
    if seconds is None:
        return None
    try:
        return check_epoch(seconds)
    except InvalidTimestampError as err:
        log_once.warning("eGauge meter time refused: %s", err, kind="clock")
        return None


def parse_readings(body: Mapping[str, Any], log_once: LogOnce | None = None) -> EgaugeReading:
    """Parse a ``/api/register`` body; only an unusable ``registers`` list is an error.

    A meter repeats a problem on every poll: pass the client's ``log_once`` to
    warn about each once per meter (without one, every call warns).
    """
    log_once = log_once or LogOnce(_LOGGER)
    entries = as_list(body.get("registers"))
    if entries is None:
        raise ApiPayloadError("register: no registers list")
    first = as_mapping((as_list(body.get("ranges")) or [None])[0])
    timestamp = _meter_time(first.get("ts"), log_once) if first else None
    if timestamp is None:
        timestamp = _meter_time(body.get("ts"), log_once)
    rows = as_list(first.get("rows")) if first else None
    row = as_list(rows[0]) if rows else None
    if row is not None and len(row) != len(entries):
        # Columns follow the registers list; if the lengths differ we cannot tell which is which.
        log_once.warning(
            "eGauge register row has %d values for %d registers",
            len(row),
            len(entries),
            kind="row_length",
            key=(len(row), len(entries)),
        )
        row = None
    registers: dict[str, EgaugeRegister] = {}
    for pos, raw in enumerate(entries):
        entry = as_mapping(raw)
        if entry is None:
            continue
        name, code, idx = (
            as_str(entry.get("name")),
            as_str(entry.get("type")),
            as_int(entry.get("idx")),
        )
        if not name or code is None or idx is None or name in registers:
            _LOGGER.debug("Skipping malformed eGauge register entry %r", raw)
            continue
        registers[name] = EgaugeRegister(
            idx=idx,
            name=name,
            type_code=code,
            rate=as_float(entry.get("rate")),
            counter=as_int(row[pos]) if row is not None else None,
        )
    return EgaugeReading(timestamp=timestamp, registers=registers)


def parse_history(
    body: Mapping[str, Any], log_once: LogOnce | None = None
) -> list[tuple[float, dict[str, int]]]:
    """Parse the rows of a ``time=start:step:end`` answer into oldest-first counters.

    Rows at times that cannot be real are skipped.
    """
    log_once = log_once or LogOnce(_LOGGER)
    entries = as_list(body.get("registers"))
    ranges = as_list(body.get("ranges"))
    if entries is None or ranges is None:
        raise ApiPayloadError("history: no registers or ranges")
    names = [as_str(entry.get("name")) if as_mapping(entry) else None for entry in entries]
    result: list[tuple[float, dict[str, int]]] = []
    for raw_range in ranges:
        block = as_mapping(raw_range)
        if block is None:
            continue
        newest, delta = _meter_time(block.get("ts"), log_once), as_float(block.get("delta"))
        rows = as_list(block.get("rows"))
        if newest is None or delta is None or rows is None:
            continue
        for position, raw_row in enumerate(rows):
            row = as_list(raw_row)
            moment = _meter_time(newest - position * delta, log_once)
            if row is None or len(row) != len(names) or moment is None:
                continue
            counters = {
                name: value
                for name, cell in zip(names, row, strict=True)
                if name is not None and (value := as_int(cell)) is not None
            }
            result.append((moment, counters))
    result.sort(key=lambda item: item[0])
    return result


class EgaugeClient:
    """Async client of one meter's WebAPI.

    ``requests_sent`` counts every HTTP request, including logins.
    """

    def __init__(
        self, session: aiohttp.ClientSession, url: str, username: str, password: str
    ) -> None:
        """Remember where and who; nothing is sent until the first call."""
        self._session = session
        self._base = normalize_url(url)
        self._username = username
        self._password = password
        self._token: str | None = None
        self._log_once = LogOnce(_LOGGER)
        self.requests_sent = 0

    @property
    def base_url(self) -> str:
        """The normalized meter URL."""
        return self._base

    async def _send(
        self, method: str, path: str, what: str, json_body: Any = None
    ) -> tuple[int, Mapping[str, str], str]:
        headers = {"Accept": "application/json"}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        self.requests_sent += 1
        # ``encoded=True`` keeps ``?rate&time=now`` exactly as written.
        url = str(URL(f"{self._base}{path}", encoded=True))
        return await request(
            self._session, method, url, what=what, headers=headers, json_body=json_body
        )

    async def _fetch_challenge(self) -> tuple[str, str]:
        self._token = None
        status, headers, text = await self._send("GET", "/api/auth/unauthorized", "challenge")
        if status != 401:
            raise_for_status(status, headers, text, "challenge")
            raise ApiPayloadError(f"challenge: expected 401, got {status}")
        challenge = _challenge(text)
        if challenge is None:
            raise ApiPayloadError("challenge: 401 without rlm/nnc")
        return challenge

    async def _login(self, challenge: tuple[str, str] | None) -> None:
        """Digest login; a stale nonce earns one fresh challenge."""
        self._token = None
        retried = False
        while True:
            if challenge is None:
                challenge = await self._fetch_challenge()
            realm, nonce = challenge
            cnonce = secrets.token_hex(16)
            ha1 = _md5(f"{self._username}:{realm}:{self._password}")
            digest = {
                "rlm": realm,
                "usr": self._username,
                "nnc": nonce,
                "cnnc": cnonce,
                "hash": _md5(f"{ha1}:{nonce}:{cnonce}"),
            }
            status, headers, text = await self._send("POST", "/api/auth/login", "login", digest)
            raise_for_status(status, headers, text, "login")
            body = _object(text, "login")
            token = as_str(body.get("jwt"))
            if token:
                self._token = token
                return
            error = as_str(body.get("error"))
            if error == NONCE_EXPIRED and not retried:
                _LOGGER.debug("eGauge nonce expired, fetching a new challenge")
                retried, challenge = True, None
                continue
            if error is not None or "jwt" not in body:
                raise ApiAuthError(f"login refused: {error or 'no token'}")
            raise ApiPayloadError("login: jwt is not a string")

    async def login(self) -> None:
        """Fetch a challenge and log in; raises ApiAuthError for wrong credentials."""
        await self._login(None)

    async def _get(self, path: str, what: str) -> tuple[int, Mapping[str, str], str]:
        """GET with the token, logging in from a 401's challenge and retrying once."""
        status, headers, text = await self._send("GET", path, what)
        if status != 401:
            return status, headers, text
        await self._login(_challenge(text))
        status, headers, text = await self._send("GET", path, what)
        if status == 401:
            self._token = None
            raise ApiAuthError(f"{what}: token refused right after login")
        return status, headers, text

    async def _get_object(self, path: str, what: str) -> Mapping[str, Any]:
        status, headers, text = await self._get(path, what)
        raise_for_status(status, headers, text, what)
        return _object(text, what)

    async def _get_result(self, path: str, what: str, *, optional: bool) -> str | None:
        """The string ``result`` of a resource; optional ones are None when denied or absent."""
        status, headers, text = await self._get(path, what)
        if optional and status in (403, 404):
            return None
        raise_for_status(status, headers, text, what)
        body = _object(text, what)
        result = body.get("result")
        if isinstance(result, (int, float)) and not isinstance(result, bool):
            result = str(result)
        return as_str(result) or None

    async def get_rights(self) -> frozenset[str]:
        """The rights of the logged-in user (e.g. ``save``, ``ctrl``)."""
        body = await self._get_object("/api/auth/rights", "rights")
        rights = as_list(body.get("rights"))
        if rights is None:
            raise ApiPayloadError("rights: no rights list")
        return frozenset(right for right in rights if isinstance(right, str))

    async def get_identity(self) -> EgaugeIdentity:
        """Serial, model, hostname (None without the view-settings right) and firmware."""
        serial = await self._get_result("/api/sys/sn", "serial", optional=False)
        if serial is None:
            raise ApiPayloadError("serial: no result")
        return EgaugeIdentity(
            serial=serial,
            model=await self._get_result("/api/sys/model", "model", optional=True),
            hostname=await self._get_result("/api/config/net/hostname", "hostname", optional=True),
            firmware=await self._get_result("/api/sys/version/firmware", "firmware", optional=True),
        )

    async def get_readings(self) -> EgaugeReading:
        """Every register's rate and counter in one request (three around token expiry)."""
        return parse_readings(await self._get_object(READINGS_PATH, "register"), self._log_once)

    async def get_history(
        self, start: float, end: float, step: int, registers: Collection[int] | None = None
    ) -> list[tuple[float, dict[str, int]]]:
        """Counters from ``start`` to ``end``, one row per ``step`` seconds.

        ``registers`` limits the answer to those register indices (default: all).
        Returns ``(timestamp, {register name: raw counter})`` rows, oldest first;
        rows the meter does not hold (before its database starts) are simply absent.
        """
        path = f"/api/register?time={int(start)}:{int(step)}:{int(end)}"
        if registers is not None:
            path += "&reg=none" + "".join(f"+{index}" for index in sorted(set(registers)))
        return parse_history(await self._get_object(path, "history"), self._log_once)

    async def close(self) -> None:
        """Revoke the token if we hold one; failures are ignored."""
        if self._token is None:
            return
        try:
            await self._send("GET", "/api/auth/logout", "logout")
        except ApiError as err:
            _LOGGER.debug("eGauge logout failed: %s", err)
        finally:
            self._token = None
