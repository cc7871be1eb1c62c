"""Bulk ingest: many completions in one request or file, each judged on its own."""
