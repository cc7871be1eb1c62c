"""Webhook health read at scrape time: each webhook's deliveries by status, its queue depth
and how far its oldest waiting delivery lags the log's head. Read from the outbox (one
statement), so it holds whichever process delivers."""

from __future__ import annotations

import logging
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric

from bootstrap import LedgerServices
from webhooks.subscriptions import Subscriptions

log = logging.getLogger(__name__)


class WebhookGauges:
    def __init__(self, services: LedgerServices) -> None:
        self.services = services

    def collect(self) -> Iterator[Metric]:
        try:
            head = self.services.ledger.head_position()
            health = Subscriptions(self.services.db).health()
        except Exception:  # the database is away: LedgerGauges says so (ledger_database_up)
            log.warning("metrics: webhook health unavailable", exc_info=True)
            return
        deliveries = GaugeMetricFamily(
            "ledger_webhook_deliveries",
            "A webhook's deliveries by status (pending, delivered, failed)",
            labels=["webhook", "status"],
        )
        depth = GaugeMetricFamily(
            "ledger_webhook_queue_depth",
            "Deliveries waiting to be sent",
            labels=["webhook"],
        )
        attempts = GaugeMetricFamily(
            "ledger_webhook_attempts",
            "Attempts made over the webhook's deliveries (retries included)",
            labels=["webhook"],
        )
        lag = GaugeMetricFamily(
            "ledger_webhook_lag_events",
            "Log events between the oldest waiting delivery and the head (0 when none waits)",
            labels=["webhook"],
        )
        for webhook in health:
            name = webhook.subscription_id
            deliveries.add_metric([name, "pending"], webhook.pending)
            deliveries.add_metric([name, "delivered"], webhook.delivered)
            deliveries.add_metric([name, "failed"], webhook.failed)
            depth.add_metric([name], webhook.pending)
            attempts.add_metric([name], webhook.attempts)
            oldest = webhook.oldest_pending_position
            lag.add_metric([name], 0 if oldest is None else max(0, head - oldest))
        yield from (deliveries, depth, attempts, lag)
