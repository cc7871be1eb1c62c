"""One delivery attempt: the outbox row as a CloudEvents 1.0 JSON body (structured mode),
signed per Standard Webhooks by its maintained library, POSTed with a timeout."""

from __future__ import annotations

import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from standardwebhooks import Webhook

from webhooks.queue import PendingDelivery
from webhooks.subscriptions import event_id

CLOUDEVENTS_JSON = "application/cloudevents+json; charset=utf-8"
SOURCE = "/progress-ledger"


def cloud_event(delivery: PendingDelivery) -> dict[str, Any]:
    """The event as its receiver reads it; `position` (an extension attribute) is the log
    position, increasing in the order a subscription receives its events."""
    return {
        "specversion": "1.0",
        "id": event_id(delivery.position, delivery.event_type, delivery.enrollment_id),
        "source": SOURCE,
        "type": delivery.event_type,
        "subject": f"enrollments/{delivery.enrollment_id}",
        "time": delivery.occurred_at,
        "datacontenttype": "application/json",
        "position": delivery.position,
        "data": orjson.loads(delivery.data),
    }


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None
    error: str


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer to the receiver's owner, not a place to POST the body to."""

    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None


# No proxies from the environment: a receiver is reached directly.
_opener = urllib.request.build_opener(urllib.request.ProxyHandler({}), _NoRedirects())


def send(url: str, secret: str, delivery: PendingDelivery, timeout: float) -> Outcome:
    body = orjson.dumps(cloud_event(delivery)).decode()
    now = datetime.now(UTC)
    message_id = f"msg_{delivery.delivery_id}"
    headers = {
        "content-type": CLOUDEVENTS_JSON,
        "user-agent": "progress-ledger-webhooks",
        "webhook-id": message_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, now, body),
    }
    request = urllib.request.Request(url, body.encode(), headers, method="POST")
    try:
        with _opener.open(request, timeout=timeout) as response:
            status = int(response.status)
            response.read(65_536)
    except urllib.error.HTTPError as error:
        return Outcome(False, error.code, f"HTTP {error.code}")
    except (OSError, ValueError) as error:  # refused, reset, timed out, a bad URL
        return Outcome(False, None, repr(error))
    return Outcome(200 <= status < 300, status, "" if status < 300 else f"HTTP {status}")
