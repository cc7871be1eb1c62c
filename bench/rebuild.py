"""Rebuild figures, each measured in a child process so its peak RSS is the rebuild's own."""

from __future__ import annotations

import multiprocessing
import resource
import time
from typing import Any

from bench.peer import run_peer
from bootstrap import Settings, bootstrap
from eventstore.environment import library_environment


def _rebuild(settings: Settings, until: int | None, results: Any) -> None:
    services = bootstrap(settings)
    try:
        generation = services.generations.create(services.generations.live().rules)
        started, cpu_started = time.perf_counter(), time.process_time()
        generation = services.engine.catch_up(generation, until=until)
        services.generations.index_for_reads(generation.number)  # as a switching rebuild does
        elapsed = time.perf_counter() - started
        # The whole process's CPU (the writer thread's too); its other threads sit idle.
        cpu = time.process_time() - cpu_started
        services.generations.drop(generation.number)
    finally:
        services.close()
    results.put(
        {
            "events": generation.position,
            "seconds": elapsed,
            "events_per_second": generation.position / elapsed,
            "cpu_seconds": cpu,
            "cpu_us_per_event": cpu / max(generation.position, 1) * 1e6,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }
    )


def _peer(settings: Settings, events: int, results: Any) -> None:
    env = library_environment(settings.store_options())
    # The peer runs the library as it comes: its own transcoder and mapper (which leaves
    # sealed personal fields sealed; the peer only copies them).
    env.pop("TRANSCODER_TOPIC", None)
    env.pop("MAPPER_TOPIC", None)
    results.put({"events": events, "events_per_second": run_peer(env, events, timeout=600)})


def in_child(target: Any, *args: Any, timeout: float = 900) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=target, args=(*args, results))
    child.start()
    outcome: dict[str, Any] = results.get(timeout=timeout)
    child.join()
    return outcome


def rebuild(settings: Settings, until: int | None = None, timeout: float = 900) -> dict[str, Any]:
    """Replays the log from 0 (up to `until`) into a fresh generation, then drops it."""
    return in_child(_rebuild, settings, until, timeout=timeout)


def peer(settings: Settings, events: int) -> dict[str, Any]:
    return in_child(_peer, settings, events)
