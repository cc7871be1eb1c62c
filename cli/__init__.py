"""`progress-ledger`: the command line, an entry point beside the HTTP API."""
