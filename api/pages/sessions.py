"""Page sessions: a key presented once on the sign-in page, then a signed cookie.

The cookie holds the key's name, the SHA-256 of the key (never the key) and a CSRF token,
signed with itsdangerous under LEDGER_SESSION_SECRET and sent HttpOnly, SameSite=Strict.
Each request finds the key again by its digest, so a key removed from the configuration
ends its sessions, and its scopes are read as they are now. With no keys configured
(loopback only) every visitor gets an open session: its CSRF token still guards actions.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from api.access import SCOPES, Keyring

COOKIE_NAME = "ledger_session"
MAX_AGE_SECONDS = 8 * 3600
SALT = "progress-ledger pages"

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PageSession:
    key_name: str | None  # None: the open session of a server with no keys
    scopes: frozenset[str]
    csrf_token: str
    key_digest: str = ""

    def may(self, scope: str) -> bool:
        return scope in self.scopes

    def csrf_matches(self, presented: str | None) -> bool:
        return presented is not None and hmac.compare_digest(presented, self.csrf_token)


class PageSessions:
    def __init__(self, secret: str, keyring: Keyring) -> None:
        self.keyring = keyring
        self.serializer = URLSafeTimedSerializer(secret, salt=SALT)

    @classmethod
    def from_settings(cls, session_secret: str, keyring: Keyring) -> PageSessions:
        if not session_secret:
            if not keyring.is_open:
                log.warning(
                    "LEDGER_SESSION_SECRET is not set: page sessions last until this process "
                    "stops, and a session made by one worker is unknown to the others"
                )
            session_secret = secrets.token_urlsafe(32)
        return cls(session_secret, keyring)

    @property
    def is_open(self) -> bool:
        return self.keyring.is_open

    def open_session(self) -> PageSession:
        return PageSession(None, frozenset(SCOPES), secrets.token_urlsafe(32))

    def sign_in(self, presented: str) -> PageSession | None:
        """A new session for a known key; None for any other text."""
        key = self.keyring.identify(presented.strip())
        if key is None:
            return None
        return PageSession(key.name, key.scopes, secrets.token_urlsafe(32), key.digest.hex())

    def cookie_value(self, session: PageSession) -> str:
        return self.serializer.dumps(
            {"name": session.key_name, "digest": session.key_digest, "csrf": session.csrf_token}
        )

    def read(self, cookie: str | None) -> PageSession | None:
        """The session a cookie signs, if it is fresh and its key is still configured."""
        if not cookie:
            return None
        try:
            signed = self.serializer.loads(cookie, max_age=MAX_AGE_SECONDS)
        except BadSignature:
            return None
        if not isinstance(signed, dict) or not isinstance(signed.get("csrf"), str):
            return None
        if self.is_open:
            return PageSession(None, frozenset(SCOPES), signed["csrf"])
        for key in self.keyring.keys:
            if hmac.compare_digest(key.digest.hex(), str(signed.get("digest"))):
                return PageSession(key.name, key.scopes, signed["csrf"], key.digest.hex())
        return None
