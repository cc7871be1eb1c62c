"""Projections: fold the notification log into progress snapshots people can read."""
