"""A simulated Enapter HTTP API v3: the cloud layout (``/v3/...``) and a gateway layout
(``/api/v3/...``) served from one app.

Wire shapes follow Enapter's reference pages and its Python SDK (``enapter`` 0.25):
``{"sites": [...]}`` / ``{"site": {...}}``, ``{"devices": [...]}`` pages until an
empty one, ``{"telemetry": {id: {attr: {"timestamp", "value"}}}}`` and
``{"execution": {"id", "device_id", "state", "created_at", "request", "response"}}``;
errors are ``{"errors": [{"code", "message", "details"}]}``.

Start it with ``python -m simulators.enapter --port 8765``; use the token it prints,
``http://127.0.0.1:8765`` as a cloud URL or ``http://127.0.0.1:8765/api`` as a gateway.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
import contextlib
import copy
from dataclasses import dataclass, field
from datetime import UTC, datetime
import itertools
import math
import random
import re
import time
from typing import Any
import uuid

from aiohttp import web

from .enapter_history import history_for

TOKEN = "enapter-sim-token-0123456789abcdef"
EXPIRED_TOKEN = "enapter-sim-token-expired"
_NS = uuid.UUID("6f1c1d38-31b5-4a0d-9a5e-8f5f3c2b9e10")
_DEVICE_KEY = re.compile(r"^devices\[(.+)\]$")
_INTERVAL = re.compile(r"^(\d+)(s|m|h)?$")
# Values a user sets or a physical law fixes do not wander.
_SETPOINTS = frozenset({"production_rate", "power_factor", "voltage", "soc"})
# Energy meters count up, never down: they only grow between polls.
_COUNTERS = frozenset({"import_energy", "export_energy"})
# Roles from least to most privileged (a command's access_level, a device's authorized_role).
_ROLES = ("readonly", "user", "owner", "installer", "vendor", "system")


def _uid(name: str) -> str:
    return str(uuid.uuid5(_NS, name))


def _now_iso() -> str:
    return datetime.now(UTC).isoformat()


def _enum_map(**items: tuple[str, str]) -> dict[str, dict[str, str]]:
    return {key: {"display_name": label, "color": color} for key, (label, color) in items.items()}


def _attr(
    display_name: str, type_: str, unit: str | None = None, enum: Any = None
) -> dict[str, Any]:
    entry: dict[str, Any] = {"display_name": display_name, "type": type_}
    if unit:
        entry["unit"] = unit
    if enum is not None:
        entry["enum"] = enum
    return entry


_DEVICE_PROPERTIES = {
    "vendor": _attr("Vendor", "string"),
    "model": _attr("Model", "string"),
    "serial_number": _attr("Serial Number", "string"),
    "firmware_version": _attr("Firmware Version", "string"),
}

ELECTROLYSER_MANIFEST: dict[str, Any] = {
    "blueprint_spec": "device/3.0",
    "display_name": "Enapter Electrolyser EL 2.1",
    "description": "AEM electrolyser producing up to 500 NL/h of hydrogen at 35 bar",
    "icon": "enapter-electrolyser",
    "category": "electrolysers",
    "properties": _DEVICE_PROPERTIES,
    "telemetry": {
        "status": _attr(
            "Status",
            "string",
            enum=_enum_map(
                idle=("Idle", "blue-light"),
                ramp_up=("Ramp Up", "green-lighter"),
                steady=("Steady", "green"),
                ramp_down=("Ramp Down", "green-dark"),
                standby=("Stand-by (max pressure)", "cyan"),
                maintenance=("Maintenance", "yellow"),
                error=("Error", "red"),
            ),
        ),
        "h2_flow_rate": _attr("H2 Production Flow", "float", "Nl/h"),
        "stack_temperature": _attr("Stack Temperature", "float", "Cel"),
        "h2_outlet_pressure": _attr("H2 Outlet Pressure", "float", "bar"),
        "power": _attr("Power Consumption", "float", "W"),
        "production_rate": _attr("Production Rate", "float", "%"),
        "operating_mode": _attr(
            "Operating Mode",
            "string",
            enum={
                "eco": {"display_name": "Eco"},
                "max_production": {"display_name": "Maximum Production"},
                "follow_grid": {"display_name": "Follow Grid Signal"},
            },
        ),
        "electrolyte_level": _attr(
            "Electrolyte Level", "string", enum=["empty", "low", "medium", "high"]
        ),
        "has_error": _attr("Has Error", "boolean"),
        "uptime": _attr("Uptime", "integer", "s"),
        "alerts": _attr("Active Alerts", "array_of_strings"),
    },
    "command_groups": {
        "electrolyser": {"display_name": "Electrolyser"},
        "maintenance": {"display_name": "Maintenance"},
    },
    "commands": {
        "start": {"display_name": "Start Production", "group": "electrolyser"},
        "stop": {"display_name": "Stop Production", "group": "electrolyser"},
        "reset_errors": {"display_name": "Reset Errors", "group": "maintenance"},
        "set_production_rate": {
            "display_name": "Set Production Rate",
            "group": "electrolyser",
            "arguments": {
                "rate": {
                    "display_name": "Rate",
                    "type": "float",
                    "required": True,
                    "min": 60,
                    "max": 100,
                    "unit": "%",
                }
            },
        },
        "set_operating_mode": {
            "display_name": "Set Operating Mode",
            "group": "electrolyser",
            "arguments": {
                "mode": {
                    "display_name": "Mode",
                    "type": "string",
                    "required": True,
                    "enum": {
                        "eco": {"display_name": "Eco"},
                        "max_production": {"display_name": "Maximum Production"},
                        "follow_grid": {"display_name": "Follow Grid Signal"},
                    },
                }
            },
        },
        "set_ramp_rates": {
            "display_name": "Set Ramp Rates",
            "group": "electrolyser",
            "access_level": "owner",
            "arguments": {
                "ramp_up": {
                    "display_name": "Ramp Up",
                    "type": "float",
                    "required": True,
                    "min": 1,
                    "max": 20,
                    "unit": "%/min",
                },
                "ramp_down": {
                    "display_name": "Ramp Down",
                    "type": "float",
                    "required": True,
                    "min": 1,
                    "max": 50,
                    "unit": "%/min",
                },
                "hold_pressure": {"display_name": "Hold Pressure", "type": "boolean"},
            },
        },
        "set_label": {
            "display_name": "Set Label",
            "group": "maintenance",
            "arguments": {"label": {"display_name": "Label", "type": "string", "required": True}},
        },
        "calibrate_sensors": {
            "display_name": "Calibrate Sensors",
            "group": "maintenance",
            "access_level": "installer",
        },
        "factory_reset": {
            "display_name": "Factory Reset",
            "group": "maintenance",
            "access_level": "vendor",
            "confirmation": {"severity": "warning", "title": "Reset to factory settings?"},
        },
    },
    "alerts": {
        "low_electrolyte": {"display_name": "Low Electrolyte Level", "severity": "warning"},
        "stack_overheat": {"display_name": "Stack Overheat", "severity": "error"},
    },
}

BATTERY_MANIFEST: dict[str, Any] = {
    "blueprint_spec": "device/3.0",
    "display_name": "Pylontech US2000 BMS",
    "description": "Lithium iron phosphate battery pack monitored over CAN",
    "icon": "enapter-battery-storage",
    "category": "battery-systems",
    "properties": _DEVICE_PROPERTIES,
    "telemetry": {
        "status": _attr(
            "Status",
            "string",
            enum=_enum_map(
                idle=("Idle", "blue-light"),
                charging=("Charging", "green"),
                discharging=("Discharging", "yellow"),
                fault=("Fault", "red"),
            ),
        ),
        "charging": _attr("Charging Enabled", "boolean"),
        "power": _attr("Battery Power", "float", "W"),
        "remaining_energy": _attr("Remaining Energy", "float", "kWh"),
        "soc": _attr("State of Charge", "float", "%"),
        "voltage": _attr("Battery Voltage", "float", "V"),
        "current": _attr("Battery Current", "float", "A"),
        "temperature": _attr("Cell Temperature", "float", "Cel"),
        "capacity": _attr("Remaining Capacity", "float", "Ah"),
        "cycles": _attr("Charge Cycles", "integer"),
    },
    "command_groups": {"battery": {"display_name": "Battery"}},
    "commands": {
        "enable_charging": {"display_name": "Enable Charging", "group": "battery"},
        "disable_charging": {"display_name": "Disable Charging", "group": "battery"},
        "set_charge_limit": {
            "display_name": "Set Charge Limit",
            "group": "battery",
            "access_level": "owner",
            "arguments": {
                "limit": {
                    "display_name": "Limit",
                    "type": "integer",
                    "required": True,
                    "min": 50,
                    "max": 100,
                    "unit": "%",
                }
            },
        },
    },
}

METER_MANIFEST: dict[str, Any] = {
    "blueprint_spec": "device/3.0",
    "display_name": "Eastron SDM630 Power Meter",
    "description": "Three-phase energy meter read over Modbus RTU",
    "icon": "enapter-power-meter",
    "category": "power-meters",
    "properties": _DEVICE_PROPERTIES,
    "telemetry": {
        "total_power": _attr("Total Active Power", "float", "W"),
        "reactive_power": _attr("Total Reactive Power", "float", "VAR"),
        "apparent_power": _attr("Total Apparent Power", "float", "VA"),
        "voltage_l1": _attr("Voltage L1", "float", "V"),
        "current_l1": _attr("Current L1", "float", "A"),
        "frequency": _attr("Frequency", "float", "Hz"),
        "power_factor": _attr("Power Factor", "float"),
        "import_energy": _attr("Imported Energy", "float", "kWh"),
        "export_energy": _attr("Exported Energy", "float", "kWh"),
    },
    "commands": {},
}

GATEWAY_MANIFEST: dict[str, Any] = {
    "blueprint_spec": "device/3.0",
    "display_name": "Enapter Gateway",
    "description": "Runs Lua devices and connects the site to Enapter Cloud",
    "icon": "enapter-gateway",
    "properties": {
        "version": _attr("Gateway Version", "string"),
        "hostname": _attr("Hostname", "string"),
    },
    "telemetry": {
        "cpu_load": _attr("CPU Load", "float", "%"),
        "memory_usage": _attr("Memory Usage", "float", "%"),
        "disk_usage": _attr("Disk Usage", "float", "%"),
        "uptime": _attr("Uptime", "integer", "s"),
    },
    "commands": {},
}


@dataclass
class SimSite:
    """A simulated site."""

    id: str
    name: str
    timezone: str = "Europe/Berlin"
    location: dict[str, Any] | None = None

    def to_dto(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "timezone": self.timezone,
            "version": "V3",
            "authorized_role": "INSTALLER",
            "location": self.location,
        }


@dataclass
class SimDevice:
    """A simulated device: its record, manifest and latest telemetry ``attr -> (ts, value)``."""

    id: str
    name: str
    site_id: str
    kind: str
    manifest: dict[str, Any]
    properties: dict[str, Any]
    type: str = "LUA"
    slug: str = ""
    blueprint_id: str = ""
    online: bool = True
    # The token's role on the device: commands whose access_level is above it get 403.
    authorized_role: str = "INSTALLER"
    telemetry: dict[str, tuple[int | None, Any]] = field(default_factory=dict)
    # What commands set that no telemetry reports (a charge limit, ramp rates).
    settings: dict[str, Any] = field(default_factory=dict)
    updated_at: str = field(default_factory=_now_iso)

    def to_dto(self, expand: set[str]) -> dict[str, Any]:
        dto: dict[str, Any] = {
            "id": self.id,
            "blueprint_id": self.blueprint_id,
            "name": self.name,
            "site_id": self.site_id,
            "updated_at": self.updated_at,
            "slug": self.slug,
            "type": self.type,
            "authorized_role": self.authorized_role,
        }
        if "manifest" in expand:
            dto["manifest"] = copy.deepcopy(self.manifest)
        if "properties" in expand:
            dto["properties"] = dict(self.properties)
        if "connectivity" in expand:
            dto["connectivity"] = {"status": "ONLINE" if self.online else "OFFLINE"}
        return dto


@dataclass
class SimRequest:
    """What the simulator saw of one request (for assertions)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]


def _error(status: int, code: str, message: str, **details: Any) -> web.Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if details:
        error["details"] = details
    return web.json_response({"errors": [error]}, status=status)


class EnapterSimulator:
    """State and knobs of the simulated Enapter API."""

    def __init__(
        self,
        *,
        page_size: int = 50,
        seed: int = 1,
        with_demo_devices: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.page_size = page_size
        self.valid_tokens: set[str] = {TOKEN}
        self.expired_tokens: set[str] = {EXPIRED_TOKEN}
        self.require_allow_http = True
        self.max_url_length: int | None = None
        self.sites: dict[str, SimSite] = {}
        self.devices: dict[str, SimDevice] = {}
        self.gateway_site_id: str | None = None
        self.requests_by_path: Counter[str] = Counter()
        self.requests: list[SimRequest] = []
        self.executions: list[dict[str, Any]] = []
        self.command_outcome: str | int | None = None
        self.command_error_message = "Stack pressure too high"
        # How a command above the token's role is refused: "role" names the permission,
        # "token" answers exactly like an invalid token (Enapter documents 403 as that).
        self.role_refusal = "role"
        self._fail: list[int] = []
        self._fail_after = 0
        self._rate_limit: list[str] = []
        self._clock = clock
        self._rng = random.Random(seed)
        self._counter = itertools.count(1)
        if with_demo_devices:
            self._build_demo()

    # -- building -----------------------------------------------------------

    def add_site(self, name: str, *, site_id: str | None = None) -> SimSite:
        site = SimSite(id=site_id or _uid(f"site:{name}"), name=name)
        self.sites[site.id] = site
        if self.gateway_site_id is None:
            self.gateway_site_id = site.id
        return site

    def add_device(
        self,
        kind: str,
        site_id: str,
        *,
        name: str | None = None,
        device_id: str | None = None,
        manifest: dict[str, Any] | None = None,
        online: bool = True,
    ) -> SimDevice:
        """Add an electrolyser|battery|meter|gateway, or any kind given a ``manifest``."""
        manifests = {
            "electrolyser": (ELECTROLYSER_MANIFEST, "NATIVE", "Enapter", "EL 2.1"),
            "battery": (BATTERY_MANIFEST, "LUA", "Pylontech", "US2000"),
            "meter": (METER_MANIFEST, "LUA", "Eastron", "SDM630"),
            "gateway": (GATEWAY_MANIFEST, "GATEWAY", "Enapter", "Gateway"),
        }
        base, dev_type, vendor, model = manifests.get(kind, (manifest or {}, "LUA", "Sim", kind))
        number = next(self._counter)
        device_id = device_id or _uid(f"device:{kind}:{number}:{name}")
        if kind == "gateway":
            properties: dict[str, Any] = {"version": "3.2.1", "hostname": "enapter-gateway"}
        else:
            properties = {
                "vendor": vendor,
                "model": model,
                "serial_number": f"SN{number:06d}",
                "firmware_version": "1.4.2",
            }
        device = SimDevice(
            id=device_id,
            name=name or f"{vendor} {model}",
            site_id=site_id,
            kind=kind,
            manifest=copy.deepcopy(manifest or base),
            properties=properties,
            type=dev_type,
            slug=f"{kind}-{number}",
            blueprint_id=_uid(f"blueprint:{kind}"),
            online=online,
        )
        self.devices[device.id] = device
        self._initial_telemetry(device)
        return device

    def remove_device(self, device_id: str) -> None:
        self.devices.pop(device_id, None)

    def _build_demo(self) -> None:
        lab = self.add_site("Hydrogen Lab")
        warehouse = self.add_site("Warehouse")
        self.gateway = self.add_device("gateway", lab.id, name="Enapter Gateway")
        self.electrolyser = self.add_device("electrolyser", lab.id, name="Electrolyser EL 2.1")
        self.battery = self.add_device("battery", lab.id, name="Battery Rack")
        self.meter = self.add_device("meter", lab.id, name="Grid Meter")
        self.warehouse_meter = self.add_device("meter", warehouse.id, name="Warehouse Meter")

    @classmethod
    def bulk(cls, devices: int = 20, attributes: int = 30, **kwargs: Any) -> EnapterSimulator:
        """A simulator with one site of ``devices`` devices x ``attributes`` float telemetry."""
        sim = cls(with_demo_devices=False, **kwargs)
        site = sim.add_site("Bulk Site")
        units = ["W", "V", "A", "Cel", "%", "kWh", "Hz", "bar"]
        manifest = {
            "blueprint_spec": "device/3.0",
            "display_name": "Bulk Sensor",
            "telemetry": {
                f"attr_{i:03d}": _attr(f"Attribute {i}", "float", units[i % len(units)])
                for i in range(attributes)
            },
            "commands": {},
        }
        for i in range(devices):
            sim.add_device("bulk", site.id, name=f"Bulk Device {i:03d}", manifest=manifest)
        return sim

    # -- telemetry ----------------------------------------------------------

    def _initial_telemetry(self, device: SimDevice) -> None:
        now = int(self._clock())
        values: dict[str, Any]
        if device.kind == "electrolyser":
            values = {
                "status": "idle",
                "h2_flow_rate": 0.0,
                "stack_temperature": 24.0,
                "h2_outlet_pressure": 0.4,
                "power": 35.0,
                "production_rate": 100.0,
                "operating_mode": "eco",
                "electrolyte_level": "high",
                "has_error": False,
                "uptime": 3600,
                "alerts": [],
            }
        elif device.kind == "battery":
            values = {
                "status": "charging",
                "charging": True,
                "power": 1200.0,
                "remaining_energy": 3.1,
                "soc": 64.5,
                "voltage": 51.2,
                "current": 23.4,
                "temperature": 26.0,
                "capacity": 32.3,
                "cycles": 412,
            }
        elif device.kind == "meter":
            values = {
                "total_power": 2450.0,
                "reactive_power": 310.0,
                "apparent_power": 2470.0,
                "voltage_l1": 231.2,
                "current_l1": 3.6,
                "frequency": 50.0,
                "power_factor": 0.99,
                "import_energy": 15234.5,
                "export_energy": 102.25,
            }
        elif device.kind == "gateway":
            values = {"cpu_load": 12.0, "memory_usage": 41.0, "disk_usage": 23.0, "uptime": 86400}
        else:
            values = {
                name: round(self._rng.uniform(0, 100), 2)
                for name in device.manifest.get("telemetry", {})
            }
        device.telemetry = {name: (now, value) for name, value in values.items()}

    def set_value(self, device_id: str, attribute: str, value: Any) -> None:
        self.devices[device_id].telemetry[attribute] = (int(self._clock()), value)

    def drift(self) -> None:
        """Move every online device's values a little, as real devices do between polls."""
        now = int(self._clock())
        for device in self.devices.values():
            if not device.online:
                continue  # an offline device stops reporting: its timestamps age
            values = {name: value for name, (_, value) in device.telemetry.items()}
            for name, value in values.items():
                if name in _SETPOINTS:
                    continue
                if name in _COUNTERS and isinstance(value, float):
                    values[name] = round(value + self._rng.uniform(0.0, 0.005), 3)
                elif isinstance(value, float):
                    values[name] = round(value * (1 + self._rng.uniform(-0.02, 0.02)), 3)
                elif isinstance(value, int) and not isinstance(value, bool) and name == "uptime":
                    values[name] = value + 3
            self._apply_physics(device, values)
            device.telemetry = {name: (now, value) for name, value in values.items()}

    def _apply_physics(self, device: SimDevice, values: dict[str, Any]) -> None:
        if device.kind == "electrolyser":
            running = values["status"] in ("steady", "ramp_up")
            rate = values.get("production_rate", 100.0) / 100
            if values["status"] == "ramp_up":
                values["status"] = "steady"
            values["h2_flow_rate"] = (
                round(500 * rate * self._rng.uniform(0.97, 1.0), 1) if running else 0.0
            )
            values["power"] = (
                round(2400 * rate * self._rng.uniform(0.97, 1.03), 1) if running else 35.0
            )
            target = 55.0 if running else 24.0
            values["stack_temperature"] = round(
                values["stack_temperature"] + (target - values["stack_temperature"]) * 0.3, 2
            )
            values["h2_outlet_pressure"] = round(
                min(35.0, values["h2_outlet_pressure"] + 4.0) if running else 0.4, 2
            )
        elif device.kind == "battery":
            charging = values["charging"] and values["soc"] < 100
            values["status"] = "charging" if charging else "discharging"
            values["power"] = round(abs(values["power"]), 1) * (1 if charging else -1)
            values["current"] = round(values["power"] / values["voltage"], 2)
            values["soc"] = round(
                min(100.0, max(0.0, values["soc"] + (0.1 if charging else -0.1))), 2
            )
            values["remaining_energy"] = round(4.8 * values["soc"] / 100, 3)
        elif device.kind == "meter":
            values["frequency"] = round(50 + 0.05 * math.sin(self._clock() / 30), 3)
            values["import_energy"] = round(
                values["import_energy"] + max(values["total_power"], 0) / 1200000, 4
            )

    # -- knobs --------------------------------------------------------------

    def fail_next(self, n: int = 1, status: int = 500, *, after: int = 0) -> None:
        """Answer ``n`` requests with ``status`` and an Enapter error body.

        ``after`` lets that many requests through first (to fail a later page).
        """
        self._fail.extend([status] * n)
        self._fail_after = after

    def rate_limit_next(self, n: int = 1, retry_after: float | str = 30) -> None:
        """Answer the next ``n`` requests with 429 and ``Retry-After``.

        A number is sent as whole seconds; text exactly as given, so tests can
        send what no server should ("315360000", "1e20", "inf", "-5", "soon").
        """
        header = retry_after if isinstance(retry_after, str) else str(int(retry_after))
        self._rate_limit.extend([header] * n)

    def set_offline(self, device_id: str, offline: bool = True) -> None:
        self.devices[device_id].online = not offline

    def expire_token(self, token: str = TOKEN) -> None:
        self.valid_tokens.discard(token)
        self.expired_tokens.add(token)

    def set_command_outcome(self, outcome: str | int | None, message: str | None = None) -> None:
        """Make commands end ERROR/TIMEOUT/UNSYNC/NEW/IN_PROGRESS or answer an HTTP status.

        None restores normal behaviour.
        """
        self.command_outcome = outcome
        if message is not None:
            self.command_error_message = message

    # -- HTTP ---------------------------------------------------------------

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Any]
    ) -> web.StreamResponse:
        path = request.path
        self.requests_by_path[path] = self.requests_by_path[path] + 1
        self.requests.append(
            SimRequest(request.method, path, dict(request.query), dict(request.headers))
        )
        if self._fail and self._fail_after > 0:
            self._fail_after -= 1
        elif self._fail:
            status = self._fail.pop(0)
            return _error(status, "internal_error", f"Simulated failure {status}.")
        if self._rate_limit:
            retry_after = self._rate_limit.pop(0)
            response = _error(429, "too_many_requests", "Too many requests, slow down.")
            response.headers["Retry-After"] = retry_after
            return response
        if self.max_url_length is not None and len(str(request.rel_url)) > self.max_url_length:
            return _error(414, "uri_too_long", "Request URI is too long.")
        token = request.headers.get("X-Enapter-Auth-Token")
        if not token:
            return _error(
                401,
                "missing_header",
                "Authentication token is missed.",
                header="X-Enapter-Auth-Token",
            )
        if token not in self.valid_tokens:
            message = (
                "Authentication token is expired."
                if token in self.expired_tokens
                else ("Authentication token is invalid.")
            )
            return _error(403, "invalid_header", message, header="X-Enapter-Auth-Token")
        if (
            self.require_allow_http
            and request.scheme == "http"
            and request.headers.get("X-Enapter-Allow-HTTP", "").lower() != "true"
        ):
            return _error(
                400,
                "insecure_connection",
                "Plain HTTP requires X-Enapter-Allow-HTTP: true.",
                header="X-Enapter-Allow-HTTP",
            )
        result: web.StreamResponse = await handler(request)
        return result

    @staticmethod
    def _is_gateway(request: web.Request) -> bool:
        return request.path.startswith("/api/")

    def _visible_sites(self, request: web.Request) -> list[SimSite]:
        if self._is_gateway(request):
            site = self.sites.get(self.gateway_site_id or "")
            return [site] if site else []
        return list(self.sites.values())

    def _visible_devices(self, request: web.Request) -> list[SimDevice]:
        site_ids = {site.id for site in self._visible_sites(request)}
        return [d for d in self.devices.values() if d.site_id in site_ids]

    def _page(self, request: web.Request, items: list[Any]) -> list[Any] | web.Response:
        try:
            offset = int(request.query.get("offset", "0"))
            limit = int(request.query.get("limit", str(self.page_size)))
        except ValueError:
            return _error(400, "invalid_query", "offset and limit must be integers.")
        if offset < 0 or limit < 0:
            return _error(400, "invalid_query", "offset and limit must not be negative.")
        return items[offset : offset + min(limit, self.page_size)]

    async def _list_sites(self, request: web.Request) -> web.Response:
        if self._is_gateway(request):
            return _error(404, "not_found", "Not found.")
        page = self._page(request, self._visible_sites(request))
        if isinstance(page, web.Response):
            return page
        return web.json_response({"sites": [site.to_dto() for site in page]})

    async def _get_current_site(self, request: web.Request) -> web.Response:
        if not self._is_gateway(request) or self.gateway_site_id not in self.sites:
            return _error(404, "not_found", "Not found.")
        return web.json_response({"site": self.sites[self.gateway_site_id].to_dto()})

    async def _get_site(self, request: web.Request) -> web.Response:
        site_id = request.match_info["site_id"]
        for site in self._visible_sites(request):
            if site.id == site_id:
                return web.json_response({"site": site.to_dto()})
        return _error(404, "not_found", "Site not found.", site_id=site_id)

    async def _list_devices(self, request: web.Request) -> web.Response:
        devices = self._visible_devices(request)
        site_id = request.match_info.get("site_id")
        if site_id is not None:
            if site_id not in {site.id for site in self._visible_sites(request)}:
                return _error(404, "not_found", "Site not found.", site_id=site_id)
            devices = [d for d in devices if d.site_id == site_id]
        page = self._page(request, devices)
        if isinstance(page, web.Response):
            return page
        expand = {e for e in request.query.get("expand", "").split(",") if e}
        return web.json_response({"devices": [d.to_dto(expand) for d in page]})

    def _find_device(self, request: web.Request) -> SimDevice | None:
        device_id = request.match_info["device_id"]
        for device in self._visible_devices(request):
            if device.id == device_id or device.slug == device_id:
                return device
        return None

    async def _get_device(self, request: web.Request) -> web.Response:
        device = self._find_device(request)
        if device is None:
            return _error(404, "not_found", "Device not found.")
        expand = {e for e in request.query.get("expand", "").split(",") if e}
        return web.json_response({"device": device.to_dto(expand)})

    async def _latest(self, request: web.Request) -> web.Response:
        relevance: int | None = None
        if "relevance_interval" in request.query:
            match = _INTERVAL.match(request.query["relevance_interval"])
            if not match:
                return _error(400, "invalid_query", "Invalid relevance_interval.")
            relevance = int(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2) or "s"]
        visible = {d.id: d for d in self._visible_devices(request)}
        by_slug = {d.slug: d for d in visible.values()}
        now = int(self._clock())
        telemetry: dict[str, dict[str, dict[str, Any]]] = {}
        for key, value in request.query.items():
            match = _DEVICE_KEY.match(key)
            if not match:
                continue
            device_key = match.group(1)
            device = visible.get(device_key) or by_slug.get(device_key)
            points = telemetry.setdefault(device_key, {})
            for attribute in (a for a in value.split(",") if a):
                stamp, current = (None, None)
                if device is not None:
                    stamp, current = device.telemetry.get(attribute, (None, None))
                # Only numbers age: a test may plant any JSON as a hostile server would.
                if (
                    isinstance(stamp, (int, float))
                    and relevance is not None
                    and now - stamp > relevance
                ):
                    stamp, current = None, None
                points[attribute] = {"timestamp": stamp, "value": current}
        return web.json_response({"telemetry": telemetry})

    async def _execute_command(self, request: web.Request) -> web.Response:
        device = self._find_device(request)
        if device is None:
            return _error(404, "not_found", "Device not found.")
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "invalid_body", "Request body is not JSON.")
        name = body.get("name") if isinstance(body, dict) else None
        arguments = body.get("arguments", {}) if isinstance(body, dict) else None
        if not isinstance(name, str) or not isinstance(arguments, dict):
            return _error(400, "invalid_body", 'Body must be {"name": str, "arguments": {}}.')
        spec = device.manifest.get("commands", {}).get(name)
        if spec is None:
            return _error(
                422, "unknown_command", f"Command {name!r} is not declared in the manifest."
            )
        for arg_name, arg_spec in spec.get("arguments", {}).items():
            if arg_spec.get("required") and arg_name not in arguments:
                return _error(
                    400,
                    "invalid_arguments",
                    f"Argument {arg_name!r} is required.",
                    argument=arg_name,
                )
        needed = str(spec.get("access_level", "user")).lower()
        role = device.authorized_role.lower().replace("_", "")
        if needed in _ROLES and role in _ROLES and _ROLES.index(role) < _ROLES.index(needed):
            if self.role_refusal == "token":
                return _error(
                    403,
                    "invalid_header",
                    "Authentication token is invalid.",
                    header="X-Enapter-Auth-Token",
                )
            return _error(
                403,
                "forbidden",
                f"Access level {needed} is required to execute {name}.",
                required_access_level=needed,
            )
        outcome = self.command_outcome
        if isinstance(outcome, int):
            return _error(outcome, "command_failed", f"Simulated HTTP {outcome} for {name}.")
        if outcome is None and not device.online:
            outcome = "TIMEOUT"
        state = outcome or "SUCCESS"
        response: dict[str, Any] | None = None
        if state == "SUCCESS":
            payload = self._run_command(device, name, arguments)
            response = {"state": "SUCCEEDED", "payload": payload, "received_at": _now_iso()}
        elif state == "ERROR":
            response = {
                "state": "ERROR",
                "payload": {"message": self.command_error_message},
                "received_at": _now_iso(),
            }
        elif state == "IN_PROGRESS":
            response = {"state": "STARTED", "payload": {}, "received_at": _now_iso()}
        execution = {
            "id": str(uuid.uuid4()),
            "device_id": device.id,
            "state": state,
            "created_at": _now_iso(),
            "request": {"name": name, "arguments": arguments, "manifest_name": name},
            "response": response,
            "log": None,
        }
        self.executions.append(execution)
        return web.json_response({"execution": execution})

    def _run_command(
        self, device: SimDevice, name: str, arguments: dict[str, Any]
    ) -> dict[str, Any]:
        values = {attr: value for attr, (_, value) in device.telemetry.items()}
        if device.kind == "electrolyser":
            if name == "start":
                values["status"] = "steady"
            elif name == "stop":
                values["status"] = "idle"
            elif name == "reset_errors":
                values["has_error"] = False
                if values["status"] == "error":
                    values["status"] = "idle"
            elif name == "set_production_rate":
                values["production_rate"] = float(arguments["rate"])
            elif name == "set_operating_mode":
                values["operating_mode"] = arguments["mode"]
            elif name in ("set_ramp_rates", "set_label"):
                device.settings.update(arguments)
        elif device.kind == "battery":
            if name == "enable_charging":
                values["charging"] = True
                values["status"] = "charging"
            elif name == "disable_charging":
                values["charging"] = False
                values["status"] = "discharging" if values["power"] else "idle"
            elif name == "set_charge_limit":
                device.settings["limit"] = arguments["limit"]
        now = int(self._clock())
        for attr, value in values.items():
            if device.telemetry.get(attr, (None, None))[1] != value:
                device.telemetry[attr] = (now, value)
        return {}

    async def _get_execution(self, request: web.Request) -> web.Response:
        device = self._find_device(request)
        execution_id = request.match_info["execution_id"]
        for execution in self.executions:
            if device is not None and (execution["id"], execution["device_id"]) == (
                execution_id,
                device.id,
            ):
                return web.json_response({"execution": execution})
        return _error(404, "not_found", "Command execution not found.")

    async def _drift_loop(self, interval: float) -> None:
        while True:
            await asyncio.sleep(interval)
            self.drift()

    def make_app(self, drift_interval: float | None = None) -> web.Application:
        """Build the app; with ``drift_interval`` values drift in the background every N seconds."""
        app = web.Application(middlewares=[self._middleware])
        for prefix in ("", "/api"):
            app.router.add_get(f"{prefix}/v3/sites", self._list_sites)
            app.router.add_get(f"{prefix}/v3/site", self._get_current_site)
            app.router.add_get(f"{prefix}/v3/sites/{{site_id}}", self._get_site)
            app.router.add_get(f"{prefix}/v3/sites/{{site_id}}/devices", self._list_devices)
            app.router.add_get(f"{prefix}/v3/devices", self._list_devices)
            app.router.add_get(f"{prefix}/v3/devices/{{device_id}}", self._get_device)
            app.router.add_get(f"{prefix}/v3/telemetry/latest", self._latest)
            app.router.add_post(f"{prefix}/v3/telemetry/query_timeseries", history_for(self).handle)
            app.router.add_post(
                f"{prefix}/v3/devices/{{device_id}}/execute_command", self._execute_command
            )
            app.router.add_get(
                f"{prefix}/v3/devices/{{device_id}}/command_executions/{{execution_id}}",
                self._get_execution,
            )
        if drift_interval:

            async def drifting(_app: web.Application) -> AsyncIterator[None]:
                task = asyncio.create_task(self._drift_loop(drift_interval))
                yield
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

            app.cleanup_ctx.append(drifting)
        return app


def main() -> None:
    parser = argparse.ArgumentParser(description="Simulated Enapter HTTP API v3")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--page-size", type=int, default=50)
    parser.add_argument("--drift", type=float, default=3.0, help="seconds between value changes")
    parser.add_argument(
        "--bulk", metavar="NxM", help="N devices x M attributes instead of the demo"
    )
    args = parser.parse_args()
    if args.bulk:
        n, m = (int(part) for part in args.bulk.lower().split("x"))
        sim = EnapterSimulator.bulk(n, m, page_size=args.page_size)
    else:
        sim = EnapterSimulator(page_size=args.page_size)
    print(f"Enapter simulator: token {TOKEN}")
    print(f"  cloud:   http://{args.host}:{args.port}")
    print(f"  gateway: http://{args.host}:{args.port}/api")
    web.run_app(sim.make_app(drift_interval=args.drift), host=args.host, port=args.port)


if __name__ == "__main__":
    main()
