"""The integration's strings stay plain text, as hassfest demands.

Home Assistant refuses HTML in translation strings; anything that looks like a tag
(``<gateway address>``, ``<b>``, ``</p>``) fails hassfest and so HACS' and Home
Assistant's own validation. Placeholders are written ``{name}`` instead.
"""

from __future__ import annotations

from collections.abc import Iterator
import json
from pathlib import Path
import re
from typing import Any

import pytest

INTEGRATION = Path(__file__).resolve().parent.parent / "custom_components" / "iot_bridge"
STRING_FILES = [
    INTEGRATION / "strings.json",
    *sorted((INTEGRATION / "translations").glob("*.json")),
]
# "<" followed by a letter (or "</" and a letter): an HTML tag or a <placeholder>.
TAG = re.compile(r"</?[A-Za-z]")


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Override the suite's autouse fixture: these tests only read files, no Home Assistant."""


def _strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _strings(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _strings(value, f"{path}[{index}]")
    elif isinstance(node, str):
        yield path, node


def test_string_files_found() -> None:
    assert (INTEGRATION / "strings.json").is_file()
    assert (INTEGRATION / "translations" / "en.json").is_file()


@pytest.mark.parametrize("path", STRING_FILES, ids=lambda p: p.relative_to(INTEGRATION).as_posix())
def test_no_html_in_strings(path: Path) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    offending = [f"{key}: {text!r}" for key, text in _strings(data) if TAG.search(text)]
    assert not offending, (
        f"{path.name}: strings with '<' before a letter (hassfest refuses HTML; "
        "write placeholders as {name} or rephrase):\n  " + "\n  ".join(offending)
    )


def test_tag_pattern() -> None:
    assert TAG.search("http://<gateway address>/api")
    assert TAG.search("bold</b>")
    assert not TAG.search("a value < 5, or <= 10")
    assert not TAG.search("{project}.instathings.io")


def test_english_translation_matches_strings() -> None:
    strings = (INTEGRATION / "strings.json").read_bytes()
    english = (INTEGRATION / "translations" / "en.json").read_bytes()
    assert english == strings, "translations/en.json must be a copy of strings.json"
