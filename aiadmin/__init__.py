"""The `aiadmin` command: a thin layer that calls into the parts."""
