"""The table `make bench` prints, and each target judged against the figures."""

from __future__ import annotations

from typing import Any


def targets(figures: dict[str, Any]) -> list[dict[str, Any]]:
    rebuild = figures["rebuild_postgres"]
    commands, noop = figures["commands"], figures["noop"]
    roster = figures["roster_page"]
    rss_growth = rebuild["peak_rss_mb"] / rebuild["half"]["peak_rss_mb"]
    checks = [
        ("rebuild events/s (PostgreSQL)", rebuild["events_per_second"], ">=", 50_000),
        (
            "rebuild vs library ProjectionRunner",
            rebuild["events_per_second"] / rebuild["peer"]["events_per_second"],
            ">=",
            40,
        ),
        ("rebuild peak RSS, all / half the log", rss_growth, "<=", 1.15),
        (
            "durable completions vs no-op endpoint",
            commands["requests_per_second"] / noop["requests_per_second"],
            ">=",
            0.6,
        ),
        ("durable completions p99 ms", commands["p99_ms"], "<=", 50),
        (
            "keyed completions vs plain ones",
            figures["keyed_commands"]["requests_per_second"] / commands["requests_per_second"],
            ">=",
            0.9,
        ),
        (
            "keyed completions p99 vs plain ones",
            figures["keyed_commands"]["p99_ms"] / commands["p99_ms"],
            "<=",
            1.5,
        ),
        ("progress read p99 ms at 1,000/s", figures["reads_fixed"]["p99_ms"], "<=", 10),
        ("freshness p99 ms (projector apart)", figures["freshness"]["p99_ms"], "<=", 100),
        (
            "freshness p99 under the 64-client command load vs those commands' p99",
            freshness_ratio(figures),
            "<=",
            0.5,
        ),
        ("live projector CPU per event vs a rebuild's", projector_ratio(figures), "<=", 2),
        ("bulk ingest events/s", figures["bulk"]["events_per_second"], ">=", 20_000),
        (
            "xAPI POSTs of 1,000 statements vs bulk ingest, events/s",
            figures["xapi"]["events_per_second"] / figures["bulk"]["events_per_second"],
            ">=",
            0.5,
        ),
        ("erasure of a learner with 50 enrollments, s", figures["erasure"]["seconds"], "<=", 1),
        ("rebuild vs a raw paged scan of the events table", scan_ratio(figures), ">=", 0.5),
        ("bulk ingest vs raw binary COPY of its rows", copy_ratio(figures), ">=", 0.3),
        ("roster page vs the JSON roster (100 a page)", roster["page_to_json"], ">=", 0.5),
        ("CSV export of the roster, rows/s", roster["csv_export"]["rows_per_second"], ">=", 50_000),
    ]
    return [
        {
            "target": name,
            "figure": round(value, 2),
            "goal": f"{relation} {goal:,}",
            "met": value >= goal if relation == ">=" else value <= goal,
        }
        for name, value, relation, goal in checks
    ]


def scan_ratio(figures: dict[str, Any]) -> float:
    rebuild = figures["rebuild_postgres"]
    ratio: float = rebuild["events_per_second"] / rebuild["raw_scan"]["rows_per_second"]
    return ratio


def freshness_ratio(figures: dict[str, Any]) -> float:
    probed = figures["commands_probed"]
    ratio: float = probed["freshness"]["p99_ms"] / probed["p99_ms"]
    return ratio


def projector_ratio(figures: dict[str, Any]) -> float:
    live = figures["commands_probed"]["projector"]["cpu_us_per_event"]
    ratio: float = live / figures["rebuild_postgres"]["cpu_us_per_event"]
    return ratio


def copy_ratio(figures: dict[str, Any]) -> float:
    bulk = figures["bulk"]
    ratio: float = bulk["events_per_second"] / bulk["raw_copy"]["rows_per_second"]
    return ratio


def rows(figures: dict[str, Any]) -> list[tuple[str, str]]:
    rebuild, sqlite = figures["rebuild_postgres"], figures["rebuild_sqlite"]
    commands, noop = figures["commands"], figures["noop"]
    keyed = figures["keyed_commands"]
    fixed, saturated = figures["reads_fixed"], figures["reads_saturation"]
    fresh, bulk = figures["freshness"], figures["bulk"]
    probed = figures["commands_probed"]
    roster = figures["roster_page"]
    return [
        (
            f"Rebuild, PostgreSQL ({rebuild['events']:,} events)",
            f"{rebuild['events_per_second']:,.0f} events/s, "
            f"CPU {rebuild['cpu_us_per_event']:.1f} µs/event, "
            f"peak RSS {rebuild['peak_rss_mb']:.0f} MB "
            f"(half the log: {rebuild['half']['peak_rss_mb']:.0f} MB)",
        ),
        (
            f"… its raw limit: a paged scan of the events table ({rebuild['raw_scan']['rows']:,} "
            "rows, pages of the rebuild's size, not decoded)",
            f"{rebuild['raw_scan']['rows_per_second']:,.0f} rows/s → rebuild at "
            f"{scan_ratio(figures):.2f}×",
        ),
        (
            f"Library ProjectionRunner, 1 txn/event ({rebuild['peer']['events']:,} events)",
            f"{rebuild['peer']['events_per_second']:,.0f} events/s → rebuild is "
            f"{rebuild['events_per_second'] / rebuild['peer']['events_per_second']:.0f}×",
        ),
        (
            f"Rebuild, SQLite ({sqlite['events']:,} events)",
            f"{sqlite['events_per_second']:,.0f} events/s, peak RSS {sqlite['peak_rss_mb']:.0f} MB",
        ),
        (
            "Durable unit completions over HTTP, 64 clients",
            f"{commands['requests_per_second']:,.0f}/s, p50 {commands['p50_ms']:.1f} ms, "
            f"p99 {commands['p99_ms']:.1f} ms ({commands['non_2xx']} non-2xx); "
            f"server CPU {commands['server_cpu_ms_per_request']:.2f} ms/request "
            f"(projector {commands['projector_cpu_ms_per_request']:.2f})",
        ),
        (
            "The same completions, each with its own Idempotency-Key",
            f"{keyed['requests_per_second']:,.0f}/s, p50 {keyed['p50_ms']:.1f} ms, "
            f"p99 {keyed['p99_ms']:.1f} ms ({keyed['non_2xx']} non-2xx); "
            f"server CPU {keyed['server_cpu_ms_per_request']:.2f} ms/request → "
            f"{keyed['requests_per_second'] / commands['requests_per_second']:.2f}× plain",
        ),
        (
            "No-op FastAPI endpoint, same body, 64 clients",
            f"{noop['requests_per_second']:,.0f}/s, p50 {noop['p50_ms']:.1f} ms, "
            f"p99 {noop['p99_ms']:.1f} ms; server CPU "
            f"{noop['server_cpu_ms_per_request']:.2f} ms/request → commands at "
            f"{commands['requests_per_second'] / noop['requests_per_second']:.2f}×",
        ),
        (
            "Progress reads at 1,000/s (open loop)",
            f"{fixed['requests_per_second']:,.0f}/s, p50 {fixed['p50_ms']:.1f} ms, "
            f"p99 {fixed['p99_ms']:.1f} ms",
        ),
        (
            "Progress reads at saturation, 64 clients",
            f"{saturated['requests_per_second']:,.0f}/s, p50 {saturated['p50_ms']:.1f} ms, "
            f"p99 {saturated['p99_ms']:.1f} ms; "
            f"server CPU {saturated['server_cpu_ms_per_request']:.2f} ms/request",
        ),
        (
            "Freshness, projector as its own process",
            f"p50 {fresh['p50_ms']:.1f} ms, p99 {fresh['p99_ms']:.1f} ms "
            f"({fresh['samples']} commands)",
        ),
        (
            "The same completions with a read-your-writes probe beside them (one client: a "
            "completion, then a read with its position as min_position)",
            f"{probed['requests_per_second']:,.0f}/s, p99 {probed['p99_ms']:.1f} ms; "
            f"freshness p50 {probed['freshness']['p50_ms']:.1f} ms, "
            f"p99 {probed['freshness']['p99_ms']:.1f} ms "
            f"({probed['freshness']['samples']} commands) → {freshness_ratio(figures):.2f}× "
            "the load's p99",
        ),
        (
            f"… the live projector meanwhile, its own process "
            f"({probed['projector']['events']:,} events)",
            f"CPU {probed['projector']['cpu_us_per_event']:.1f} µs/event against the "
            f"rebuild's {rebuild['cpu_us_per_event']:.1f} → {projector_ratio(figures):.2f}×",
        ),
        (
            f"Bulk ingest, POST /v1/completions:batch ({bulk['events']:,} events)",
            f"{bulk['events_per_second']:,.0f} events/s",
        ),
        (
            "… its raw limit: binary COPY of the same rows into a scratch copy of the events "
            "table (its indexes, one transaction)",
            f"{bulk['raw_copy']['rows_per_second']:,.0f} rows/s → bulk ingest at "
            f"{copy_ratio(figures):.2f}×",
        ),
        (
            f"xAPI intake, POST /xapi/statements ({figures['xapi']['requests']} x 1,000)",
            f"{figures['xapi']['events_per_second']:,.0f} events/s "
            f"({figures['xapi']['statements_per_second']:,.0f} statements/s; "
            f"{figures['xapi']['events']:,} events) → "
            f"{figures['xapi']['events_per_second'] / bulk['events_per_second']:.2f}× bulk",
        ),
        (
            f"Erasing a learner with {figures['erasure']['enrollments']} enrollments",
            f"{figures['erasure']['seconds'] * 1000:,.0f} ms",
        ),
        (
            f"Roster page vs JSON roster ({roster['learners']:,} learners, 100 a page)",
            f"{roster['roster_page']['per_second']:,.1f} pages/s vs "
            f"{roster['json_roster']['per_second']:,.1f}/s → {roster['page_to_json']:.2f}×",
        ),
        (
            f"CSV export of the whole roster ({roster['csv_export']['rows']:,} rows)",
            f"{roster['csv_export']['rows_per_second']:,.0f} rows/s",
        ),
    ]


def print_table(results: dict[str, Any]) -> None:
    machine = results["machine"]
    print(
        f"\nprogress-ledger bench ({results['mode']}), {results['date']}, "
        f"{machine['cores']} cores {machine['cpu']}, PostgreSQL "
        f"{results['versions']['postgresql']}\n"
    )
    print("| figure | result |\n|---|---|")
    for name, value in rows(results["figures"]):
        print(f"| {name} | {value} |")
    print("\n| target | figure | goal | met |\n|---|---|---|---|")
    for target in results["targets"]:
        met = "yes" if target["met"] else "**no**"
        print(f"| {target['target']} | {target['figure']:,} | {target['goal']} | {met} |")
