"""Where the DuckDB warehouse lives, read-only connections, atomic publish and the shared queries."""
