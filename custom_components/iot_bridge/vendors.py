"""The registry of vendor packages: adding a vendor is one line here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .const import CONF_VENDOR
from .efento import EfentoVendor
from .egauge import EgaugeVendor
from .enapter import EnapterVendor
from .instathings import InstathingsVendor
from .netemera import NetemeraVendor
from .vendor import Vendor

VENDORS: dict[str, Vendor[Any]] = {
    vendor.key: vendor
    for vendor in (
        EgaugeVendor(),
        EnapterVendor(),
        EfentoVendor(),
        InstathingsVendor(),
        NetemeraVendor(),
    )
}


def vendor_for(data: Mapping[str, Any]) -> Vendor[Any]:
    """Return the vendor that owns an entry's data."""
    return VENDORS[data[CONF_VENDOR]]
