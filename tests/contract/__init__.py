"""One harness per vendor, all with the interface of ``base.VendorHarness``.

The vendor-contract tests (``tests/test_vendor_contract.py``) run every contract
point against each harness here; adding a vendor means adding its harness.
"""

from __future__ import annotations

from .base import VendorHarness
from .efento import EfentoHarness
from .egauge import EgaugeHarness
from .enapter import EnapterHarness
from .instathings import InstathingsHarness
from .netemera import NetemeraHarness

HARNESSES: dict[str, type[VendorHarness]] = {
    harness.key: harness
    for harness in (
        EgaugeHarness,
        EnapterHarness,
        EfentoHarness,
        InstathingsHarness,
        NetemeraHarness,
    )
}

__all__ = ["HARNESSES", "VendorHarness"]
