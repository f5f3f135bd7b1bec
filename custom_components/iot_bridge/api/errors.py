"""The small set of errors every vendor client raises.

The Home Assistant side maps these once (see ``errors.py`` one level up), so a
vendor client never decides how a failure is shown to the user.
"""

from __future__ import annotations


class ApiError(Exception):
    """Base class of every error a vendor client raises."""


class ApiAuthError(ApiError):
    """The credentials or token were refused."""


class ApiForbiddenError(ApiError):
    """The credentials are valid but lack a right we need."""


class ApiConnectionError(ApiError):
    """The vendor could not be reached, timed out, or answered 5xx."""


class ApiRateLimitError(ApiConnectionError):
    """The vendor asked us to slow down (HTTP 429)."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        """Keep the server's Retry-After, in seconds, when it sent one."""
        super().__init__(message)
        self.retry_after = retry_after


class ApiPayloadError(ApiError):
    """The vendor answered with something that is not its documented format."""


class ApiCommandError(ApiError):
    """A command reached the vendor but did not succeed."""

    def __init__(self, command: str, reason: str) -> None:
        """Name the command and why it failed so the user can be told both."""
        super().__init__(f"{command}: {reason}")
        self.command = command
        self.reason = reason
