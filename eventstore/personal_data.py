"""Personal fields of events, sealed under their learner's key (crypto-shredding).

`PERSONAL_FIELDS` declares, per event class, the fields that identify or describe a person;
a new one (an actor, an xAPI statement's agent) is a line here. The mapper seals each such
field that holds a value into `{"_sealed_": "<key id>:<base64 nonce + AES-GCM ciphertext>"}`
under the key of the event's stream (the ciphertext is bound to the stream and the field),
and opens it again on the way back. When the key was destroyed (the learner was erased)
the field reads as `domain.erasure.ERASED`: decoding never fails for it, so the projection
and every replay simply find no one there.

Every other field, and every event without personal fields, is stored exactly as before, so
the fast paths (eventstore/encoder.py, eventstore/log_reader.py) keep going around the
mapper for them. A plain value in a personal field (written before sealing existed, see
`progress-ledger migrate`) reads as it is.
"""

from __future__ import annotations

import base64
import os
import re
from collections.abc import Iterable
from typing import Any
from uuid import UUID

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import Mapper, StoredEvent

from domain.enrollment import Enrollment
from domain.erasure import ERASED
from domain.errors import NotFoundError
from domain.xapi import Statement
from eventstore.learner_keys import LearnerKeys

SEALED = "_sealed_"
NONCE_BYTES = 12

# Why staff acted and for whom, on a learner's events (domain/acting.py); the actor itself is
# an API key's name (or `cli`, `import`), not a learner's.
ACTING_FOR_A_LEARNER = ("reason", "on_behalf_of")
# The personal fields of each event class (issue 12's xAPI agents join here as they come).
PERSONAL_FIELDS: dict[type[Any], tuple[str, ...]] = {
    Enrollment.Enrolled: ("learner_id", *ACTING_FOR_A_LEARNER),
    **{
        kind: ACTING_FOR_A_LEARNER
        for kind in (
            Enrollment.ModuleCompleted,
            Enrollment.UnitCompleted,
            Enrollment.ModuleCompletionRevoked,
            Enrollment.UnitCompletionRevoked,
            Enrollment.Reset,
            Enrollment.Withdrawn,
            Enrollment.Reenrolled,
            Enrollment.Erased,
        )
    },
    # The statement names its actor, maybe instructors and a team: all of it is sealed.
    Statement.Received: ("statement",),
}
# Events that end a stream's personal data: its key is not to be used again.
ERASURE_EVENTS: frozenset[type[Any]] = frozenset({Enrollment.Erased})


def personal_fields(kind: type[Any]) -> tuple[str, ...]:
    return PERSONAL_FIELDS.get(kind, ())


def holds_personal_data(event: Any) -> bool:
    state = vars(event)
    return any(state.get(name) is not None for name in personal_fields(type(event)))


# In a stored event's JSON: the key ids of sealed fields (uuid4 hex).
SEALED_KEY_ID = re.compile(rb'"_sealed_":"([0-9a-f]{32}):')


def sealed_key_ids(states: Iterable[bytes]) -> set[str]:
    # One scan of the states joined (a record separator keeps matches inside one state):
    # a rebuild calls this for every page of the log, where a scan per event cost it 6 %.
    return {match.decode() for match in SEALED_KEY_ID.findall(b"\x1e".join(states))}


class KeyMissing(NotFoundError):
    """Personal data for a stream whose learner has no key (erased meanwhile, or a stream
    from before keys that `migrate` has not brought over): it is not written."""


def associated_data(stream_id: UUID | str, field: str) -> bytes:
    return f"{stream_id}\x1f{field}".encode()


class Ciphers:
    """The AES-GCM cipher of each key id the write side seals under, made once (making one
    costs as much as sealing a short field with it). A key id names one secret forever; a
    cipher is asked for only once the store gave its secret, and all are dropped at the
    next ask after the store forgot a secret (an erasure here or read), or when many."""

    limit = 4_096

    def __init__(self) -> None:
        self._ciphers: dict[str, AESGCM] = {}
        self._forgotten = 0

    def of(self, keys: LearnerKeys, key_id: str, secret: bytes) -> AESGCM:
        if self._forgotten != keys.forgotten or len(self._ciphers) >= self.limit:
            self._ciphers = {}
            self._forgotten = keys.forgotten
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            cipher = self._ciphers[key_id] = AESGCM(secret)
        return cipher


def seal(
    secret: bytes,
    key_id: str,
    stream_id: UUID | str,
    field: str,
    value: Any,
    cipher: AESGCM | None = None,
) -> dict[str, str]:
    """`cipher`: the secret's, when made already."""
    nonce = os.urandom(NONCE_BYTES)
    plain = value.encode() if isinstance(value, str) else repr(value).encode()
    sealed = (cipher or AESGCM(secret)).encrypt(nonce, plain, associated_data(stream_id, field))
    return {SEALED: f"{key_id}:{base64.b64encode(nonce + sealed).decode()}"}


def sealed_key_id(value: Any) -> str | None:
    if type(value) is dict and len(value) == 1 and SEALED in value:
        return str(value[SEALED]).partition(":")[0]
    return None


def unseal(keys: LearnerKeys, stream_id: UUID | str, field: str, value: Any) -> str:
    key_id, _, payload = value[SEALED].partition(":")
    secret = keys.secret(key_id)
    if secret is None:
        return ERASED
    raw = base64.b64decode(payload)
    try:
        plain = AESGCM(secret).decrypt(
            raw[:NONCE_BYTES], raw[NONCE_BYTES:], associated_data(stream_id, field)
        )
    except InvalidTag:  # not this stream's field: treat as unreadable, never as someone
        return ERASED
    return plain.decode()


class PersonalDataMapper(Mapper[UUID]):
    """The library's mapper, sealing and opening the declared personal fields. Chosen by the
    library's MAPPER_TOPIC (eventstore/environment.py); its key store is given once the
    database is open (`use_keys`), before any event is written or read."""

    keys: LearnerKeys | None = None
    ciphers: Ciphers | None = None

    def use_keys(self, keys: LearnerKeys) -> None:
        self.keys = keys
        self.ciphers = Ciphers()

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        sealed = self.sealed_state(domain_event)
        if sealed is None:
            return super().to_stored_event(domain_event)
        copy = object.__new__(type(domain_event))
        copy.__dict__.update(sealed)
        return super().to_stored_event(copy)

    def sealed_state(self, domain_event: Any) -> dict[str, Any] | None:
        """The event's state with its personal fields sealed; None when it holds none."""
        fields = personal_fields(type(domain_event))
        state = vars(domain_event)
        present = [name for name in fields if state.get(name) is not None]
        if not present:
            return None
        keys = self._keys()
        stream_id = domain_event.originator_id
        key_id = keys.key_id_of_stream(stream_id)
        secret = None if key_id is None else keys.secret(key_id)
        if key_id is None or secret is None:
            raise KeyMissing(
                f"enrollment {stream_id} has no learner key (erased?)", field="enrollment_id"
            )
        sealed = dict(state)
        cipher = None if self.ciphers is None else self.ciphers.of(keys, key_id, secret)
        for name in present:
            sealed[name] = seal(secret, key_id, stream_id, name, state[name], cipher)
        return sealed

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        event = super().to_domain_event(stored_event)
        kind = type(event)
        if kind in PERSONAL_FIELDS:
            self.open_fields(kind, event.originator_id, event.__dict__)
        elif kind in ERASURE_EVENTS and self.keys is not None:
            self.keys.forget_stream(event.originator_id)
        return event

    def open_fields(
        self,
        kind: type[Any],
        stream_id: UUID | str,
        state: dict[str, Any],
        *,
        note_stream: bool = True,
    ) -> None:
        """Opens, in place, the sealed personal fields of an event's state (the log reader
        decodes most events without the mapper, and calls this for those that have some).
        With `note_stream`, remembers the stream's key for the next event written to it
        (what an aggregate's loading wants; a projection's reading does not)."""
        for name in personal_fields(kind):
            value = state.get(name)
            key_id = None if value is None else sealed_key_id(value)
            if key_id is not None:
                keys = self._keys()
                if note_stream:
                    keys.saw_stream(UUID(str(stream_id)), key_id)
                state[name] = unseal(keys, stream_id, name, value)

    def prefetch(self, states: Iterable[bytes]) -> None:
        """The secrets the sealed fields of these stored states need, read at once."""
        if self.keys is not None:
            key_ids = sealed_key_ids(states)
            if key_ids:
                self.keys.prefetch(key_ids)

    def _keys(self) -> LearnerKeys:
        if self.keys is None:
            raise KeyMissing("the mapper has no key store (bootstrap gives it one)")
        return self.keys
