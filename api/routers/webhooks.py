"""Webhook subscriptions (admin): create, list, delete; their deliveries and redelivery."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Literal

from fastapi import APIRouter, Path, Query, Response, status
from starlette.concurrency import run_in_threadpool

from api.dependencies import Services
from api.webhook_schemas import (
    AttemptList,
    AttemptOut,
    DeliveryList,
    DeliveryOut,
    WebhookCreated,
    WebhookIn,
    WebhookList,
    WebhookOut,
)
from webhooks.subscriptions import Subscription, Subscriptions, new_secret

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])

WebhookId = Annotated[str, Path(pattern=r"^wh_[0-9a-f]{32}$")]


def shown(subscription: Subscription) -> WebhookOut:
    return WebhookOut(
        id=subscription.subscription_id,
        url=subscription.url,
        event_types=subscription.event_types,
        created_at=subscription.created_at,
    )


@router.post("", status_code=status.HTTP_201_CREATED)
async def create(body: WebhookIn, services: Services) -> WebhookCreated:
    """Deliver the live projection's events of these types to the URL, from now on. The
    secret (given, or made here) is shown only in this answer."""
    store = Subscriptions(services.db)
    subscription = await run_in_threadpool(
        store.create, str(body.url), list(body.event_types), body.secret or new_secret()
    )
    return WebhookCreated(**shown(subscription).model_dump(), secret=subscription.secret)


@router.get("")
async def list_webhooks(services: Services) -> WebhookList:
    subscriptions = await run_in_threadpool(Subscriptions(services.db).all)
    return WebhookList(webhooks=[shown(s) for s in subscriptions])


@router.get("/{webhook_id}")
async def get(webhook_id: WebhookId, services: Services) -> WebhookOut:
    return shown(await run_in_threadpool(Subscriptions(services.db).get, webhook_id))


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete(webhook_id: WebhookId, services: Services) -> Response:
    """Nothing more is sent to it; its deliveries are deleted with it."""
    await run_in_threadpool(Subscriptions(services.db).delete, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{webhook_id}/deliveries")
async def deliveries(
    webhook_id: WebhookId,
    services: Services,
    delivery_status: Annotated[
        Literal["pending", "delivered", "failed"] | None, Query(alias="status")
    ] = None,
    after: Annotated[int, Query(ge=0, description="Deliveries after this delivery_id")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> DeliveryList:
    """Each delivery (one per event and subscription) with a count of its attempts so far
    (each attempt is at .../deliveries/{delivery_id}/attempts)."""
    found = await run_in_threadpool(
        lambda: Subscriptions(services.db).deliveries(
            webhook_id, status=delivery_status, after=after, limit=limit
        )
    )
    return DeliveryList(deliveries=[DeliveryOut(**asdict(d)) for d in found])


@router.get("/{webhook_id}/deliveries/{delivery_id}/attempts")
async def delivery_attempts(
    webhook_id: WebhookId,
    delivery_id: Annotated[int, Path(ge=1)],
    services: Services,
    after: Annotated[int, Query(ge=0, description="Attempts after this attempt_id")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> AttemptList:
    """Every attempt to send the delivery, oldest first: when, which process, how long, and
    the HTTP status or the error. Never a body, so nothing here names a learner."""
    found = await run_in_threadpool(
        lambda: Subscriptions(services.db).attempts_of(
            webhook_id, delivery_id, after=after, limit=limit
        )
    )
    return AttemptList(attempts=[AttemptOut(**asdict(a)) for a in found])


@router.post(
    "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    response_class=Response,  # no body
    responses={202: {"description": "Queued to be sent again"}},
)
async def redeliver(
    webhook_id: WebhookId, delivery_id: Annotated[int, Path(ge=1)], services: Services
) -> Response:
    """Sends the delivery again, next in line for its webhook, with a fresh retry period."""
    await run_in_threadpool(Subscriptions(services.db).redeliver, webhook_id, delivery_id)
    return Response(status_code=status.HTTP_202_ACCEPTED)
