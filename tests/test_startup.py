"""Several processes starting together on a new PostgreSQL database (API workers and the
projector, as docker compose starts them) must all come up, sharing one live generation.

(SQLite is the one-process embedded store: there a single pool serialises writers.)"""

from __future__ import annotations

import pytest

from bootstrap import LedgerServices, Settings, bootstrap
from tests.test_concurrency import all_at_once


@pytest.mark.postgres
@pytest.mark.parametrize("settings", ["postgres"], indirect=True)
def test_processes_starting_together_on_a_new_database_all_come_up(settings: Settings) -> None:
    def start(_: int) -> LedgerServices:
        return bootstrap(settings)

    started = all_at_once(4, start)
    try:
        generations = [services.generations.all() for services in started]
        assert all(found == generations[0] for found in generations)
        assert [(g.number, g.status) for g in generations[0]] == [(1, "live")]
    finally:
        for services in started:
            services.close()
