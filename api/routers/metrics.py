"""`GET /metrics`: the Prometheus text format (OpenMetrics when the scraper asks for it).

With API keys configured it needs a `read` key, unless LEDGER_METRICS_OPEN=true (for a
scraper inside the network that holds no key); with none, loopback clients only, as every
route. Metrics are listed in docs/metrics.md.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Depends, Request, Response
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from starlette.concurrency import run_in_threadpool

from api.access import Credentials, ensure_scope, identified, keyring_for
from api.dependencies import Services, services_of
from api.ledger_gauges import LedgerGauges
from api.webhook_gauges import WebhookGauges
from bootstrap import LedgerServices

router = APIRouter(tags=["metrics"])


async def may_scrape(request: Request, credentials: Credentials) -> None:
    """A `read` key, unless the metrics are open or no keys are configured."""
    services = services_of(request)
    keyring = keyring_for(request.app.state)
    if services.settings.metrics_open or keyring.is_open:
        return
    key = identified(keyring, None if credentials is None else credentials.credentials)
    request.state.key_name = key.name
    ensure_scope(key, "read")


class Scrape:
    """Everything one scrape exports: what the processes counted, what the database says
    (the projection's gauges, the webhooks' health)."""

    def __init__(self, services: LedgerServices, gauges: LedgerGauges) -> None:
        self.collectors: list[Collector] = [
            services.metrics.collected(),
            gauges,
            WebhookGauges(services),
        ]

    def collect(self) -> Iterator[Metric]:
        for collector in self.collectors:
            yield from collector.collect()


def ledger_gauges(request: Request, services: LedgerServices) -> LedgerGauges:
    """One per app: it remembers the live position between scrapes (events/s)."""
    gauges: LedgerGauges | None = getattr(request.app.state, "ledger_gauges", None)
    if gauges is None or gauges.services is not services:
        gauges = request.app.state.ledger_gauges = LedgerGauges(services)
    return gauges


def exposition(services: LedgerServices, gauges: LedgerGauges, accept: str) -> Response:
    services.metrics.sample_pools(services.pool_use())
    encode, content_type = choose_encoder(accept)
    return Response(encode(Scrape(services, gauges)), media_type=content_type)


@router.get(
    "/metrics",
    dependencies=[Depends(may_scrape)],
    response_class=Response,
    responses={
        200: {
            "description": "Every metric, in the Prometheus text format",
            "content": {
                "text/plain": {
                    "schema": {"type": "string"},
                    "example": "# HELP ledger_log_head_position Position of the log's last event\n"
                    "# TYPE ledger_log_head_position gauge\n"
                    "ledger_log_head_position 4712.0\n",
                }
            },
        }
    },
)
async def metrics(request: Request, services: Services) -> Response:
    """Requests by route template and status, commands, events, the projection generations,
    rebuilds, parked events and the database pools, for Prometheus."""
    gauges = ledger_gauges(request, services)
    accept = request.headers.get("accept", "")
    response: Response = await run_in_threadpool(exposition, services, gauges, accept)
    return response
