"""What differs between the oldest supported Home Assistant (2025.4) and the newest.

Every name here is the newest release's way of doing something, with a fallback for
releases that predate it. Drop a fallback when the minimum version passes the release
that introduced the new way (see CONTRIBUTING.md, "Moving the test legs").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Final, cast

from homeassistant.components.recorder.models import StatisticMeanType, StatisticMetaData
from homeassistant.core import HomeAssistant
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.device_registry import DeviceEntry, DeviceInfo

if TYPE_CHECKING:
    # Type checking runs against the newest release only.
    from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
    from homeassistant.const import UnitOfDensity, UnitOfRatio
    import probatio as vol

    CONCENTRATION_PPM: Final = UnitOfRatio.PARTS_PER_MILLION
    CONCENTRATION_UG_PER_M3: Final = UnitOfDensity.MICROGRAMS_PER_CUBIC_METER
else:
    # Home Assistant replaced voluptuous with probatio (same API) in 2026.
    try:
        import probatio as vol
    except ImportError:
        import voluptuous as vol

    # The device class enums moved into each platform's const module.
    try:
        from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
    except ImportError:
        from homeassistant.components.binary_sensor import BinarySensorDeviceClass

    # Concentration constants became unit enums in 2026.8.
    try:
        from homeassistant.const import UnitOfDensity, UnitOfRatio

        CONCENTRATION_PPM = UnitOfRatio.PARTS_PER_MILLION
        CONCENTRATION_UG_PER_M3 = UnitOfDensity.MICROGRAMS_PER_CUBIC_METER
    except ImportError:
        from homeassistant.const import (
            CONCENTRATION_MICROGRAMS_PER_CUBIC_METER as CONCENTRATION_UG_PER_M3,
            CONCENTRATION_PARTS_PER_MILLION as CONCENTRATION_PPM,
        )

__all__ = [
    "CONCENTRATION_PPM",
    "CONCENTRATION_UG_PER_M3",
    "BinarySensorDeviceClass",
    "device_by_identifier",
    "statistic_metadata",
    "via_device",
    "vol",
]

# 2026.8 links a device to its parent by registry id instead of by identifier.
_LINKS_BY_REGISTRY_ID: Final = "via_device_id" in DeviceInfo.__annotations__


def device_by_identifier(
    hass: HomeAssistant, identifier: tuple[str, str], entry_id: str
) -> DeviceEntry | None:
    """Return the entry's device with this identifier, if it is registered."""
    registry = dr.async_get(hass)
    if hasattr(registry, "async_get_device_by_identifier"):
        return registry.async_get_device_by_identifier(identifier, entry_id)
    # Before 2026.8 identifiers were unique across entries.
    found: DeviceEntry | None = registry.async_get_device(identifiers={identifier})
    return found


def via_device(hass: HomeAssistant, parent: tuple[str, str], entry_id: str) -> DeviceInfo:
    """Return the device info fields that link a device to its parent device.

    The parent must be registered first; without it the link is left out rather
    than pointing at nothing.
    """
    if not _LINKS_BY_REGISTRY_ID:
        legacy: dict[str, Any] = {"via_device": parent}
        return cast(DeviceInfo, legacy)
    if (device := device_by_identifier(hass, parent, entry_id)) is None:
        return DeviceInfo()
    return DeviceInfo(via_device_id=device.id)


# 2025.10 added ``unit_class`` to statistics metadata (required from 2026.11); older recorders
# build their metadata row from the dict's keys and fail on one they do not know.
_METADATA_HAS_UNIT_CLASS: Final = "unit_class" in StatisticMetaData.__annotations__


def statistic_metadata(
    *,
    source: str,
    statistic_id: str,
    name: str | None,
    unit: str | None,
    unit_class: str | None,
    has_sum: bool,
    mean_type: StatisticMeanType,
) -> StatisticMetaData:
    """Return statistics metadata that this release's recorder accepts."""
    metadata: dict[str, Any] = {
        "source": source,
        "statistic_id": statistic_id,
        "name": name,
        "unit_of_measurement": unit,
        "has_sum": has_sum,
        "mean_type": mean_type,
    }
    if _METADATA_HAS_UNIT_CLASS:
        metadata["unit_class"] = unit_class
    return cast(StatisticMetaData, metadata)
