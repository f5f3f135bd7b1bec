"""What the generic parts of the integration ask of a vendor package.

A vendor package subclasses ``Vendor[ItsCoordinator]`` and is listed in ``vendors.py``;
the config flow, set-up, platforms and diagnostics only ever talk to this class.
The type parameter carries the vendor's own coordinator through the seam: set-up
returns it, the entity catalog receives it, and ``VendorConfigEntry`` types an
entry's runtime data with it, so vendor code never downcasts.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from homeassistant.config_entries import ConfigEntry, OptionsFlow
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.selector import TextSelector, TextSelectorConfig, TextSelectorType

from .compat import vol
from .coordinator import IotBridgeCoordinator
from .descriptions import IotBridgeEntityDescription
from .energy_history import EnergyHistory, EnergyHistorySource

# Form fields for passwords, secrets and tokens: masked as the user types.
SECRET_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))


@dataclass(frozen=True, slots=True)
class EntryDraft:
    """A validated form: what the flow turns into a config entry.

    ``placeholders``, when given, are shown with the vendor's own closing text
    (``config.create_entry.<vendor>`` on creation, ``config.abort.<vendor>_reconfigured``
    after a reconfigure): settings the user must copy somewhere, say.
    """

    title: str
    unique_id: str
    data: dict[str, Any]
    placeholders: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FollowUp:
    """A further form the vendor needs (choosing a site, say) before the entry exists.

    ``step_id`` must have a ``async_step_<step_id>`` on the config flow that
    calls its generic follow-up handler; every field of ``schema`` has a default
    so that submitting the defaults finishes the flow.
    """

    step_id: str
    schema: vol.Schema
    finish: Callable[[dict[str, Any]], Awaitable[EntryDraft | FollowUp]]
    placeholders: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class IotBridgeRuntime[CoordinatorT: IotBridgeCoordinator[Any]]:
    """What an entry holds while it is loaded (``entry.runtime_data``)."""

    vendor: Vendor[CoordinatorT]
    coordinator: CoordinatorT
    # Set when the vendor's device keeps energy records (``Vendor.energy_history``).
    history: EnergyHistory | None = None


# An entry of one vendor: ``VendorConfigEntry[EfentoCoordinator]``.
type VendorConfigEntry[CoordinatorT: IotBridgeCoordinator[Any]] = ConfigEntry[
    IotBridgeRuntime[CoordinatorT]
]
# An entry of any vendor, as the generic parts see it.
type IotBridgeConfigEntry = ConfigEntry[IotBridgeRuntime[Any]]


class Vendor[CoordinatorT: IotBridgeCoordinator[Any]](ABC):
    """One vendor platform, as seen by the generic parts."""

    key: str
    platforms: tuple[Platform, ...]
    # Entry data keys that must never appear in diagnostics or logs.
    secret_keys: frozenset[str] = frozenset()
    # Names of the entry's Store files (see ``storage.entry_store_key``), deleted with the entry.
    store_names: tuple[str, ...] = ()

    # --- the config flow --------------------------------------------------------

    @abstractmethod
    def user_schema(self) -> vol.Schema:
        """Return the first form of the vendor's flow (also used to reconfigure)."""

    def form_values(self, data: Mapping[str, Any]) -> dict[str, Any]:
        """Return an entry's data shaped like ``user_schema`` (to prefill reconfigure)."""
        return dict(data)

    def reauth_schema(self) -> vol.Schema | None:
        """Return the form asking for new credentials; None if the vendor has none."""
        return None

    @abstractmethod
    async def async_validate(
        self,
        hass: HomeAssistant,
        user_input: dict[str, Any],
        current: Mapping[str, Any] | None,
    ) -> EntryDraft | FollowUp:
        """Check a submitted form against the vendor; raise ``FlowError`` when it is wrong.

        ``current`` is the entry's data when reconfiguring or re-authenticating.
        """

    def options_flow(self, entry: ConfigEntry[Any]) -> OptionsFlow | None:
        """Return an options flow when the vendor has options."""
        return None

    # --- a loaded entry ---------------------------------------------------------

    @abstractmethod
    async def async_setup_entry(
        self, hass: HomeAssistant, entry: VendorConfigEntry[CoordinatorT]
    ) -> CoordinatorT:
        """Connect, run the first refresh and return the entry's coordinator."""

    def unique_id_base(self, entry: ConfigEntry[Any]) -> str:
        """Return what the entry's entity unique ids start with.

        The entry's unique id (a serial number, a site id), unless the vendor's
        unique id is a secret that must not be copied into the registries.
        """
        return entry.unique_id or entry.entry_id

    @abstractmethod
    def entity_descriptions(
        self, coordinator: CoordinatorT, platform: Platform
    ) -> Iterable[tuple[str, IotBridgeEntityDescription]]:
        """Return (device key, description) for every entity the platform should have now."""

    def energy_history(self, coordinator: CoordinatorT) -> EnergyHistorySource | None:
        """Return the device's own energy records, when it keeps any (see energy_history.py).

        Such a vendor also offers ``HistoryOptionsFlow`` so the user picks the backfill period.
        """
        return None
