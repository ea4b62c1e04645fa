"""The Dagster code location: extract, dbt, publish (see definitions.py)."""
