"""The write side: commands decided in batches by one committer, and appended to the log."""
