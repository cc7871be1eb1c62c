"""The HTTP service and CLI around the ledger, and the composition root that builds both."""
