"""Who a request acts as: the name of the API key that signed it (`local` when no keys are
configured, which admits loopback clients only), with the reason and the learner acted
for that the caller gave."""

from __future__ import annotations

from fastapi import Request

from domain.acting import Acting

# The actor of every request while the API is open (loopback only, no keys).
OPEN_API_ACTOR = "local"


def acting_of(
    request: Request, reason: str | None = None, on_behalf_of: str | None = None
) -> Acting:
    """After the access check, which names the key on the request's state."""
    actor: str = getattr(request.state, "key_name", OPEN_API_ACTOR)
    return Acting(actor, reason, on_behalf_of)
