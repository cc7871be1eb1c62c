"""Webhooks out: subscriptions, and the worker that delivers the live projection's outbox
rows (projections/outbox.py) as signed CloudEvents, in log order per subscription."""
