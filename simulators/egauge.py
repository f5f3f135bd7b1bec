"""A simulated eGauge meter WebAPI (firmware 4.x) on 127.0.0.1.

Wire format per eGauge's WebAPI reference and its Python client (``egauge-python``):
digest JWT login (``/api/auth/unauthorized`` answers 401 ``{"rlm","nnc","error"}``,
``POST /api/auth/login`` answers 200 ``{"jwt"}`` or 200 ``{"error"}``), every protected
resource answers 401 with the same challenge when the token is missing or stale, and
``/api/register`` with ``rate``, ``time``, ``reg``, ``delta`` as documented.

Rates follow smooth curves of time and counters are their exact integrals, so
history rows, the current row and the rates agree. Start it with
``python -m simulators.egauge --port 8766`` and log in as ``owner`` / ``secret``.
"""

from __future__ import annotations

import argparse
from bisect import bisect_right
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
import hashlib
import json
import math
import re
import secrets
import time
from typing import Any
from urllib.parse import unquote

from aiohttp import web

REALM = "eGauge Administration"
NONCE_EXPIRED = "Nonce expired."
MAX_ROWS = 10_000

# Independent of the client's table on purpose: a wrong quantum there must not be mirrored here.
QUANTUM: dict[str, float] = {
    "#": 1, "#3": 0.001, "d": 1, "P": 1, "S": 1, "var": 1, "V": 0.001, "I": 0.001,
    "R": 1, "Qe": 0.001, "T": 0.001, "h": 0.001, "Pa": 1, "aq": 0.001, "F": 0.001,
    "a": 0.001, "THD": 0.001, "Q": 1, "Qv": 1e-9, "m": 0.001, "v": 0.001, "%": 0.001,
    "$": 2**-29, "Ee": 1, "ppm": 0.001,
}  # fmt: skip


def quantum(code: str) -> float:
    """Quantum of a type code; 1 for codes the meter does not document."""
    return QUANTUM.get(code, 1.0)


@dataclass(frozen=True, slots=True)
class _Curve:
    """A stretch of a register's life: its counter at ``start`` and its rate from then on."""

    start: float
    counter: float  # raw units at ``start``
    scale: float  # raw units per physical unit x second (1 / quantum)
    base: float
    amplitude: float
    period: float
    phase: float

    def integral(self, t0: float, t1: float) -> float:
        """Exact integral of the rate from ``t0`` to ``t1`` (physical unit x seconds)."""
        omega = 2 * math.pi / self.period
        swing = (
            self.amplitude
            / omega
            * (math.cos(omega * t0 + self.phase) - math.cos(omega * t1 + self.phase))
        )
        return self.base * (t1 - t0) + swing


@dataclass
class SimRegister:
    """A physical register: rate = base + amplitude * sin(2*pi*t/period + phase).

    Its counter is the exact integral of the rate. Every change of rate or counter
    starts a new curve at that moment and keeps the old ones, so the counter at a
    past time (a history row) never changes once it has been served; times before
    the first curve run it backwards.
    """

    name: str
    type_code: str
    base: float
    amplitude: float = 0.0
    period: float = 600.0
    phase: float = 0.0
    counter: float = 0.0  # raw units (quantum) when the simulator starts
    idx: int = 0
    did: int = 0
    _curves: list[_Curve] = field(default_factory=list, init=False, repr=False)
    _starts: list[float] = field(default_factory=list, init=False, repr=False)

    def rate(self, t: float) -> float:
        """The rate at time ``t`` in physical units (of the current curve)."""
        return self.base + self.amplitude * math.sin(2 * math.pi * t / self.period + self.phase)

    def begin(self, t: float, counter: float | None = None) -> None:
        """Start a new curve at ``t`` with the current rate parameters (and ``counter``)."""
        if counter is None:
            counter = self.counter_at(t) if self._curves else self.counter
        scale = 1 / quantum(self.type_code)
        curve = _Curve(t, counter, scale, self.base, self.amplitude, self.period, self.phase)
        if self._starts and self._starts[-1] >= t:
            # Several changes at one instant: the last one holds from then on.
            self._curves[-1], self._starts[-1] = curve, t
        else:
            self._curves.append(curve)
            self._starts.append(t)

    def integral(self, t0: float, t1: float) -> float:
        """The integral of the rate from ``t0`` to ``t1`` (physical unit x seconds)."""
        return (self.counter_at(t1) - self.counter_at(t0)) * quantum(self.type_code)

    def counter_at(self, t: float) -> float:
        """The raw counter at time ``t`` (not rounded)."""
        curve = self._curves[max(0, bisect_right(self._starts, t) - 1)]
        return curve.counter + curve.integral(curve.start, t) * curve.scale

    def counters(self, times: Sequence[float]) -> list[int]:
        """Rounded raw counters at each of ``times`` (the inner loop of history answers)."""
        result: list[int] = []
        curve: _Curve | None = None
        end = -math.inf
        start = math.inf
        for t in times:
            if curve is None or not start <= t < end:
                position = max(0, bisect_right(self._starts, t) - 1)
                curve = self._curves[position]
                start = self._starts[position] if position else -math.inf
                end = self._starts[position + 1] if position + 1 < len(self._starts) else math.inf
            result.append(round(curve.counter + curve.integral(curve.start, t) * curve.scale))
        return result


@dataclass
class SimUser:
    """A meter user; ``view_data``/``view_settings`` gate registers and configuration."""

    password: str
    rights: tuple[str, ...] = ()
    view_data: bool = True
    view_settings: bool = True


def default_registers() -> list[SimRegister]:
    """A house with solar covering every documented type code plus one unknown code."""
    spec: list[tuple[str, str, float, float, float]] = [
        # name, type, base, amplitude, starting counter (raw)
        ("Grid", "P", 300.0, 2500.0, 117_607_805_899),  # net: negative while exporting
        ("Solar", "P", 1800.0, 1700.0, 268_487_638_108),
        ("House", "P", 2100.0, 800.0, 385_000_000_000),
        ("Apparent Power", "S", 2400.0, 700.0, 410_000_000_000),
        ("Reactive Power", "var", 350.0, 120.0, 52_000_000_000),
        ("L1 Voltage", "V", 121.5, 1.5, 390_000_000_000_000),
        ("L1 Current", "I", 17.0, 6.0, 54_000_000_000_000),
        ("Line Frequency", "F", 60.0, 0.02, 1_900_000_000_000),
        ("Phase Angle", "a", 12.0, 4.0, 380_000_000_000),
        ("L1 THD", "THD", 3.2, 0.8, 100_000_000_000),
        ("Outdoor Temperature", "T", 18.0, 6.0, 570_000_000_000),
        ("Outdoor Humidity", "h", 55.0, 15.0, 1_740_000_000_000),
        ("Air Pressure", "Pa", 101_325.0, 300.0, 3_200_000_000_000),
        ("Air Quality", "aq", 42.0, 10.0, 1_300_000_000_000),
        ("Gas Flow", "Q", 0.8, 0.5, 25_000_000),
        ("Water Flow", "Qv", 0.00012, 0.0001, 3_800_000_000_000),
        ("Tank Mass", "m", 250_000.0, 5_000.0, 790_000_000_000_000),
        ("Wind Speed", "v", 4.5, 2.5, 140_000_000_000),
        ("Battery SoC", "%", 65.0, 25.0, 2_050_000_000_000),
        ("Energy Cost", "$", 0.0002, 0.00015, 3_400_000_000_000),
        ("Irradiance", "Ee", 450.0, 400.0, 14_000_000_000),
        ("CO2", "ppm", 600.0, 150.0, 18_900_000_000_000),
        ("Battery Charge", "Qe", 8.0, 12.0, 250_000_000_000),
        ("Ground Resistance", "R", 25.0, 1.0, 790_000_000),
        ("Occupancy", "#", 3.0, 0.0, 95_000_000),
        ("Set Point", "#3", 21.5, 0.0, 680_000_000_000),
        ("Relay State", "d", 1.0, 0.0, 31_000_000),
        ("Mystery Sensor", "Z", 7.0, 2.0, 220_000_000),
    ]
    return [
        SimRegister(name, code, base, amp, period=300.0 + 60 * i, phase=i, counter=float(cnt))
        for i, (name, code, base, amp, cnt) in enumerate(spec)
    ]


def bulk_registers(count: int) -> list[SimRegister]:
    """``count`` registers cycling through every documented type code (for benchmarks)."""
    codes = list(QUANTUM)
    regs: list[SimRegister] = []
    for i in range(count):
        code = codes[i % len(codes)]
        base = 100.0 + i
        regs.append(
            SimRegister(
                f"Register {i}", code, base, base / 3, period=200.0 + i, phase=i,
                counter=float(1_000_000 * (i + 1)),
            )
        )  # fmt: skip
    return regs


def power_registers(count: int) -> list[SimRegister]:
    """``count`` power registers; every fourth is net, importing and exporting within each hour."""
    regs: list[SimRegister] = []
    for i in range(count):
        net = i % 4 == 0
        base, amplitude = (250.0, 2000.0) if net else (150.0 + 40 * i, 100.0 + 10 * i)
        regs.append(
            SimRegister(
                f"Circuit {i}", "P", base, amplitude, period=420.0 + 30 * i, phase=i,
                counter=float(10_000_000_000 * (i + 1)),
            )
        )  # fmt: skip
    return regs


def _raw_query(query_string: str) -> dict[str, str]:
    """Query parameters with ``+`` kept literal: ``reg=none+3+7`` means ranges, not spaces."""
    params: dict[str, str] = {}
    for part in query_string.split("&"):
        if part:
            key, _, value = part.partition("=")
            params[unquote(key)] = unquote(value)
    return params


def _md5(text: str) -> str:
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


_RANGE = re.compile(r"([+-]?)([^+-]+)")
_TIME = re.compile(r"^\s*(now|[0-9.]+)?\s*(?:([+-])\s*([0-9.]+))?\s*$")


@dataclass
class _Token:
    user: str
    expires: float


@dataclass
class EgaugeSimulator:
    """State of one simulated meter plus the knobs tests flip."""

    registers: list[SimRegister] = field(default_factory=default_registers)
    users: dict[str, SimUser] = field(
        default_factory=lambda: {
            "owner": SimUser("secret", ("save", "ctrl")),
            "dataonly": SimUser("data", (), view_settings=False),
            "viewer": SimUser("view", (), view_data=False, view_settings=False),
        }
    )
    serial: str = "G12345678"
    model: str | None = "EG4030"
    hostname: str = "egauge12345"
    firmware: str | None = "4.6.2"
    clock: Callable[[], float] = time.time
    token_lifetime: float = 600.0
    nonce_lifetime: float = 60.0

    # knobs and observations
    requests_by_path: Counter[str] = field(default_factory=Counter)
    register_queries: list[str] = field(default_factory=list)
    fail_status: int = 500
    fail_count: int = 0
    # Retry-After header values (sent as written) for the next 429 answers.
    rate_limits: list[str] = field(default_factory=list)
    malformed_next: int = 0
    malformed_path: str | None = None  # limit malformed_next to one path
    expire_next_nonces: int = 0
    register_body_hook: Callable[[dict[str, Any]], Any] | None = None
    overrides: dict[str, tuple[int, str]] = field(default_factory=dict)
    # Every token handed out, revoked or not (secrets a client must never disclose).
    issued_tokens: list[str] = field(default_factory=list)
    # The meter's oldest database row: history rows before it are left out (None: no limit).
    history_start: float | None = None

    _tokens: dict[str, _Token] = field(default_factory=dict, init=False)
    _nonces: dict[str, float] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        now = self.clock()
        for i, reg in enumerate(self.registers):
            reg.idx = reg.did = i
            reg.begin(now)

    @classmethod
    def with_registers(cls, count: int, **kwargs: Any) -> EgaugeSimulator:
        """A meter with ``count`` registers, e.g. 64 for the benchmark."""
        return cls(registers=bulk_registers(count), **kwargs)

    # ----- knobs -------------------------------------------------------------

    def fail_next_requests(self, count: int, status: int = 500) -> None:
        """Answer the next ``count`` requests with ``status``."""
        self.fail_count, self.fail_status = count, status

    def rate_limit_next(self, count: int = 1, retry_after: str | float = 30) -> None:
        """Answer the next ``count`` requests 429 with ``Retry-After: retry_after``.

        Text is sent exactly as given, so tests can send what no meter should
        ("315360000", "1e20", "inf", "-5", "soon").
        """
        self.rate_limits.extend([str(retry_after)] * count)

    def add_register(self, name: str, type_code: str = "P", base: float = 100.0) -> SimRegister:
        """Add a register after the existing ones (a new CT, or a meter inventing names)."""
        index = max((reg.idx for reg in self.registers), default=-1) + 1
        reg = SimRegister(name, type_code, base, idx=index, did=index)
        reg.begin(self.clock())
        self.registers.append(reg)
        return reg

    def override_next(self, path: str, status: int, body: Any) -> None:
        """Answer the next request to ``path`` with ``status`` and ``body`` (bytes go out raw)."""
        text = body.decode() if isinstance(body, bytes) else json.dumps(body)
        self.overrides[path] = (status, text)

    def revoke_all_tokens(self) -> None:
        """Forget every token, as a reboot does."""
        self._tokens.clear()

    def register(self, name: str) -> SimRegister:
        """The register called ``name`` (KeyError if there is none)."""
        return next(reg for reg in self.registers if reg.name == name)

    def set_rate(self, name: str, rate: float) -> None:
        """Hold a register at a constant rate from now on."""
        self.set_curve(name, rate)

    def set_curve(
        self, name: str, base: float, amplitude: float = 0.0, period: float | None = None
    ) -> None:
        """Let a register's rate follow ``base + amplitude * sin(...)`` from now on."""
        now = self.clock()
        reg = self.register(name)
        counter = reg.counter_at(now)
        reg.base, reg.amplitude = base, amplitude
        if period is not None:
            reg.period = period
        reg.begin(now, counter)

    def set_counter(self, name: str, counter: int) -> None:
        """Set a register's raw counter."""
        self.register(name).begin(self.clock(), float(counter))

    def set_type(self, name: str, type_code: str) -> None:
        """Change a register's type code; its counter keeps its raw value."""
        now = self.clock()
        reg = self.register(name)
        counter = reg.counter_at(now)
        reg.type_code = type_code
        reg.begin(now, counter)

    def remove_register(self, name: str) -> None:
        """Delete a register; the remaining ones keep their indices."""
        self.registers.remove(self.register(name))

    def rate_of(self, name: str) -> float:
        """The rate the meter reports now."""
        return self.register(name).rate(self.clock())

    def counter_of(self, name: str) -> int:
        """The raw counter the meter reports now."""
        return self.counter_at(self.register(name), self.clock())

    def counter_at(self, reg: SimRegister, t: float) -> int:
        """The raw counter at time ``t``, exactly as a history row at ``t`` carries it."""
        return reg.counters([t])[0]

    # ----- auth --------------------------------------------------------------

    def _new_nonce(self) -> str:
        nonce = secrets.token_hex(16)
        self._nonces[nonce] = self.clock()
        return nonce

    def _challenge(self, error: str = "Authentication required.") -> web.Response:
        body = {"rlm": REALM, "nnc": self._new_nonce(), "error": error}
        return web.json_response(body, status=401)

    def _user_of(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        token = self._tokens.get(header[len("Bearer ") :])
        if token is None or token.expires <= self.clock():
            return None
        return token.user

    async def _login(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.json_response({"error": "Bad Request"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "Bad Request"}, status=400)
        nonce, usr = str(body.get("nnc")), str(body.get("usr"))
        issued = self._nonces.get(nonce)
        if issued is None:
            return web.json_response({"error": "Invalid server nonce."})
        if self.expire_next_nonces > 0 or self.clock() - issued > self.nonce_lifetime:
            self.expire_next_nonces = max(0, self.expire_next_nonces - 1)
            self._nonces.pop(nonce, None)
            return web.json_response({"error": NONCE_EXPIRED})
        user = self.users.get(usr)
        cnonce = body.get("cnnc")
        if user is None or body.get("rlm") != REALM or not isinstance(cnonce, str):
            return web.json_response({"error": "Authentication failed."})
        expected = _md5(f"{_md5(f'{usr}:{REALM}:{user.password}')}:{nonce}:{cnonce}")
        if not secrets.compare_digest(expected, str(body.get("hash"))):
            return web.json_response({"error": "Authentication failed."})
        token = ".".join(secrets.token_urlsafe(n) for n in (12, 32, 24))
        self._tokens[token] = _Token(usr, self.clock() + self.token_lifetime)
        self.issued_tokens.append(token)
        return web.json_response({"jwt": token})

    async def _unauthorized(self, request: web.Request) -> web.Response:
        if self._user_of(request) is None:
            return self._challenge()
        return web.json_response({"status": "You are logged in."})

    async def _logout(self, request: web.Request) -> web.Response:
        token = request.headers.get("Authorization", "")[len("Bearer ") :]
        self._tokens.pop(token, None)
        return web.json_response({"status": "OK"})

    async def _rights(self, request: web.Request) -> web.Response:
        usr = request["usr"]
        return web.json_response({"usr": usr, "rights": list(self.users[usr].rights)})

    # ----- resources ---------------------------------------------------------

    def _result(
        self, value: Callable[[], str | None]
    ) -> Callable[[web.Request], Awaitable[web.Response]]:
        async def handler(_request: web.Request) -> web.Response:
            result = value()
            if result is None:
                return web.json_response({"error": "Not found."}, status=404)
            return web.json_response({"result": result})

        return handler

    async def _hostname(self, request: web.Request) -> web.Response:
        if not self.users[request["usr"]].view_settings:
            return web.json_response({"error": "Forbidden."}, status=403)
        return web.json_response({"result": self.hostname})

    def _select(self, spec: str) -> list[SimRegister] | None:
        """Apply a ``reg`` selection such as ``none+3+7`` or ``all-0:7``."""
        chosen: set[int] = set()
        by_idx = {reg.idx for reg in self.registers}
        for sign, item in _RANGE.findall(spec):
            if item == "all":
                ids = by_idx
            elif item == "none":
                ids = set()
            else:
                bounds = item.split(":")
                if not all(part.isdigit() for part in bounds) or len(bounds) > 2:
                    return None
                lo, hi = int(bounds[0]), int(bounds[-1])
                ids = {i for i in by_idx if lo <= i <= hi}
            if sign == "+":
                chosen |= ids
            elif sign == "-":
                chosen -= ids
            else:
                chosen = set(ids)
        return [reg for reg in self.registers if reg.idx in chosen]

    def _time_point(self, text: str, now: float) -> float | None:
        match = _TIME.match(text)
        if not match or (match.group(1) is None and match.group(2) is None):
            return None
        point = now if match.group(1) in (None, "now") else float(match.group(1))
        if match.group(2):
            offset = float(match.group(3))
            point += offset if match.group(2) == "+" else -offset
        return point

    def _time_ranges(self, spec: str, now: float) -> list[tuple[float, float, int]] | None:
        """``(newest ts, step, row count)`` per comma-separated time range."""
        ranges: list[tuple[float, float, int]] = []
        for part in spec.split(","):
            fields = part.split(":")
            edges = [fields[0], fields[-1]] if len(fields) == 3 else fields
            points = [self._time_point(edge, now) for edge in edges]
            if len(fields) not in (1, 3) or any(p is None for p in points):
                return None
            if len(fields) == 1:
                point = min(points[0] or 0.0, now)
                ranges.append((point, 1.0, self._rows_back_to(point, 1.0, point)))
                continue
            start, end = (p or 0.0 for p in points)
            try:
                step = float(fields[1])
            except ValueError:
                return None
            if not step > 0:
                return None
            end = min(end, now)
            ranges.append((end, step, min(self._rows_back_to(start, step, end), MAX_ROWS)))
        return ranges

    def _rows_back_to(self, start: float, step: float, end: float) -> int:
        """How many rows from ``end`` back to ``start`` the database holds.

        eGauge's reference does not say what a range reaching before the database's
        oldest row returns; a round-robin database simply has no such rows, so they
        are left out: the range keeps its ``ts`` and gets fewer (or no) rows.
        """
        if self.history_start is not None:
            start = max(start, self.history_start)
        return math.floor((end - start) / step) + 1 if end >= start else 0

    async def _register(self, request: web.Request) -> web.Response:
        if not self.users[request["usr"]].view_data:
            return web.json_response({"error": "Forbidden."}, status=403)
        now = self.clock()
        query = _raw_query(request.raw_path.partition("?")[2])
        selected = self._select(query.get("reg", "all"))
        if selected is None:
            return web.json_response({"error": "Invalid reg parameter."}, status=400)
        body: dict[str, Any] = {"ts": f"{now:.9f}", "registers": []}
        for reg in selected:
            entry: dict[str, Any] = {
                "name": reg.name,
                "type": reg.type_code,
                "idx": reg.idx,
                "did": reg.did,
            }
            if "rate" in query:
                entry["rate"] = reg.rate(now)
            body["registers"].append(entry)
        if "time" in query:
            ranges = self._time_ranges(query["time"], now)
            if ranges is None:
                return web.json_response({"error": "Invalid time parameter."}, status=400)
            body["ranges"] = [self._range(selected, *r, delta="delta" in query) for r in ranges]
        if self.register_body_hook is not None:
            body = self.register_body_hook(body)
        return web.json_response(body)

    def _range(
        self, regs: Sequence[SimRegister], ts: float, step: float, count: int, *, delta: bool
    ) -> dict[str, Any]:
        times = [ts - i * step for i in range(count)]
        columns = [reg.counters(times) for reg in regs]
        rows = [list(row) for row in zip(*columns, strict=True)] if columns else [[]] * count
        if delta:
            rows = rows[:1] + [
                [cur - prev for cur, prev in zip(row, rows[i], strict=True)]
                for i, row in enumerate(rows[1:])
            ]
        return {
            "ts": f"{ts:.9f}",
            "delta": step,
            "rows": [[str(value) for value in row] for row in rows],
        }

    # ----- app ---------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        self.requests_by_path[request.path] += 1
        if request.path == "/api/register":
            self.register_queries.append(request.query_string)
        if self.fail_count > 0:
            self.fail_count -= 1
            return web.json_response({"error": "Simulated failure."}, status=self.fail_status)
        if self.rate_limits:
            return web.json_response(
                {"error": "Too many requests."},
                status=429,
                headers={"Retry-After": self.rate_limits.pop(0)},
            )
        if (override := self.overrides.pop(request.path, None)) is not None:
            return web.Response(
                status=override[0], text=override[1], content_type="application/json"
            )
        if self.malformed_next > 0 and self.malformed_path in (None, request.path):
            self.malformed_next -= 1
            return web.Response(text='{"result": ', content_type="application/json")
        if request.path not in ("/api/auth/login", "/api/auth/unauthorized"):
            usr = self._user_of(request)
            if usr is None:
                return self._challenge()
            request["usr"] = usr
        return await handler(request)

    def make_app(self) -> web.Application:
        """Build the aiohttp application serving this meter."""
        app = web.Application(middlewares=[self._middleware])
        routes = app.router
        routes.add_get("/api/auth/unauthorized", self._unauthorized)
        routes.add_post("/api/auth/login", self._login)
        routes.add_get("/api/auth/logout", self._logout)
        routes.add_get("/api/auth/rights", self._rights)
        routes.add_get("/api/sys/sn", self._result(lambda: self.serial))
        routes.add_get("/api/sys/model", self._result(lambda: self.model))
        routes.add_get("/api/sys/version/firmware", self._result(lambda: self.firmware))
        routes.add_get("/api/config/net/hostname", self._hostname)
        routes.add_get("/api/register", self._register)
        return app


def main() -> None:
    parser = argparse.ArgumentParser(description="Simulated eGauge meter WebAPI")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--registers", type=int, help="N generic registers instead of the demo")
    parser.add_argument("--power-registers", type=int, help="N power registers instead")
    parser.add_argument("--serial", help="the meter's serial number")
    parser.add_argument(
        "--history-days", type=float, help="history starts this many days ago (default: no limit)"
    )
    args = parser.parse_args()
    sim = (
        EgaugeSimulator.with_registers(args.registers)
        if args.registers
        else EgaugeSimulator(registers=power_registers(args.power_registers))
        if args.power_registers
        else EgaugeSimulator()
    )
    if args.serial:
        sim.serial = args.serial
    if args.history_days is not None:
        sim.history_start = sim.clock() - args.history_days * 86_400
    print(f"eGauge simulator at http://{args.host}:{args.port} (owner/secret)")
    print(json.dumps({"serial": sim.serial, "registers": len(sim.registers)}))
    web.run_app(sim.make_app(), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
