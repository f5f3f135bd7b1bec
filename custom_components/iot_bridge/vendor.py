"""What the generic parts of the integration ask of a vendor package.

A vendor package subclasses ``Vendor`` and is listed in ``vendors.py``; the
config flow, set-up, platforms and diagnostics only ever talk to this class.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry, ConfigFlowResult, OptionsFlow
from homeassistant.const import Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers.selector import TextSelector, TextSelectorConfig, TextSelectorType

from .compat import vol
from .const import DOMAIN

if TYPE_CHECKING:
    from .coordinator import IotBridgeCoordinator


def entry_store_key(name: str, entry_id: str) -> str:
    """The storage key of an entry's own persisted state."""
    return f"{DOMAIN}.{name}.{entry_id}"


# Form fields for passwords, secrets and tokens: masked as the user types.
SECRET_SELECTOR = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))


@dataclass(frozen=True, slots=True)
class EntryDraft:
    """A validated form: what the flow turns into a config entry."""

    title: str
    unique_id: str
    data: dict[str, Any]
    placeholders: dict[str, str] = field(default_factory=dict)
    # ``config.create_entry.<description>`` text shown with the placeholders (None: default).
    description: str | None = None


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
class IotBridgeRuntime:
    """What an entry holds while it is loaded (``entry.runtime_data``)."""

    vendor: Vendor
    coordinator: IotBridgeCoordinator[Any]


type IotBridgeConfigEntry = ConfigEntry[IotBridgeRuntime]


class Vendor(ABC):
    """One vendor platform, as seen by the generic parts."""

    key: str
    platforms: tuple[Platform, ...]
    # Entry data keys that must never appear in diagnostics or logs.
    secret_keys: frozenset[str] = frozenset()
    # Names of the entry's Store files (see ``entry_store_key``), deleted with the entry.
    store_names: tuple[str, ...] = ()

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

    @abstractmethod
    async def async_setup_entry(
        self, hass: HomeAssistant, entry: IotBridgeConfigEntry
    ) -> IotBridgeCoordinator[Any]:
        """Connect, run the first refresh and return the entry's coordinator."""

    def options_flow(self, entry: ConfigEntry) -> OptionsFlow | None:
        """Return an options flow when the vendor has options."""
        return None

    def reconfigure_result(
        self, flow_result: ConfigFlowResult, draft: EntryDraft
    ) -> ConfigFlowResult:
        """Adjust the reconfigure flow's last step (e.g. to show new settings)."""
        return flow_result
