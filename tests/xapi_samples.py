"""Statements as LMSs send them, for the xAPI tests."""

from __future__ import annotations

import uuid
from typing import Any

ADL = "http://adlnet.gov/expapi/verbs/"
HOME = "https://lms.example.org"
TRANSFORMER_VERSION = "https://w3id.org/xapi/openedx/extension/transformer-version"


def actor(learner: str) -> dict[str, Any]:
    return {
        "objectType": "Agent",
        "name": f"Learner {learner}",
        "account": {"homePage": HOME, "name": learner},
    }


def statement(
    learner: str, verb: str, activity: str, *, completion: bool | None = None, **extra: Any
) -> dict[str, Any]:
    sent: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "actor": actor(learner),
        "verb": {"id": ADL + verb, "display": {"en-US": verb}},
        "object": {"objectType": "Activity", "id": activity},
        "timestamp": "2024-05-01T10:00:00+00:00",
    }
    if completion is not None:
        sent["result"] = {"completion": completion}
    sent.update(extra)
    return sent


def open_edx_block_finished(learner: str, block: str) -> dict[str, Any]:
    """What Open edX's event-routing-backends sends when a learner finishes a block
    (edx.completion.block_completion.changed → progressed with result.completion true)."""
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", "account": {"homePage": HOME, "name": learner}},
        "verb": {"id": ADL + "progressed", "display": {"en": "progressed"}},
        "object": {
            "id": block,
            "objectType": "Activity",
            "definition": {"type": "http://adlnet.gov/expapi/activities/module"},
        },
        "result": {
            "completion": True,
            "extensions": {"https://w3id.org/xapi/cmi5/result/extensions/progress": 100},
        },
        "context": {
            "contextActivities": {
                "parent": [
                    {
                        "id": "https://lms.example.org/course/course-v1:Org+Course+Run",
                        "objectType": "Activity",
                        "definition": {"type": "http://adlnet.gov/expapi/activities/course"},
                    }
                ]
            },
            "extensions": {TRANSFORMER_VERSION: "event-routing-backends@7.0.1"},
        },
        "timestamp": "2024-05-01T10:05:00.123456+00:00",
        "version": "1.0.3",
    }


def voiding(learner: str, target: str) -> dict[str, Any]:
    return {
        "actor": actor(learner),
        "verb": {"id": ADL + "voided", "display": {"en-US": "voided"}},
        "object": {"objectType": "StatementRef", "id": target},
    }
