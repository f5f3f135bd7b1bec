"""What remote input may create, and how the user hears that a limit refused some.

A device, gateway or server that invents identifiers (a firmware bug, a hostile
peer) must not fill Home Assistant with thousands of devices and entities. Each
vendor caps what its input may create with named constants; past a cap the extra
items are ignored, one warning is logged and a repair issue says what was refused,
until the entry has room again.
"""

from __future__ import annotations

from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir

from .api.log_once import LogOnce
from .const import DOMAIN, LOGGER

_LOG = LogOnce(LOGGER)


def _issue_id(entry: ConfigEntry[Any], what: str) -> str:
    return f"{entry.entry_id}_{what}_limit"


@callback
def async_report_limit(
    hass: HomeAssistant, entry: ConfigEntry[Any], what: str, limit: int, refused: int
) -> None:
    """Tell the user that ``refused`` new ``what`` (e.g. "loggers") exceeded ``limit``."""
    _LOG.warning(
        "%s: ignoring %d new %s past the limit of %d",
        entry.title,
        refused,
        what,
        limit,
        kind=f"limit:{what}",
        key=entry.entry_id,
    )
    ir.async_create_issue(
        hass,
        DOMAIN,
        _issue_id(entry, what),
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key="limit_reached",
        translation_placeholders={
            "name": entry.title,
            "what": what,
            "limit": str(limit),
            "refused": str(refused),
        },
    )


@callback
def async_clear_limit(hass: HomeAssistant, entry: ConfigEntry[Any], what: str) -> None:
    """The entry has room again (devices were deleted): drop the notice."""
    _LOG.forget(f"limit:{what}", entry.entry_id)
    ir.async_delete_issue(hass, DOMAIN, _issue_id(entry, what))


@callback
def async_clear_entry_limits(hass: HomeAssistant, entry: ConfigEntry[Any]) -> None:
    """Drop every limit notice of an entry that is being removed."""
    registry = ir.async_get(hass)
    for domain, issue_id in list(registry.issues):
        if domain == DOMAIN and issue_id.startswith(f"{entry.entry_id}_"):
            ir.async_delete_issue(hass, DOMAIN, issue_id)
