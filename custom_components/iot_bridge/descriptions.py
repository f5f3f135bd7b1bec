"""Entity descriptions the vendor packages fill in and the generic platforms build from.

``value_fn`` and friends receive ``coordinator.device_data(device_key)``;
``available_fn`` lets one value go unavailable (a register that vanished)
without touching the rest of its device.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from homeassistant.components.binary_sensor import BinarySensorEntityDescription
from homeassistant.components.button import ButtonEntityDescription
from homeassistant.components.sensor import SensorEntityDescription
from homeassistant.components.switch import SwitchEntityDescription
from homeassistant.helpers.typing import StateType

if TYPE_CHECKING:
    from .coordinator import IotBridgeCoordinator

type SensorValue = StateType | date | datetime | Decimal
type ActionFn = Callable[["IotBridgeCoordinator[Any]", str], Awaitable[None]]


@dataclass(frozen=True, kw_only=True)
class IotBridgeSensorEntityDescription(SensorEntityDescription):
    """A sensor read from its device's data."""

    value_fn: Callable[[Any], SensorValue]
    available_fn: Callable[[Any], bool] | None = None
    attributes_fn: Callable[[Any], dict[str, Any] | None] | None = None


@dataclass(frozen=True, kw_only=True)
class IotBridgeBinarySensorEntityDescription(BinarySensorEntityDescription):
    """A binary sensor read from its device's data."""

    is_on_fn: Callable[[Any], bool | None]
    available_fn: Callable[[Any], bool] | None = None


@dataclass(frozen=True, kw_only=True)
class IotBridgeSwitchEntityDescription(SwitchEntityDescription):
    """A switch whose state is read from device data and set through the vendor."""

    is_on_fn: Callable[[Any], bool | None]
    turn_on_fn: ActionFn
    turn_off_fn: ActionFn
    available_fn: Callable[[Any], bool] | None = None


@dataclass(frozen=True, kw_only=True)
class IotBridgeButtonEntityDescription(ButtonEntityDescription):
    """A button that runs one vendor action."""

    press_fn: ActionFn
    available_fn: Callable[[Any], bool] | None = None
