"""Entity descriptions the vendor packages fill in and the generic platforms build from.

Each description is generic over what its functions read: ``DeviceT``, the value
``coordinator.device_data(device_key)`` returns for the devices it is used on, and,
for actions, ``CoordinatorT``, the vendor's own coordinator. A vendor declares, say,
``IotBridgeSensorEntityDescription[LoggerState]`` and mypy checks every ``value_fn``
against that type. ``available_fn`` lets one value go unavailable (a register that
vanished) without touching the rest of its device.

Switches, numbers and selects that no device report confirms (they show what they
last sent) set ``assumed_state`` and a ``restore_fn``: after a restart the entity
hands its last state back to the vendor's model through it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from homeassistant.components.binary_sensor import BinarySensorEntityDescription
from homeassistant.components.button import ButtonEntityDescription
from homeassistant.components.number import NumberEntityDescription
from homeassistant.components.select import SelectEntityDescription
from homeassistant.components.sensor import SensorEntityDescription
from homeassistant.components.switch import SwitchEntityDescription
from homeassistant.helpers.typing import StateType

type SensorValue = StateType | date | datetime | Decimal
# An action on one device: the vendor's coordinator and the device's key.
type ActionFn[CoordinatorT] = Callable[[CoordinatorT, str], Awaitable[None]]
# An action that sets a value on one device (a number, an option).
type SetFn[CoordinatorT, ValueT] = Callable[[CoordinatorT, str, ValueT], Awaitable[None]]
# Hands the state an entity showed before a restart back to the vendor's model.
type RestoreFn[CoordinatorT, ValueT] = Callable[[CoordinatorT, str, ValueT], None]


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
    # Nothing the device reports confirms the state: it is the last one sent.
    assumed_state: bool = False
    restore_fn: RestoreFn[CoordinatorT, bool] | None = None


@dataclass(frozen=True, kw_only=True)
class IotBridgeNumberEntityDescription[DeviceT, CoordinatorT](NumberEntityDescription):
    """A number read from device data and set through the vendor."""

    value_fn: Callable[[DeviceT], float | None]
    set_fn: SetFn[CoordinatorT, float]
    available_fn: Callable[[DeviceT], bool] | None = None
    assumed_state: bool = False
    restore_fn: RestoreFn[CoordinatorT, float] | None = None


@dataclass(frozen=True, kw_only=True)
class IotBridgeSelectEntityDescription[DeviceT, CoordinatorT](SelectEntityDescription):
    """A select whose option is read from device data and chosen through the vendor."""

    current_fn: Callable[[DeviceT], str | None]
    select_fn: SetFn[CoordinatorT, str]
    available_fn: Callable[[DeviceT], bool] | None = None
    attributes_fn: Callable[[DeviceT], dict[str, Any] | None] | None = None
    assumed_state: bool = False
    restore_fn: RestoreFn[CoordinatorT, str] | None = None


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
    | IotBridgeNumberEntityDescription[Any, Any]
    | IotBridgeSelectEntityDescription[Any, Any]
)
