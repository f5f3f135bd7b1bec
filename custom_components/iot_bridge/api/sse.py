"""Incremental Server-Sent Events parser (W3C EventSource "interpreting an event stream").

Feed it chunks of bytes (or already decoded text) as they arrive; it returns the
events that became complete. It knows nothing about HTTP or about any vendor.

Work is linear in the input however it is chunked: each chunk is scanned once,
and an unfinished line is kept as a list of pieces joined once when it ends (a
server sending a long line one byte at a time must not cost quadratic time).
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass
import re

from .errors import ApiPayloadError

# Generous for JSON uplinks (a few hundred bytes each) yet small enough that a
# hostile or broken server cannot make us buffer without bound.
DEFAULT_MAX_LINE = 64 * 1024
DEFAULT_MAX_EVENT = 256 * 1024

_LINE_END = re.compile(r"\r\n|\r|\n")
_BOM = "\ufeff"


class SseError(ApiPayloadError, ValueError):
    """The stream broke a size guard; the connection should be dropped.

    Still a ValueError, which it was before it joined the API errors.
    """


@dataclass(frozen=True, slots=True)
class SseEvent:
    """One dispatched event.

    ``last_event_id`` is the stream's last event ID at dispatch time, as the W3C
    model defines it: it carries over from earlier events until an ``id:`` field
    changes it. An event with ``data == ""`` came from a bare ``data:`` line,
    which servers send as a keep-alive.
    """

    data: str
    event: str = "message"
    last_event_id: str = ""


class SseParser:
    """Turn an event stream, in arbitrary chunks, into SseEvent objects."""

    def __init__(
        self, max_line: int = DEFAULT_MAX_LINE, max_event: int = DEFAULT_MAX_EVENT
    ) -> None:
        """Set the guards: longest line and largest event data, in characters."""
        self._max_line = max_line
        self._max_event = max_event
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        # The unfinished line: pieces from earlier chunks and their total length.
        self._pending: list[str] = []
        self._pending_size = 0
        self._started = False
        # A chunk ended in CR: a LF opening the next chunk belongs to the same line end.
        self._skip_lf = False
        self._data: list[str] = []
        self._data_size = 0
        self._event_type = ""
        self._id_buffer = ""
        self.last_event_id = ""
        self.retry_ms: int | None = None

    def feed(self, chunk: bytes | str) -> list[SseEvent]:
        """Consume one chunk and return the events it completed, in order."""
        text = self._decoder.decode(chunk) if isinstance(chunk, bytes) else chunk
        if not text:
            return []
        if not self._started:
            # Only one BOM, and only at the very start of the stream, is dropped.
            self._started = True
            text = text.removeprefix(_BOM)
        if self._skip_lf and text.startswith("\n"):
            text = text[1:]
        self._skip_lf = False
        events: list[SseEvent] = []
        position = 0
        while (match := _LINE_END.search(text, position)) is not None:
            line = text[position : match.start()]
            if self._pending:
                self._pending.append(line)
                line = "".join(self._pending)
                self._pending.clear()
                self._pending_size = 0
            if len(line) > self._max_line:
                raise SseError(f"SSE line longer than {self._max_line} characters")
            position = match.end()
            if match.group() == "\r" and position == len(text):
                self._skip_lf = True
            event = self._process_line(line)
            if event is not None:
                events.append(event)
        if position < len(text):
            rest = text[position:]
            self._pending.append(rest)
            self._pending_size += len(rest)
            if self._pending_size > self._max_line:
                raise SseError(f"SSE line longer than {self._max_line} characters")
        return events

    def _process_line(self, line: str) -> SseEvent | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None
        field, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if field == "data":
            self._data_size += len(value) + 1
            if self._data_size > self._max_event:
                raise SseError(f"SSE event larger than {self._max_event} characters")
            self._data.append(value)
        elif field == "event":
            self._event_type = value
        elif field == "id":
            if "\0" not in value:
                self._id_buffer = value
        elif field == "retry" and value.isascii() and value.isdigit():
            self.retry_ms = int(value)
        return None

    def _dispatch(self) -> SseEvent | None:
        self.last_event_id = self._id_buffer
        data, event_type = self._data, self._event_type
        self._data, self._data_size, self._event_type = [], 0, ""
        if not data:
            return None
        return SseEvent("\n".join(data), event_type or "message", self.last_event_id)
