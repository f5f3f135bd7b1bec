"""SSE parser: time to read one long line fed in chunks of 1 byte up to 64 KiB.

    .venv/bin/python -m benchmarks.sse_parser [--sizes 25000,50000,100000,200000]

A server (or a broken proxy) may send a long ``data:`` line in tiny pieces. The
parser used to re-scan its whole buffer on every chunk, so the time grew with the
square of the line length when fed byte by byte; now it should grow linearly:
doubling the size should roughly double the time in every column.
"""

from __future__ import annotations

import argparse
import time

from custom_components.iot_bridge.api.sse import SseParser

CHUNK_SIZES = (1, 16, 1024, 65536)


def read_line(size: int, chunk: int) -> float:
    """Seconds to parse one event whose data line holds ``size`` characters."""
    stream = ("data: " + "x" * size + "\n\n").encode()
    parser = SseParser(max_line=size + 16, max_event=size + 16)
    start = time.perf_counter()
    events = []
    for offset in range(0, len(stream), chunk):
        events.extend(parser.feed(stream[offset : offset + chunk]))
    elapsed = time.perf_counter() - start
    if len(events) != 1 or len(events[0].data) != size:
        raise SystemExit(f"wrong result for size {size}, chunk {chunk}")
    return elapsed


def main() -> None:
    """Print one row per line size: seconds per chunk size, and per-byte cost at 1 byte."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="25000,50000,100000,200000")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    header = "".join(f"{f'chunk {chunk} B':>14}" for chunk in CHUNK_SIZES)
    print(f"{'line chars':>10}{header}{'ns/char @1B':>14}")
    for size in sizes:
        times = [read_line(size, chunk) for chunk in CHUNK_SIZES]
        row = "".join(f"{seconds:>13.4f}s" for seconds in times)
        print(f"{size:>10}{row}{times[0] / size * 1e9:>14.0f}")


if __name__ == "__main__":
    main()
