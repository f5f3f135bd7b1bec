"""URL handling shared by the vendors: reading what a user typed, and hiding secrets.

Each vendor keeps its own rules (which schemes, a default scheme for a bare
host, which path suffix to drop) in its module; the mechanics live here so every
vendor refuses spaces, bad ports and hosts the same way.

``url_has_credentials`` and ``redact_url`` look for the two places a secret hides
in a URL: the userinfo (``user:pass@``) and query or fragment parameters named
like one (``access_token``, ``api_key``, ``password``...). Config flows refuse
such URLs (they would be stored and shown in plain text); diagnostics and logs
show them redacted.
"""

from __future__ import annotations

from collections.abc import Collection
import re
from typing import Final, Literal
from urllib.parse import unquote_plus

from yarl import URL

# The marker Home Assistant's diagnostics use, so redacted URLs read the same.
REDACTED: Final = "**REDACTED**"
HTTP_SCHEMES: Final = frozenset({"http", "https"})

type QueryRule = Literal["refuse", "drop", "keep"]

# Words that make a parameter name a secret's: access_token, api_key, apiKey,
# client_secret, password, X-Amz-Signature...
_SECRET_WORDS: Final = frozenset(
    {"token", "secret", "password", "passwd", "pwd", "key", "apikey", "signature", "jwt"}
)
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_WORD_SPLIT = re.compile(r"[^a-z0-9]+")
_SCHEME_AUTHORITY = re.compile(r"^(?:[A-Za-z][A-Za-z0-9+.\-]*:)?//([^/?#]*)")


def parse_url(
    text: str,
    *,
    schemes: Collection[str] = HTTP_SCHEMES,
    default_scheme: str | None = None,
    host_pattern: re.Pattern[str] | None = None,
    query: QueryRule = "refuse",
    allow_credentials: bool = False,
) -> URL:
    """Read a URL a user typed; raise ValueError saying what is wrong with it.

    Surrounding whitespace is ignored, inner whitespace refused. Text without
    ``://`` gets ``default_scheme`` (or is refused without one). The scheme must
    be one of ``schemes``, the host present (and match ``host_pattern``), an
    explicit port in 1-65535. ``query`` says what happens to a query or fragment.
    """
    text = text.strip()
    if not text:
        raise ValueError("URL is empty")
    if any(ch.isspace() for ch in text):
        raise ValueError("URL must not contain spaces")
    if "://" not in text:
        if default_scheme is None:
            raise ValueError(f"URL has no scheme: {text!r}")
        text = f"{default_scheme}://{text}"
    try:
        url = URL(text)
        port = url.explicit_port
    except (ValueError, TypeError) as err:
        raise ValueError(f"not a URL: {text!r}") from err
    if url.scheme not in schemes:
        raise ValueError(f"not a {'/'.join(sorted(schemes))} URL: {text!r}")
    if not url.host or (host_pattern is not None and not host_pattern.match(url.host)):
        raise ValueError(f"no valid host in {text!r}")
    if port is not None and not 0 < port < 65536:
        raise ValueError(f"bad port in {text!r}")
    if not allow_credentials and (url.user or url.password):
        raise ValueError("URL must not carry credentials")
    if query == "refuse" and (url.query_string or url.fragment):
        raise ValueError("URL must not carry a query or fragment")
    if query == "drop":
        url = url.with_query(None).with_fragment(None)
    return url


def strip_path_suffix(path: str, suffix: str, *, ignore_case: bool = False) -> str:
    """Drop trailing slashes, then ``suffix`` once if the path ends with it."""
    path = path.rstrip("/")
    ends = path.lower().endswith(suffix.lower()) if ignore_case else path.endswith(suffix)
    return path[: -len(suffix)] if ends else path


def base_url(url: URL, path: str) -> str:
    """``url`` with ``path`` as text without a trailing slash (the form stored in entries)."""
    return str(url.with_path(path or "/")).rstrip("/")


def _is_secret_name(name: str) -> bool:
    decoded = unquote_plus(name)
    words = _WORD_SPLIT.split(_CAMEL.sub("_", decoded).lower())
    return any(word in _SECRET_WORDS for word in words)


def _userinfo_span(url: str) -> tuple[int, int] | None:
    """Where the userinfo (before ``@`` in the authority) is, if there is one."""
    match = _SCHEME_AUTHORITY.match(url)
    if match is not None:
        start, authority = match.start(1), match.group(1)
    else:
        # No "//": a user may have typed "user:pass@host/path" without a scheme.
        start = 0
        authority = re.split(r"[/?#]", url, maxsplit=1)[0]
    at = authority.rfind("@")
    return (start, start + at) if at > 0 else None


def _redact_params(params: str) -> str:
    parts = params.split("&")
    for index, part in enumerate(parts):
        name, sep, value = part.partition("=")
        if sep and value and value != REDACTED and _is_secret_name(name):
            parts[index] = f"{name}={REDACTED}"
    return "&".join(parts)


def redact_url(url: str) -> str:
    """Return ``url`` with its userinfo and secret-named parameter values replaced by REDACTED.

    Everything else stays byte for byte, so the result still shows which host,
    path and other parameters were used. Never raises.
    """
    span = _userinfo_span(url)
    if span is not None and url[span[0] : span[1]] != REDACTED:
        url = url[: span[0]] + REDACTED + url[span[1] :]
    head, hash_sign, fragment = url.partition("#")
    base, question, query = head.partition("?")
    if question:
        head = base + question + _redact_params(query)
    if hash_sign:
        # OAuth implicit grants put tokens in the fragment ("#access_token=...").
        fragment = _redact_params(fragment)
    return head + hash_sign + fragment


def url_has_credentials(url: str) -> bool:
    """Whether ``url`` carries a userinfo or a secret-named parameter with a value."""
    return redact_url(url) != url
