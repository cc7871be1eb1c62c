"""The one seam over the eventsourcing library and the databases (SQLite, PostgreSQL)."""
