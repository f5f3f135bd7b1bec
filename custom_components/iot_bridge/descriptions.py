"""Entity descriptions the vendor packages fill in and the generic platforms build from.

Each description is generic over what its functions read: ``DeviceT``, the value
``coordinator.device_data(device_key)`` returns for the devices it is used on, and,
for actions, ``CoordinatorT``, the vendor's own coordinator. A vendor declares, say,
``IotBridgeSensorEntityDescription[LoggerState]`` and mypy checks every ``value_fn``
against that type. ``available_fn`` lets one value go unavailable (a register that
vanished) without touching the rest of its device.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from homeassistant.components.binary_sensor import BinarySensorEntityDescription
from homeassistant.components.button import ButtonEntityDescription
from homeassistant.components.sensor import SensorEntityDescription
from homeassistant.components.switch import SwitchEntityDescription
from homeassistant.helpers.typing import StateType

type SensorValue = StateType | date | datetime | Decimal
# An action on one device: the vendor's coordinator and the device's key.
type ActionFn[CoordinatorT] = Callable[[CoordinatorT, str], Awaitable[None]]


@dataclass(frozen=True, kw_only=True)
class IotBridgeSensorEntityDescription[DeviceT](SensorEntityDescription):
    """A sensor read from its device's data."""

    value_fn: Callable[[DeviceT], SensorValue]
    available_fn: Callable[[DeviceT], bool] | None = None
    attributes_fn: Callable[[DeviceT], dict[str, Any] | None] | None = None


@dataclass(frozen=True, kw_only=True)
class IotBridgeBinarySensorEntityDescription[DeviceT](BinarySensorEntityDescription):
    """A binary sensor read from its device's data."""

    is_on_fn: Callable[[DeviceT], bool | None]
    available_fn: Callable[[DeviceT], bool] | None = None


@dataclass(frozen=True, kw_only=True)
class IotBridgeSwitchEntityDescription[DeviceT, CoordinatorT](SwitchEntityDescription):
    """A switch whose state is read from device data and set through the vendor."""

    is_on_fn: Callable[[DeviceT], bool | None]
    turn_on_fn: ActionFn[CoordinatorT]
    turn_off_fn: ActionFn[CoordinatorT]
    available_fn: Callable[[DeviceT], bool] | None = None


@dataclass(frozen=True, kw_only=True)
class IotBridgeButtonEntityDescription[DeviceT, CoordinatorT](ButtonEntityDescription):
    """A button that runs one vendor action."""

    press_fn: ActionFn[CoordinatorT]
    available_fn: Callable[[DeviceT], bool] | None = None


# Any description of this integration, as the framework sees it (what a vendor's
# catalog yields and what the base entity reads ``available_fn`` from).
type IotBridgeEntityDescription = (
    IotBridgeSensorEntityDescription[Any]
    | IotBridgeBinarySensorEntityDescription[Any]
    | IotBridgeSwitchEntityDescription[Any, Any]
    | IotBridgeButtonEntityDescription[Any, Any]
)
