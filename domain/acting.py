"""Who did it: every event records its actor (an API key's name, `cli`, `import`) and, when
staff act for a learner, why and on whose behalf.

The aggregates' methods do not take these: the one committer (ledger/committer.py) records
them on every event a command appended, from the submission that carried the command.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

UNKNOWN_ACTOR = "unknown"
ACTING_FIELDS = ("actor", "reason", "on_behalf_of")


@dataclass(frozen=True)
class Acting:
    actor: str
    reason: str | None = None
    on_behalf_of: str | None = None


SYSTEM = Acting("system")


@dataclass(frozen=True)
class ActedFields:
    """The fields every event carries; keyword-only, so an event's own fields come first."""

    actor: str = field(default=UNKNOWN_ACTOR, kw_only=True)
    reason: str | None = field(default=None, kw_only=True)
    on_behalf_of: str | None = field(default=None, kw_only=True)


def upcast_acting(state: dict[str, Any]) -> None:
    """Events stored before actors were recorded load with an unknown actor (never rewritten)."""
    state.setdefault("actor", UNKNOWN_ACTOR)
    state.setdefault("reason", None)
    state.setdefault("on_behalf_of", None)


def record_acting(event: Any, acting: Acting) -> None:
    """Sets the acting fields of a new, not yet stored event. Events are frozen dataclasses:
    this is the one place that writes them after construction, before anyone else sees it."""
    set_field = object.__setattr__
    set_field(event, "actor", acting.actor)
    set_field(event, "reason", acting.reason)
    set_field(event, "on_behalf_of", acting.on_behalf_of)
