"""URL mechanics shared by the vendors, and finding and hiding secrets in URLs."""

from __future__ import annotations

import pytest

from custom_components.iot_bridge.api.instathings import (
    normalize_api_url,
    normalize_websocket_url,
)
from custom_components.iot_bridge.api.netemera import normalize_url as netemera_url
from custom_components.iot_bridge.api.urls import (
    REDACTED,
    base_url,
    parse_url,
    redact_url,
    strip_path_suffix,
    url_has_credentials,
)

# --- secrets --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "redacted"),
    [
        ("https://user:pass@meter.local/api", f"https://{REDACTED}@meter.local/api"),
        ("https://user@meter.local", f"https://{REDACTED}@meter.local"),
        ("https://u:p@ss@host/x", f"https://{REDACTED}@host/x"),
        ("user:pass@meter.local/api", f"{REDACTED}@meter.local/api"),
        ("//user:pass@meter.local", f"//{REDACTED}@meter.local"),
        (
            "wss://wss.instathings.io/?project=demo&access_token=eyJ.abc.def",
            f"wss://wss.instathings.io/?project=demo&access_token={REDACTED}",
        ),
        (
            "https://u:p@h/p?token=1&a=b&api_key=2&apiKey=3&client_secret=4&password=5&key=6",
            f"https://{REDACTED}@h/p?token={REDACTED}&a=b&api_key={REDACTED}"
            f"&apiKey={REDACTED}&client_secret={REDACTED}&password={REDACTED}&key={REDACTED}",
        ),
        ("https://h/p?access%5Ftoken=x", f"https://h/p?access%5Ftoken={REDACTED}"),
        ("https://h/p?X-Amz-Signature=abc", f"https://h/p?X-Amz-Signature={REDACTED}"),
        ("https://h/cb#access_token=x&state=1", f"https://h/cb#access_token={REDACTED}&state=1"),
    ],
)
def test_credentials_are_found_and_redacted(url: str, redacted: str) -> None:
    assert url_has_credentials(url)
    assert redact_url(url) == redacted
    assert not url_has_credentials(redacted)
    assert redact_url(redacted) == redacted


@pytest.mark.parametrize(
    "url",
    [
        "https://api.enapter.com",
        "http://192.168.1.20:8080/api",
        "https://h/p?project=demo&monkey=1&keyword=x&tokens",
        "https://h/p?token=",  # an empty value is no secret
        "https://@host/",
        "https://h/user@example.com",
        "https://h/p?email=a@b.c",
        "",
        "not a url at all",
        "http://[::1",
    ],
)
def test_urls_without_credentials_are_left_alone(url: str) -> None:
    assert not url_has_credentials(url)
    assert redact_url(url) == url


# --- mechanics ------------------------------------------------------------------------


def test_parse_url_default_scheme_and_query_rules() -> None:
    assert str(parse_url("host.local/x", default_scheme="https")) == "https://host.local/x"
    with pytest.raises(ValueError, match="no scheme"):
        parse_url("host.local")
    with pytest.raises(ValueError, match="query"):
        parse_url("https://h/?a=1")
    assert parse_url("https://h/?a=1#f", query="drop").query_string == ""
    assert parse_url("https://h/?a=1", query="keep").query_string == "a=1"


@pytest.mark.parametrize(
    "text",
    [
        "",
        "  ",
        "https://h st",
        "ftp://h",
        "https://",
        "https://h:0",
        "https://h:70000",
        "https://h:x",
    ],
)
def test_parse_url_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_url(text)


def test_parse_url_credentials_only_when_allowed() -> None:
    with pytest.raises(ValueError, match="credentials"):
        parse_url("https://u:p@h")
    assert parse_url("https://u:p@h", allow_credentials=True).user == "u"


def test_path_helpers() -> None:
    assert strip_path_suffix("/x/API//", "/api", ignore_case=True) == "/x"
    assert strip_path_suffix("/x/API", "/api") == "/x/API"
    assert base_url(parse_url("https://h/"), "") == "https://h"


# --- vendor rules built on them ----------------------------------------------------


def test_netemera_url_keeps_the_text_as_typed() -> None:
    assert netemera_url(" https://Lns.Example/api/v3/ ") == "https://Lns.Example/api/v3"
    for bad in ("lns.example/api/v3", "ftp://lns.example", "https:///api/v3"):
        with pytest.raises(ValueError):
            netemera_url(bad)


def test_instathings_endpoint_overrides() -> None:
    assert normalize_api_url(" https://acme.instathings.io/ ") == "https://acme.instathings.io"
    assert normalize_websocket_url("wss://wss.instathings.io/") == "wss://wss.instathings.io/"
    assert normalize_websocket_url("https://proxy.local/ws") == "https://proxy.local/ws"
    with pytest.raises(ValueError):
        normalize_api_url("wss://wss.instathings.io")
    with pytest.raises(ValueError):
        normalize_websocket_url("ftp://wss.instathings.io")
