"""`make bench-scale` (`python -m bench.scale [--events 10000000] [--baseline 1000000]`):
the log generated at two sizes (bench/data.py, whose saves of 1,000 enrollments go by the
bulk path's COPY) and rebuilt, each step in a child process so its peak RSS is its own; then
whether time grows linearly with events and memory stays flat. Not part of CI: the 10 M run
takes most of an hour on 2 cores and about 5 GB of disk."""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from bench.__main__ import drop_schema, machine, postgres_settings, step
from bench.data import EVENTS_PER_ENROLLMENT, Shape, generate
from bench.rebuild import in_child, rebuild
from bootstrap import Settings, bootstrap

RESULTS = Path(__file__).resolve().parent / "scale-results.json"
HOURS = 3600 * 4
# Time per event within this of the smaller run's counts as linear; peak RSS within this, flat.
LINEAR = 1.25
FLAT = 1.15


def _generate(settings: Settings, shape: Shape, results: Any) -> None:
    services = bootstrap(settings)
    try:
        started = time.perf_counter()
        head = generate(services.ledger, shape)
        elapsed = time.perf_counter() - started
    finally:
        services.close()
    results.put(
        {
            "events": head,
            "seconds": elapsed,
            "events_per_second": head / elapsed,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )


def measure(database_url: str, events: int) -> dict[str, Any]:
    shape = Shape(learners=max(1, events // (Shape(1).courses * EVENTS_PER_ENROLLMENT)))
    settings = postgres_settings(database_url, "scale")
    try:
        step(f"generating {shape.events:,} events")
        generated = in_child(_generate, settings, shape, timeout=HOURS)
        step(f"rebuilding {shape.events:,} events")
        rebuilt = rebuild(settings, timeout=HOURS)
    finally:
        drop_schema(settings)
    return {"generate": generated, "rebuild": rebuilt}


def compare(small: dict[str, Any], large: dict[str, Any]) -> dict[str, Any]:
    """Per step: how much more time per event the larger run took, and how much more memory."""
    verdicts: dict[str, Any] = {}
    for name in ("generate", "rebuild"):
        a, b = small[name], large[name]
        time_per_event = (b["seconds"] / b["events"]) / (a["seconds"] / a["events"])
        rss = b["peak_rss_mb"] / a["peak_rss_mb"]
        verdicts[name] = {
            "events": [a["events"], b["events"]],
            "seconds": [round(a["seconds"], 1), round(b["seconds"], 1)],
            "events_per_second": [round(a["events_per_second"]), round(b["events_per_second"])],
            "peak_rss_mb": [round(a["peak_rss_mb"]), round(b["peak_rss_mb"])],
            "time_per_event_ratio": round(time_per_event, 2),
            "linear": time_per_event <= LINEAR,
            "rss_ratio": round(rss, 2),
            "flat": rss <= FLAT,
        }
    return verdicts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scale", description=__doc__)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--baseline", type=int, default=1_000_000)
    parser.add_argument(
        "--database-url",
        default=os.environ.get("LEDGER_BENCH_DATABASE_URL")
        or os.environ.get("LEDGER_TEST_DATABASE_URL")
        or "postgresql://postgres@127.0.0.1:5432/postgres",
    )
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    started = datetime.now(UTC)
    small = measure(args.database_url, args.baseline)
    large = measure(args.database_url, args.events)
    verdicts = compare(small, large)
    results = {
        "date": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "runs": {"baseline": small, "large": large},
        "verdicts": verdicts,
    }
    args.output.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2) + b"\n")
    print("| step | events | seconds | events/s | peak RSS MB | time/event | RSS | verdict |")
    print("|---|---|---|---|---|---|---|---|")
    for name, v in verdicts.items():
        verdict = f"{'linear' if v['linear'] else '**not linear**'}, "
        verdict += "flat" if v["flat"] else "**memory grows**"
        print(
            f"| {name} | {v['events'][0]:,} → {v['events'][1]:,} | "
            f"{v['seconds'][0]} → {v['seconds'][1]} | "
            f"{v['events_per_second'][0]:,} → {v['events_per_second'][1]:,} | "
            f"{v['peak_rss_mb'][0]} → {v['peak_rss_mb'][1]} | "
            f"{v['time_per_event_ratio']}× | {v['rss_ratio']}× | {verdict} |"
        )
    print(f"\nwritten to {args.output}", file=sys.stderr)
    met = all(v["linear"] and v["flat"] for v in verdicts.values())
    return 0 if met else 1


if __name__ == "__main__":
    raise SystemExit(main())
