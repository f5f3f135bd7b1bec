"""Polling an Enapter site: one latest-telemetry request per poll, the device list hourly."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceEntry, DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.util import dt as dt_util

from ..api.enapter import EnapterClient, EnapterDevice, EnapterSite, TelemetryPoint
from ..compat import via_device
from ..const import DOMAIN, LOGGER
from ..coordinator import IotBridgeCoordinator
from ..errors import command_errors
from ..vendor import IotBridgeConfigEntry
from .entities import DeviceEntities, DeviceState, device_entities, typed_value

POLL_INTERVAL = timedelta(seconds=30)
# Devices, manifests and connectivity change rarely: list them at set-up and then hourly.
DEVICE_LIST_INTERVAL = timedelta(hours=1)
# When telemetry contradicts a device's connectivity (an ONLINE device whose values all went
# stale, an OFFLINE one sending again), list devices early, but not more often than this.
CONNECTIVITY_RECHECK = timedelta(minutes=5)
# Values older than this come back with ``timestamp: null`` and show as unknown. Blueprints
# send telemetry every few seconds, so five minutes of silence means the value is stale.
RELEVANCE_INTERVAL = 300
# One URL carries every device's attributes (20 devices x 30 attributes with UUIDs is about
# 5 200 characters); web servers and proxies accept request lines of 8 KiB. A 414 answer
# halves this for the rest of the entry's life (see EnapterClient.latest_telemetry).
MAX_URL_LENGTH = 8000
# Lua devices run on the site's gateway: shown "connected via" it.
_ON_GATEWAY_TYPES = frozenset({"LUA", "VIRTUAL_UCM"})


def device_identifier(device_id: str) -> tuple[str, str]:
    """The device registry identifier of an Enapter device."""
    return (DOMAIN, f"enapter_{device_id}")


@dataclass(slots=True)
class EnapterData:
    """Every device's state after the latest poll."""

    devices: dict[str, DeviceState]


class EnapterCoordinator(IotBridgeCoordinator[EnapterData]):
    """Polls the latest telemetry of every device of one site in a single request."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: IotBridgeConfigEntry,
        client: EnapterClient,
        site: EnapterSite,
        *,
        gateway: bool,
    ) -> None:
        """Set up polling for one site."""
        super().__init__(hass, entry, name=f"Enapter {site.name}", update_interval=POLL_INTERVAL)
        self.client = client
        self.site = site
        self.gateway = gateway
        self.devices: dict[str, EnapterDevice] = {}
        self._entities: dict[str, DeviceEntities] = {}
        self._request_map: dict[str, list[str]] = {}
        self._listed_at: datetime | None = None
        self._list_early = False
        self._pending: dict[str, dict[str, bool]] = {}
        self._assumed: dict[str, dict[str, bool]] = {}
        self._warned: set[tuple[str, str]] = set()

    @property
    def request_map(self) -> dict[str, list[str]]:
        """Device id -> the telemetry attributes every poll reads."""
        return self._request_map

    # --- polling ----------------------------------------------------------------

    async def _async_fetch(self) -> EnapterData:
        now = dt_util.utcnow()
        if self._device_list_due(now):
            await self._async_list_devices(now)
        telemetry = await self.client.latest_telemetry(
            self._request_map, relevance_interval=RELEVANCE_INTERVAL
        )
        states: dict[str, DeviceState] = {}
        for device_id, device in self.devices.items():
            points = telemetry.get(device_id, {})
            self._check_values(device, points)
            self._check_connectivity(device, points)
            pending = self._pending.setdefault(device_id, {})
            # This poll was read after the command: it shows the truth now.
            pending.clear()
            states[device_id] = DeviceState(
                device=device,
                telemetry=points,
                pending=pending,
                assumed=self._assumed.setdefault(device_id, {}),
            )
        return EnapterData(devices=states)

    def _device_list_due(self, now: datetime) -> bool:
        if self._listed_at is None or now - self._listed_at >= DEVICE_LIST_INTERVAL:
            return True
        return self._list_early and now - self._listed_at >= CONNECTIVITY_RECHECK

    async def _async_list_devices(self, now: datetime) -> None:
        devices = await self.client.list_devices(None if self.gateway else self.site.id)
        self._listed_at = now
        self._list_early = False
        listed = {device.id: device for device in devices}
        first = not self.devices
        added = listed.keys() - self.devices.keys()
        gone = self.devices.keys() - listed.keys()
        changed_manifest = {
            device_id
            for device_id, device in listed.items()
            if device_id in self.devices and self.devices[device_id].manifest != device.manifest
        }
        if not first:
            for device_id in added:
                LOGGER.info("Enapter: new device %s (%s)", listed[device_id].name, device_id)
            for device_id in gone:
                LOGGER.info(
                    "Enapter: device %s (%s) is no longer on the site; it can be deleted",
                    self.devices[device_id].name,
                    device_id,
                )
        for device_id in added | changed_manifest:
            self._entities[device_id] = device_entities(listed[device_id].manifest)
        for device_id in gone:
            self._entities.pop(device_id, None)
        self.devices = listed
        self._request_map = {
            device_id: list(device.manifest.telemetry)
            for device_id, device in listed.items()
            if device.manifest is not None and device.manifest.telemetry
        }
        self._register_devices()
        if added or changed_manifest:
            self.mark_catalog_changed()

    def _register_devices(self) -> None:
        """Put every device in the registry, gateways first so others can link to them."""
        registry = dr.async_get(self.hass)
        for device_id in sorted(self.devices, key=lambda key: self.devices[key].type != "GATEWAY"):
            registry.async_get_or_create(
                config_entry_id=self.config_entry.entry_id, **self.device_info(device_id)
            )

    def _check_values(self, device: EnapterDevice, points: dict[str, TelemetryPoint]) -> None:
        """Warn once per attribute that reports a value its manifest does not allow."""
        if device.manifest is None:
            return
        for attribute, point in points.items():
            spec = device.manifest.telemetry.get(attribute)
            if spec is None or point.timestamp is None or point.value is None:
                continue
            if typed_value(spec, point) is None and (device.id, attribute) not in self._warned:
                self._warned.add((device.id, attribute))
                LOGGER.warning(
                    "Enapter device %s: %s reported %r, which its manifest (%s%s) does not allow",
                    device.name,
                    attribute,
                    point.value,
                    spec.type,
                    f", one of {list(spec.enum)}" if spec.enum else "",
                )

    def _check_connectivity(self, device: EnapterDevice, points: dict[str, TelemetryPoint]) -> None:
        if not points:
            return
        fresh = any(point.timestamp is not None for point in points.values())
        if fresh == (device.connectivity == "OFFLINE"):
            self._list_early = True

    # --- commands ---------------------------------------------------------------

    async def async_execute(
        self,
        device_key: str,
        command: str,
        label: str,
        *,
        switch: tuple[str, bool] | None = None,
    ) -> None:
        """Run a command; failures become translated errors naming command and reason."""
        async with command_errors(f"run {label}"):
            await self.client.execute_command(device_key, command)
        if switch is not None:
            key, state = switch
            self._pending.setdefault(device_key, {})[key] = state
            self._assumed.setdefault(device_key, {})[key] = state
        # Show the command's effect now rather than at the next poll.
        await self.async_request_refresh()

    # --- entities ---------------------------------------------------------------

    def entity_descriptions(self, platform: Platform) -> Iterable[tuple[str, EntityDescription]]:
        """Every current device's descriptions for the platform."""
        attribute = {
            Platform.SENSOR: "sensors",
            Platform.BINARY_SENSOR: "binary_sensors",
            Platform.SWITCH: "switches",
            Platform.BUTTON: "buttons",
        }[platform]
        for device_id, entities in self._entities.items():
            for description in getattr(entities, attribute):
                yield device_id, description

    def device_info(self, device_key: str) -> DeviceInfo:
        """The Enapter device, linked to the site's gateway when it runs on it."""
        device = self.devices.get(device_key)
        if device is None:
            return DeviceInfo(identifiers={device_identifier(device_key)})
        properties = device.properties
        manifest = device.manifest

        def text(*keys: str) -> str | None:
            for key in keys:
                if isinstance(value := properties.get(key), (str, int, float)) and str(value):
                    return str(value)
            return None

        info = DeviceInfo(
            identifiers={device_identifier(device.id)},
            name=device.name,
            manufacturer=text("vendor", "manufacturer") or "Enapter",
            model=text("model") or (manifest.display_name if manifest else None),
            serial_number=text("serial_number", "serial"),
            sw_version=text("firmware_version", "version", "fw_ver"),
        )
        gateways = [d.id for d in self.devices.values() if d.type == "GATEWAY"]
        if device.type in _ON_GATEWAY_TYPES and len(gateways) == 1:
            info.update(
                via_device(self.hass, device_identifier(gateways[0]), self.config_entry.entry_id)
            )
        return info

    def device_data(self, device_key: str) -> DeviceState:
        """The device's latest state (an empty one for a device that vanished)."""
        if self.data is not None and (state := self.data.devices.get(device_key)) is not None:
            return state
        return DeviceState(device=self.devices.get(device_key))

    def device_available(self, device_key: str) -> bool:
        """Unavailable when the site no longer lists the device or it is OFFLINE."""
        device = self.devices.get(device_key)
        return device is not None and device.connectivity != "OFFLINE"

    def device_removable(self, device: DeviceEntry) -> bool:
        """A device may be deleted once the site no longer lists it."""
        current = {device_identifier(device_id) for device_id in self.devices}
        return not device.identifiers & current

    def diagnostics(self) -> dict[str, Any]:
        """Site, devices with their manifests' shape, and the latest values."""
        data = self.data
        return {
            "site": {"id": self.site.id, "name": self.site.name, "timezone": self.site.timezone},
            "gateway": self.gateway,
            "requests_sent": self.client.requests_sent,
            "max_url_length": self.client.max_url_length,
            "devices_listed_at": self._listed_at.isoformat() if self._listed_at else None,
            "devices": [
                {
                    "id": device.id,
                    "name": device.name,
                    "type": device.type,
                    "blueprint_id": device.blueprint_id,
                    "connectivity": device.connectivity,
                    "properties": dict(device.properties),
                    "telemetry": {
                        name: {"type": spec.type, "unit": spec.unit, "enum": spec.enum}
                        for name, spec in (
                            device.manifest.telemetry if device.manifest else {}
                        ).items()
                    },
                    "commands": {
                        name: list(spec.required_arguments)
                        for name, spec in (
                            device.manifest.commands if device.manifest else {}
                        ).items()
                    },
                    "latest": {
                        name: {"timestamp": point.timestamp, "value": point.value}
                        for name, point in (
                            data.devices[device.id].telemetry
                            if data and device.id in data.devices
                            else {}
                        ).items()
                    },
                }
                for device in self.devices.values()
            ],
        }
