"""Telling a database outage (wait and retry the same work) from an error of the work itself
(an event the projection cannot apply: park it)."""

from __future__ import annotations

import sqlite3

import psycopg
from eventsourcing.persistence import InterfaceError, OperationalError


def is_outage(error: BaseException) -> bool:
    """True for errors that retrying the same statement later may cure: the connection, the
    server or a lock. A data error (a value out of range, a constraint) is not one."""
    if isinstance(error, InterfaceError | OperationalError):
        return not isinstance(error.__cause__, psycopg.DataError)
    return isinstance(
        error, psycopg.OperationalError | psycopg.InterfaceError | sqlite3.OperationalError
    )
