"""Telling an error of the database or its connection (wait and retry the same work) from an
error of the data being written (an event the projection cannot apply: park it)."""

from __future__ import annotations

import sqlite3

import psycopg
from eventsourcing.persistence import DataError, IntegrityError, PersistenceError


def is_systemic(error: BaseException) -> bool:
    """True for database errors that are not about the values written: the connection, the
    server, a lock, a missing table or a permission. Retrying later (or fixing the database)
    may cure them, and parking would wrongly blame every event in turn. A value out of range
    or a broken constraint is the data's fault, as is any error raised outside the database."""
    if isinstance(error, PersistenceError):
        cause = error.__cause__
        if cause is not None and isinstance(cause, psycopg.Error | sqlite3.Error):
            return is_systemic(cause)
        return not isinstance(error, DataError | IntegrityError)
    if isinstance(error, psycopg.Error):
        return not isinstance(error, psycopg.DataError | psycopg.IntegrityError)
    if isinstance(error, sqlite3.Error):
        return not isinstance(error, sqlite3.DataError | sqlite3.IntegrityError)
    return False
