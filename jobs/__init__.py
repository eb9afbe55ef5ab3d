"""The in-process async job registry (submit, poll, TTL, stores)."""
