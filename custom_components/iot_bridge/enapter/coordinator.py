"""Polling an Enapter site: one latest-telemetry request per poll, the device list hourly."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceEntry, DeviceInfo
from homeassistant.util import dt as dt_util
from homeassistant.util.json import JsonObjectType

from ..api.enapter import (
    ArgumentError,
    CommandResult,
    EnapterClient,
    EnapterDevice,
    EnapterSite,
    TelemetryPoint,
)
from ..api.enapter_manifest import check_arguments
from ..api.errors import ApiAuthError, ApiForbiddenError
from ..api.log_once import LogOnce
from ..compat import device_by_identifier, via_device
from ..const import DOMAIN, LOGGER
from ..coordinator import BoundCommandRunner, IotBridgeCoordinator
from ..errors import argument_error, command_errors
from ..limits import async_clear_limit, async_report_limit
from ..vendor import VendorConfigEntry
from .model import (
    EnapterDeviceState,
    Refusal,
    SentValue,
    SiteDevices,
    SiteState,
    contradicts_connectivity,
    invalid_values,
)

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


IDENTIFIER_PREFIX = "enapter_"


def device_identifier(device_id: str) -> tuple[str, str]:
    """The device registry identifier of an Enapter device."""
    return (DOMAIN, f"{IDENTIFIER_PREFIX}{device_id}")


class EnapterCoordinator(IotBridgeCoordinator[SiteState]):
    """Polls the latest telemetry of every device of one site in a single request."""

    def __init__(
        self,
        hass: HomeAssistant,
        entry: VendorConfigEntry[EnapterCoordinator],
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
        self.devices = SiteDevices()
        self._listed_at: datetime | None = None
        self._list_early = False
        self._log_once = LogOnce(LOGGER)
        # What each limit refused at the last listing; none yet this run, so the
        # first listing also clears a notice an earlier run left.
        self._refused: dict[str, int] = {}

    @property
    def request_map(self) -> dict[str, list[str]]:
        """Device id -> the telemetry attributes every poll reads."""
        return self.devices.request_map

    # --- polling ----------------------------------------------------------------

    async def _async_fetch(self) -> SiteState:
        now = dt_util.utcnow()
        if self._device_list_due(now):
            await self._async_list_devices(now)
        telemetry = await self.client.latest_telemetry(
            self.devices.request_map, relevance_interval=RELEVANCE_INTERVAL
        )
        for device_id, device in self.devices.items():
            points = telemetry.get(device_id, {})
            self._warn_invalid_values(device, points)
            if contradicts_connectivity(device, points):
                self._list_early = True
        return self.devices.read(telemetry)

    def _device_list_due(self, now: datetime) -> bool:
        if self._listed_at is None or now - self._listed_at >= DEVICE_LIST_INTERVAL:
            return True
        return self._list_early and now - self._listed_at >= CONNECTIVITY_RECHECK

    async def _async_list_devices(self, now: datetime) -> None:
        listed = await self.client.list_devices(None if self.gateway else self.site.id)
        self._listed_at = now
        self._list_early = False
        first = not self.devices
        change = self.devices.update(listed, self._registered_device_ids())
        for refusal in self.devices.refusals:
            self._report_refusal(refusal)
        if not first:
            for device in change.added:
                LOGGER.info("Enapter: new device %s (%s)", device.name, device.id)
            for device in change.gone:
                LOGGER.info(
                    "Enapter: device %s (%s) is no longer on the site; it can be deleted",
                    device.name,
                    device.id,
                )
        self._register_devices()
        if change.new_entities:
            self.mark_catalog_changed()

    def _registered_device_ids(self) -> set[str]:
        """The Enapter ids of the entry's devices in the registry (listed or not)."""
        registry = dr.async_get(self.hass)
        return {
            identifier.removeprefix(IDENTIFIER_PREFIX)
            for device in dr.async_entries_for_config_entry(registry, self.config_entry.entry_id)
            for domain, identifier in device.identifiers
            if domain == DOMAIN and identifier.startswith(IDENTIFIER_PREFIX)
        }

    def _report_refusal(self, refusal: Refusal) -> None:
        """Tell the user what a limit refused; drop the notice once nothing is."""
        if self._refused.get(refusal.what) == refusal.count:
            return
        self._refused[refusal.what] = refusal.count
        if refusal.count:
            async_report_limit(
                self.hass, self.config_entry, refusal.what, refusal.limit, refusal.count
            )
        else:
            async_clear_limit(self.hass, self.config_entry, refusal.what)

    def _register_devices(self) -> None:
        """Put every device in the registry, gateways first so others can link to them."""
        registry = dr.async_get(self.hass)
        for device_id in sorted(self.devices, key=lambda key: self.devices[key].type != "GATEWAY"):
            registry.async_get_or_create(
                config_entry_id=self.config_entry.entry_id, **self.device_info(device_id)
            )

    def _warn_invalid_values(
        self, device: EnapterDevice, points: dict[str, TelemetryPoint]
    ) -> None:
        for attribute, spec, value in invalid_values(device, points):
            self._log_once.warning(
                "Enapter device %s: %s reported %s, which its manifest (%s%s) does not allow",
                device.name,
                attribute,
                _excerpt(value),
                spec.type,
                f", one of {list(spec.enum)}" if spec.enum else "",
                kind="invalid_value",
                key=(device.id, attribute),
            )

    # --- commands ---------------------------------------------------------------

    async def async_execute(
        self,
        device_key: str,
        command: str,
        arguments: Mapping[str, Any] | None = None,
        *,
        sent: tuple[str, SentValue] | None = None,
    ) -> CommandResult:
        """Check the arguments against the manifest, run the command, note what it set.

        Failures become translated errors naming the command (and the argument at fault).
        ``sent`` is (entity key, value) of the switch, number or select that ran it.
        """
        plan = self.devices.plans.get(device_key)
        spec = plan.manifest.commands.get(command) if plan else None
        if spec is None:
            device = self.devices.get(device_key)
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="unknown_command",
                translation_placeholders={
                    "command": command,
                    "device": device.name if device else device_key,
                },
            )
        try:
            checked = check_arguments(spec, arguments or {})
        except ArgumentError as err:
            raise argument_error(
                spec.display_name, err.argument, err.problem, err.expected
            ) from err
        async with command_errors(f"run {spec.display_name}"):
            try:
                result = await self.client.execute_command(device_key, command, checked)
            except ApiAuthError as err:
                if not await self._async_token_reads():
                    raise
                # Reading with the same token works: the role, not the token, was refused.
                raise ApiForbiddenError(str(err)) from err
        if sent is not None:
            self.devices.sent(device_key, *sent)
        # Show the command's effect now rather than at the next poll.
        await self.async_request_refresh()
        return result

    async def _async_token_reads(self) -> bool:
        """Poll now: whether the token still reads (a failure here starts reauth as usual)."""
        await self.async_refresh()
        return self.last_update_success

    def restore(self, device_key: str, entity_key: str, value: SentValue) -> None:
        """Take back what an entity no telemetry confirms showed before a restart."""
        self.devices.restore(device_key, entity_key, value)

    def device_key_of(self, device_id: str) -> str | None:
        """The Enapter id of the site's device with this registry id, else None."""
        entry_id = self.config_entry.entry_id
        for device_key in self.devices:
            device = device_by_identifier(self.hass, device_identifier(device_key), entry_id)
            if device is not None and device.id == device_id:
                return device_key
        return None

    def command_runner(self, device_id: str) -> BoundCommandRunner | None:
        """What runs any command of a device for the ``run_command`` action; None if not ours."""
        device_key = self.device_key_of(device_id)
        if device_key is None:
            return None

        async def run(command: str, arguments: Mapping[str, Any]) -> JsonObjectType:
            result = await self.async_execute(device_key, command, arguments)
            # What the device answered: commands that read a configuration return it here.
            return {"state": result.state, "payload": dict(result.payload)}

        return run

    # --- devices ----------------------------------------------------------------

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
        if (gateway := self.devices.gateway_for(device)) is not None:
            info.update(
                via_device(self.hass, device_identifier(gateway), self.config_entry.entry_id)
            )
        return info

    def device_data(self, device_key: str) -> EnapterDeviceState:
        """The device's latest state (an empty one for a device that vanished)."""
        if self.data is not None and (state := self.data.devices.get(device_key)) is not None:
            return state
        return EnapterDeviceState(device=self.devices.get(device_key))

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
                    "authorized_role": device.authorized_role,
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


def _excerpt(value: Any) -> str:
    """A value for the log: a device may send megabytes where a number belongs."""
    if isinstance(value, str) and len(value) > 80:
        value = value[:80]
    try:
        text = repr(value)
    except ValueError:  # an int too long to write out
        return f"a {type(value).__name__} too long to show"
    return text if len(text) <= 80 else f"{text[:77]}..."
