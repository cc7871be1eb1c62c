"""`make bench`: every throughput figure of progress-ledger, side by side, in one run."""
