"""Helpers shared by the suites, by what they support: `api` (the API under test), `figures` (the
warehouse against the OLTP database), `processes` (processes frozen, stepped and killed),
`pipeline_faults` (the pipeline under faults)."""
