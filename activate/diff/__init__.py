"""Snapshot hashing and the set-based diff against stored state."""
