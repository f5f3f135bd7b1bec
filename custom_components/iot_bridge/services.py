"""The integration's action: run any command of a vendor device, arguments and all.

``iot_bridge.run_command`` targets devices (or their entities) and runs one command
with a dictionary of arguments. A vendor whose devices take commands answers
``command_runner`` on its coordinator; the runner checks the arguments against what
the device declares before anything is sent. Registered once in ``async_setup``, so
automations that use it validate even while no entry is loaded.
"""

from __future__ import annotations

from typing import Any, Final

from homeassistant.const import ATTR_DEVICE_ID, ATTR_ENTITY_ID
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import (
    config_validation as cv,
    device_registry as dr,
    entity_registry as er,
)
from homeassistant.util.json import JsonValueType

from .compat import vol
from .const import DOMAIN
from .coordinator import BoundCommandRunner
from .vendor import IotBridgeConfigEntry

SERVICE_RUN_COMMAND: Final = "run_command"
ATTR_COMMAND: Final = "command"
ATTR_ARGUMENTS: Final = "arguments"

RUN_COMMAND_SCHEMA: Final = vol.Schema(
    {
        vol.Optional(ATTR_DEVICE_ID): vol.All(cv.ensure_list, [cv.string]),
        vol.Optional(ATTR_ENTITY_ID): cv.comp_entity_ids,
        vol.Required(ATTR_COMMAND): vol.All(cv.string, vol.Length(min=1, max=255)),
        vol.Optional(ATTR_ARGUMENTS, default=dict): vol.Schema({cv.string: object}),
    }
)


def _target_devices(hass: HomeAssistant, call: ServiceCall) -> list[str]:
    """The registry ids of the devices the call targets, directly or through their entities."""
    entity_registry = er.async_get(hass)
    device_ids: dict[str, None] = dict.fromkeys(call.data.get(ATTR_DEVICE_ID, []))
    for entity_id in call.data.get(ATTR_ENTITY_ID, []):
        entity = entity_registry.async_get(entity_id)
        if entity is None or entity.device_id is None:
            raise _not_a_command_device(entity_id)
        device_ids[entity.device_id] = None
    return list(device_ids)


def _not_a_command_device(target: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="not_a_command_device",
        translation_placeholders={"target": target},
    )


def _device_name(hass: HomeAssistant, device_id: str) -> str:
    device = dr.async_get(hass).async_get(device_id)
    if device is None:
        return device_id
    return device.name_by_user or device.name or device_id


async def _async_run_command(hass: HomeAssistant, call: ServiceCall) -> ServiceResponse:
    device_ids = _target_devices(hass, call)
    if not device_ids:
        raise ServiceValidationError(translation_domain=DOMAIN, translation_key="no_target")
    entries: list[IotBridgeConfigEntry] = hass.config_entries.async_loaded_entries(DOMAIN)
    # Every target must take commands before the first command is sent.
    bound: dict[str, BoundCommandRunner] = {}
    for device_id in device_ids:
        run = next(
            (
                found
                for entry in entries
                if (found := entry.runtime_data.coordinator.command_runner(device_id))
            ),
            None,
        )
        if run is None:
            raise _not_a_command_device(_device_name(hass, device_id))
        bound[device_id] = run
    command: str = call.data[ATTR_COMMAND]
    arguments: dict[str, Any] = call.data[ATTR_ARGUMENTS]
    answers: dict[str, JsonValueType] = {
        device_id: await run(command, arguments) for device_id, run in bound.items()
    }
    return {"devices": answers} if call.return_response else None


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions."""

    async def run_command(call: ServiceCall) -> ServiceResponse:
        return await _async_run_command(hass, call)

    hass.services.async_register(
        DOMAIN,
        SERVICE_RUN_COMMAND,
        run_command,
        schema=RUN_COMMAND_SCHEMA,
        supports_response=SupportsResponse.OPTIONAL,
    )
