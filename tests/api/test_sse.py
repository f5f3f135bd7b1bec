"""The W3C EventSource parser, fed in every awkward way a network can split a stream."""

from __future__ import annotations

from collections.abc import Iterator
import re

import pytest

from custom_components.iot_bridge.api import sse
from custom_components.iot_bridge.api.errors import ApiPayloadError
from custom_components.iot_bridge.api.sse import SseError, SseEvent, SseParser


def parse_all(*chunks: bytes | str, parser: SseParser | None = None) -> list[SseEvent]:
    parser = parser or SseParser()
    events: list[SseEvent] = []
    for chunk in chunks:
        events.extend(parser.feed(chunk))
    return events


def test_single_event_with_id_and_default_type() -> None:
    assert parse_all("data: hello\nid: 7\n\n") == [SseEvent("hello", "message", "7")]


def test_multi_line_data_joined_with_newline() -> None:
    events = parse_all('data:{\ndata:  "a": 1\ndata:}\n\n')
    assert events == [SseEvent('{\n "a": 1\n}', "message", "")]


def test_only_one_leading_space_is_stripped_and_colons_in_value_kept() -> None:
    assert parse_all("data:  two spaces: and a colon\n\n")[0].data == " two spaces: and a colon"


def test_field_without_colon_has_empty_value() -> None:
    # "data" alone adds an empty line; with a second data line the join shows it.
    assert parse_all("data\ndata: x\n\n")[0].data == "\nx"


def test_bare_data_is_dispatched_as_empty_keepalive() -> None:
    assert parse_all("data:\n\n") == [SseEvent("", "message", "")]


def test_event_without_data_is_not_dispatched() -> None:
    assert parse_all("event: ping\n\n", "id: 5\n\n", ": just a comment\n\n") == []


def test_id_without_data_still_sets_last_event_id() -> None:
    parser = SseParser()
    assert parse_all("id: 5\n\n", parser=parser) == []
    assert parser.last_event_id == "5"
    assert parse_all("data: x\n\n", parser=parser) == [SseEvent("x", "message", "5")]


def test_last_event_id_carries_over_until_changed_and_can_be_reset() -> None:
    events = parse_all("data: a\nid: 1\n\ndata: b\n\nid\ndata: c\n\n")
    assert [e.last_event_id for e in events] == ["1", "1", ""]


def test_id_containing_nul_is_ignored() -> None:
    events = parse_all("id: good\ndata: a\n\nid: b\0ad\ndata: b\n\n")
    assert [e.last_event_id for e in events] == ["good", "good"]


def test_event_type_applies_to_one_event_only() -> None:
    events = parse_all("event: uplink\ndata: a\n\ndata: b\n\n")
    assert [e.event for e in events] == ["uplink", "message"]


def test_comments_are_ignored_inside_an_event() -> None:
    assert parse_all(": hi\ndata: a\n:another\ndata: b\n\n")[0].data == "a\nb"


def test_unknown_fields_are_ignored() -> None:
    assert parse_all('  "dev_eui": "x",\nfoo: bar\ndata: a\n\n') == [SseEvent("a", "message", "")]


def test_retry_sets_reconnection_time_only_when_all_digits() -> None:
    parser = SseParser()
    parse_all("retry: 2500\n\n", parser=parser)
    assert parser.retry_ms == 2500
    parse_all("retry: 12a\n\nretry: -1\n\n", parser=parser)
    assert parser.retry_ms == 2500


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"])
def test_all_line_endings(ending: str) -> None:
    text = f"data: a{ending}data: b{ending}id: 9{ending}{ending}data: c{ending}{ending}"
    assert parse_all(text) == [SseEvent("a\nb", "message", "9"), SseEvent("c", "message", "9")]


def test_crlf_split_across_chunks_is_one_line_end() -> None:
    # Were the LF read as a second line end, the blank line would dispatch "a" alone.
    events = parse_all("data: a\r", "\ndata: b\r\n\r\n")
    assert events == [SseEvent("a\nb", "message", "")]


def test_lone_cr_at_chunk_end_then_text() -> None:
    assert parse_all("data: a\r", "data: b\r\r") == [SseEvent("a\nb", "message", "")]


def test_cr_then_blank_line_dispatches_once_chunk_boundary_known() -> None:
    parser = SseParser()
    assert parser.feed("data: a\r") == []
    assert parser.feed("\r") == [SseEvent("a", "message", "")]


def test_byte_by_byte_feeding_with_multibyte_utf8() -> None:
    raw = "data: température 21,5 °C\nid: é\n\n".encode()
    events = parse_all(*[raw[i : i + 1] for i in range(len(raw))])
    assert events == [SseEvent("température 21,5 °C", "message", "é")]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert parse_all(b"data: \xff\n\n")[0].data == "\ufffd"


def test_bom_at_start_is_dropped_once() -> None:
    assert parse_all(b"\xef\xbb\xbfdata: a\n\n") == [SseEvent("a", "message", "")]
    # Split across chunks, too.
    assert parse_all(b"\xef", b"\xbb", b"\xbfdata: a\n\n")[0].data == "a"
    # A second BOM is part of the field name, so that line is an unknown field.
    assert parse_all("\ufeff\ufeffdata: a\n\n") == []


def test_incomplete_event_at_end_is_not_dispatched() -> None:
    assert parse_all("data: a\n", "data: b") == []


def test_long_line_guard_trips_before_buffering_too_much() -> None:
    parser = SseParser(max_line=32, max_event=1000)
    with pytest.raises(SseError):
        parser.feed("data: " + "x" * 40)  # no line end yet


def test_long_complete_line_guard() -> None:
    parser = SseParser(max_line=32, max_event=1000)
    with pytest.raises(SseError):
        parser.feed("data: " + "x" * 40 + "\n")


def test_event_size_guard_counts_many_short_lines() -> None:
    parser = SseParser(max_line=100, max_event=50)
    with pytest.raises(SseError):
        parser.feed("data: 0123456789\n" * 10)


def test_guards_allow_data_at_the_limit() -> None:
    parser = SseParser(max_line=16, max_event=12)
    assert parser.feed("data:0123456789a\n\n") == [SseEvent("0123456789a", "message", "")]


# --- linear work whatever the chunking ---------------------------------------------


def test_long_line_fed_one_byte_at_a_time_is_read_whole() -> None:
    """A 200 KB line in 200 000 chunks: one event, exactly the data sent."""
    data = "".join(chr(ord("a") + i % 26) for i in range(200_000))
    stream = f"id: 9\ndata: {data}\n\n".encode()
    parser = SseParser(max_line=256 * 1024, max_event=256 * 1024)
    events: list[SseEvent] = []
    for index in range(len(stream)):
        events.extend(parser.feed(stream[index : index + 1]))
    assert events == [SseEvent(data, "message", "9")]


class _CountingPattern:
    """Stands in for the line-end regex and counts the characters it is asked to scan."""

    def __init__(self, pattern: re.Pattern[str]) -> None:
        self.pattern = pattern
        self.scanned = 0

    def search(self, text: str, pos: int = 0) -> re.Match[str] | None:
        match = self.pattern.search(text, pos)
        self.scanned += (match.end() if match else len(text)) - pos
        return match

    def finditer(self, text: str, pos: int = 0) -> Iterator[re.Match[str]]:
        self.scanned += len(text) - pos
        return self.pattern.finditer(text, pos)


def test_each_character_is_scanned_once(monkeypatch: pytest.MonkeyPatch) -> None:
    """Before the fix the whole buffered line was re-scanned on every chunk: quadratic work."""
    counting = _CountingPattern(sse._LINE_END)
    monkeypatch.setattr(sse, "_LINE_END", counting)
    stream = ("data: " + "x" * 20_000 + "\n\n").encode()
    parser = SseParser()
    events: list[SseEvent] = []
    for index in range(len(stream)):
        events.extend(parser.feed(stream[index : index + 1]))
    assert [len(event.data) for event in events] == [20_000]
    assert counting.scanned <= 2 * len(stream)


def test_unfinished_line_guard_trips_as_soon_as_the_limit_is_passed() -> None:
    parser = SseParser(max_line=1000)
    for _ in range(1000):
        assert parser.feed(b"x") == []
    with pytest.raises(SseError):
        parser.feed(b"x")


def test_size_guard_errors_are_api_payload_errors() -> None:
    with pytest.raises(ApiPayloadError):
        SseParser(max_line=10).feed("data: " + "x" * 20)
