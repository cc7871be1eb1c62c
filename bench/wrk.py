"""Closed-loop load with wrk (Debian's package): C, event-driven, not the bottleneck here."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

SCRIPT = """
local paths = {}
for line in io.lines("%(paths)s") do paths[#paths + 1] = line end
local counter = 0
local created = 0
function setup(thread)
  thread:set("offset", created)
  created = created + 1
end
function init(args)
  counter = offset
end
wrk.method = "%(method)s"
wrk.body = %(body)s
wrk.headers["Content-Type"] = "application/json"
function request()
  counter = counter + %(threads)d
  if %(keyed)s then
    -- A key of its own for every request, as a client that retries safely sends.
    wrk.headers["Idempotency-Key"] = string.format("%(key_prefix)s-%%d", counter)
  end
  return wrk.format(nil, paths[(counter %% #paths) + 1])
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK {"requests": %%d, "duration_us": %%d, "non2xx": %%d, "socket_errors": %%d, '
    .. '"p50_us": %%d, "p99_us": %%d}\\n',
    summary.requests, summary.duration, e.status, e.connect + e.read + e.write + e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""


def wrk_version() -> str:
    if shutil.which("wrk") is None:
        return "missing"
    done = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    return (done.stdout or done.stderr).splitlines()[0].strip()


def run_wrk(
    base_url: str,
    paths: list[str],
    workdir: Path,
    *,
    method: str = "GET",
    body: str | None = None,
    connections: int = 64,
    seconds: float = 10,
    threads: int = 2,
    key_prefix: str | None = None,
) -> dict[str, Any]:
    """Requests/s, p50 and p99 (ms) of `connections` clients cycling through `paths`; with
    `key_prefix`, each request carries an Idempotency-Key of its own."""
    paths_file = workdir / f"paths-{method.lower()}-{len(paths)}.txt"
    paths_file.write_text("\n".join(paths) + "\n")
    script = workdir / f"wrk-{method.lower()}{'-keyed' if key_prefix else ''}.lua"
    script.write_text(
        SCRIPT
        % {
            "paths": paths_file,
            "method": method,
            "body": "nil" if body is None else json.dumps(body),
            "threads": threads,
            "keyed": "true" if key_prefix else "false",
            "key_prefix": key_prefix or "",
        }
    )
    done = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(seconds))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            base_url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    line = next(line for line in done.stdout.splitlines() if line.startswith("WRK "))
    raw = json.loads(line[4:])
    seconds_run = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "requests_per_second": raw["requests"] / seconds_run,
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "non_2xx": raw["non2xx"],
        "socket_errors": raw["socket_errors"],
        "connections": connections,
    }
