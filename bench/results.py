"""bench/RESULTS.md: each benchmark script owns one `## <title>` section and replaces it on every run."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def write_section(title: str, lines: list[str]) -> None:
    """Replace (or append) the section `## title` with `lines`, which start with that heading; print it."""
    text = (
        RESULTS.read_text()
        if RESULTS.exists()
        else "# Benchmarks\n\nFigures measured by the scripts in `bench/`.\n\n"
    )
    start_at = text.find(f"## {title}")
    if start_at >= 0:
        end_at = text.find("\n## ", start_at + 1)
        text = text[:start_at] + text[end_at + 1 if end_at >= 0 else len(text) :]
    RESULTS.write_text(text.rstrip() + "\n\n" + "\n".join(lines))
    print("\n".join(lines))
