"""Request and response bodies of /v1/webhooks."""

from __future__ import annotations

import base64
import binascii
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, AnyHttpUrl, BaseModel, Field

from api.schemas import ENROLLMENT, Strict, example
from webhooks.subscriptions import SECRET_PREFIX

EventType = Literal[
    "unit.completed",
    "unit.revoked",
    "course.completed",
    "course.progressed",
    "enrollment.withdrawn",
    "learner.erased",
]


def standard_webhooks_secret(secret: str) -> str:
    """`whsec_` and the base64 of 24 to 64 random bytes, as Standard Webhooks has it."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"a secret starts with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except binascii.Error as error:
        raise ValueError("a secret is whsec_ and base64") from error
    if not 24 <= len(key) <= 64:
        raise ValueError("a secret holds 24 to 64 bytes")
    return secret


SUBSCRIPTION = {
    "id": "wh_5f0c6a1e9b2d4c7f8a3e1d2c4b5a6978",
    "url": "https://hooks.example.org/ledger",
    "event_types": ["course.completed", "unit.completed"],
    "created_at": "2024-05-01T09:00:00+00:00",
}


class WebhookIn(Strict):
    model_config = example(
        {
            "url": "https://hooks.example.org/ledger",
            "event_types": ["unit.completed", "course.completed"],
        }
    )

    url: Annotated[AnyHttpUrl, Field(description="Where deliveries are POSTed (http or https)")]
    event_types: Annotated[list[EventType], Field(min_length=1)]
    secret: Annotated[
        str | None,
        AfterValidator(lambda s: s if s is None else standard_webhooks_secret(s)),
        Field(description="whsec_ and base64; made for you when left out"),
    ] = None


class WebhookOut(BaseModel):
    model_config = example(SUBSCRIPTION)

    id: str
    url: str
    event_types: list[str]
    created_at: str


class WebhookCreated(WebhookOut):
    model_config = example(
        {**SUBSCRIPTION, "secret": "whsec_OrV0CjQnd5FMAMyyDq3T8Jx3lwD5Bhc+Ij1ScybqXK8="}
    )

    secret: Annotated[str, Field(description="Shown once: verify signatures with it")]


class WebhookList(BaseModel):
    model_config = example({"webhooks": [SUBSCRIPTION]})

    webhooks: list[WebhookOut]


class DeliveryOut(BaseModel):
    delivery_id: int
    event_id: str
    event_type: str
    position: int
    enrollment_id: str
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    first_attempt_at: datetime | None
    last_attempt_at: datetime | None
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None


class DeliveryList(BaseModel):
    model_config = example(
        {
            "deliveries": [
                {
                    "delivery_id": 17,
                    "event_id": f"4711:unit.completed:{ENROLLMENT}",
                    "event_type": "unit.completed",
                    "position": 4711,
                    "enrollment_id": ENROLLMENT,
                    "status": "failed",
                    "attempts": 3,
                    "first_attempt_at": "2024-05-02T10:00:02Z",
                    "last_attempt_at": "2024-05-02T10:05:02Z",
                    "last_status": 502,
                    "last_error": "HTTP 502",
                    "delivered_at": None,
                }
            ]
        }
    )

    deliveries: list[DeliveryOut]


class AttemptOut(BaseModel):
    attempt_id: int
    attempted_at: datetime
    status: Annotated[int | None, Field(description="The receiver's HTTP status; null: none")]
    error: Annotated[
        str | None, Field(description="Why it failed (an HTTP status or a connection error)")
    ]
    duration_ms: Annotated[
        float | None,
        Field(description="Null with status and error: under way, or its worker stopped mid-send"),
    ]
    worker: Annotated[str, Field(description="The delivering process (deliverer-PID-...)")]


class AttemptList(BaseModel):
    model_config = example(
        {
            "attempts": [
                {
                    "attempt_id": 41,
                    "attempted_at": "2024-05-02T10:00:02Z",
                    "status": 500,
                    "error": "HTTP 500",
                    "duration_ms": 12.5,
                    "worker": "deliverer-4242-1a2b",
                },
                {
                    "attempt_id": 42,
                    "attempted_at": "2024-05-02T10:00:04Z",
                    "status": 204,
                    "error": None,
                    "duration_ms": 8.1,
                    "worker": "deliverer-4242-1a2b",
                },
            ]
        }
    )

    attempts: list[AttemptOut]
