"""The one mapping from vendor API errors to Home Assistant's exceptions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from homeassistant.exceptions import (
    ConfigEntryAuthFailed,
    ConfigEntryNotReady,
    HomeAssistantError,
    ServiceValidationError,
)
from homeassistant.helpers.update_coordinator import UpdateFailed

from .api.errors import (
    ApiAuthError,
    ApiCommandError,
    ApiConnectionError,
    ApiError,
    ApiForbiddenError,
    ApiPayloadError,
)
from .api.urls import url_has_credentials
from .const import DOMAIN


class FlowError(Exception):
    """A config flow form error: ``key`` is a ``config.error`` translation key."""

    def __init__(self, key: str, field: str = "base") -> None:
        """Remember which translated error to show and under which field."""
        super().__init__(key)
        self.key = key
        self.field = field


def refuse_credentials_in_url(url: str, field: str) -> None:
    """Refuse an address that carries credentials: they belong in their own (secret) fields.

    In a URL they would be stored and shown as plain text, and sent wherever it leads.
    """
    if url_has_credentials(url):
        raise FlowError("url_has_credentials", field)


def flow_error_for(err: ApiError) -> FlowError:
    """Translate an API error raised while validating a form."""
    if isinstance(err, ApiAuthError):
        return FlowError("invalid_auth")
    if isinstance(err, ApiForbiddenError):
        return FlowError("missing_permission")
    if isinstance(err, ApiConnectionError):
        return FlowError("cannot_connect")
    return FlowError("unknown")


def update_error_for(err: ApiError) -> Exception:
    """Translate an API error raised while refreshing data."""
    if isinstance(err, (ApiAuthError, ApiForbiddenError)):
        return ConfigEntryAuthFailed(
            translation_domain=DOMAIN,
            translation_key="auth_failed",
            translation_placeholders={"error": str(err)},
        )
    key = "invalid_response" if isinstance(err, ApiPayloadError) else "update_failed"
    return UpdateFailed(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders={"error": str(err)},
    )


def setup_error_for(err: ApiError) -> Exception:
    """Translate an API error raised while setting an entry up."""
    if isinstance(err, (ApiAuthError, ApiForbiddenError)):
        return update_error_for(err)
    return ConfigEntryNotReady(
        translation_domain=DOMAIN,
        translation_key="setup_failed",
        translation_placeholders={"error": str(err)},
    )


@asynccontextmanager
async def command_errors(action: str) -> AsyncIterator[None]:
    """Turn a failed user action (switch, button, number, select) into a translated error.

    A refusal of the credentials' role (``ApiForbiddenError``) says so and starts no
    re-authentication: the credentials work, they just may not do this.
    """
    try:
        yield
    except ApiForbiddenError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="action_forbidden",
            translation_placeholders={"action": action},
        ) from err
    except ApiCommandError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="command_failed",
            translation_placeholders={"command": err.command, "reason": err.reason},
        ) from err
    except ApiAuthError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="action_auth_failed",
            translation_placeholders={"action": action},
        ) from err
    except ApiError as err:
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="action_failed",
            translation_placeholders={"action": action, "error": str(err)},
        ) from err


# What is wrong with an argument -> its translation key (``exceptions.argument_<problem>``).
ARGUMENT_PROBLEMS = frozenset({"unknown", "missing", "type", "min", "max", "option"})


def argument_error(
    command: str, argument: str, problem: str, expected: str = ""
) -> ServiceValidationError:
    """A translated error naming the argument a command cannot be sent with, and why."""
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=f"argument_{problem}" if problem in ARGUMENT_PROBLEMS else "argument_type",
        translation_placeholders={
            "command": command,
            "argument": argument,
            "expected": expected or "-",
        },
    )
