"""Open-loop load at a fixed rate, in its own process: request i is due at start + i/rate and
its latency counts from then, so a slow server cannot slow the clock (no coordinated
omission). Raw HTTP/1.1 keep-alive over asyncio streams (uvloop when present)."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any


class Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    async def get(self, request: bytes) -> int:
        self.writer.write(request)
        status_line = await self.reader.readline()
        length = 0
        while (header := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = header.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        await self.reader.readexactly(length)
        return int(status_line.split()[1])


async def load(
    host: str, port: int, paths: list[str], rate: float, seconds: float, connections: int
) -> dict[str, Any]:
    idle: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(connections):
        idle.put_nowait(Connection(*await asyncio.open_connection(host, port)))
    requests = [f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode() for path in paths]
    loop = asyncio.get_running_loop()
    latencies: list[float] = []
    failures = 0
    total = int(rate * seconds)
    start = loop.time() + 0.05

    async def one(index: int) -> None:
        nonlocal failures
        connection = await idle.get()
        try:
            status = await connection.get(requests[index % len(requests)])
        finally:
            idle.put_nowait(connection)
        latencies.append(loop.time() - (start + index / rate))
        if status != 200:
            failures += 1

    tasks = []
    for index in range(total):
        delay = start + index / rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index)))
    await asyncio.gather(*tasks)
    elapsed = loop.time() - start
    latencies.sort()
    return {
        "requests": total,
        "requests_per_second": total / elapsed,
        "target_rate": rate,
        "p50_ms": latencies[len(latencies) // 2] * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "non_2xx": failures,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--paths", type=Path, required=True)
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvicorn[standard] brings it
        pass
    paths = args.paths.read_text().split()
    outcome = asyncio.run(
        load("127.0.0.1", args.port, paths, args.rate, args.seconds, args.connections)
    )
    json.dump(outcome, sys.stdout)


if __name__ == "__main__":
    main()
