"""Feedback: an end user scores one of their own completions (docs/decisions/0054)."""
