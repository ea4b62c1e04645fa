"""Write the reliability suite's recorded figures into docs/reliability.md (between its FIGURES markers).

    .venv/bin/python -m tests.reliability.figures

`make test-long` runs it after the deep profile; each suite's figures are what its last run recorded in
var/test-artifacts/reliability/<suite>.json (tests/reliability/profile.py), with the profile it ran under.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

from tests.reliability.profile import ARTIFACTS

DOC = Path(__file__).resolve().parents[2] / "docs" / "reliability.md"
BEGIN, END = "<!-- FIGURES:BEGIN -->", "<!-- FIGURES:END -->"


def _value(value) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in sorted(value.items()))
    if isinstance(value, float):
        return f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def render() -> str:
    source = ARTIFACTS.relative_to(DOC.parents[1])
    lines = [f"Recorded {datetime.now(UTC):%Y-%m-%d %H:%M} UTC from `{source}`.", ""]
    for path in sorted(ARTIFACTS.glob("*.json")):
        lines += [f"**{path.stem}**", "", "| case | profile | figures |", "| --- | --- | --- |"]
        for case, figures in sorted(json.loads(path.read_text()).items()):
            profile = figures.pop("profile", "?")
            shown = "; ".join(f"{key} {_value(value)}" for key, value in sorted(figures.items()))
            lines.append(f"| {case} | {profile} | {shown} |")
        lines.append("")
    return "\n".join(lines)


def main() -> int:
    text = DOC.read_text()
    if BEGIN not in text or END not in text:
        print(f"{DOC} has no {BEGIN} … {END} section", file=sys.stderr)
        return 1
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    DOC.write_text(f"{head}{BEGIN}\n{render()}\n{END}{tail}")
    print(f"figures written to {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
