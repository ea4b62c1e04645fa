"""How hard the reliability suite pushes: `fast` inside `make test`, `long` for `make test-long`.

`AIADMIN_TEST_PROFILE=long` (set by `make test-long`) turns every budget up; the figures each run reaches
are written to var/test-artifacts/reliability/<suite>.json, and docs/reliability.md reports them.
"""

from __future__ import annotations

import fcntl
import json
import os
from dataclasses import dataclass
from pathlib import Path

from hypothesis import HealthCheck, settings

ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts" / "reliability"


@dataclass(frozen=True)
class Profile:
    name: str
    examples: int  # hypothesis examples per property / state-machine runs
    steps: int  # state-machine steps per run
    fuzz_examples: int  # schemathesis cases per operation
    soak_seconds: int  # the soak's duration


PROFILES = {
    "fast": Profile("fast", examples=15, steps=25, fuzz_examples=8, soak_seconds=20),
    "long": Profile("long", examples=60, steps=60, fuzz_examples=60, soak_seconds=600),
}

_name = os.environ.get("AIADMIN_TEST_PROFILE", "fast")
if _name not in PROFILES:
    raise RuntimeError(f"AIADMIN_TEST_PROFILE={_name!r}: expected one of {', '.join(PROFILES)}")
PROFILE = PROFILES[_name]

# Deadlines are off: every example talks to a real database and server, whose times vary with the machine.
settings.register_profile(
    "aiadmin",
    max_examples=PROFILE.examples,
    stateful_step_count=PROFILE.steps,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
    derandomize=False,
    print_blob=True,
)


def report(suite: str, case: str, **figures) -> None:
    """Record one case's figures (cases generated, faults injected, events lost) for docs/reliability.md.

    Each suite has a file; each case (a test, with its database) a key in it, rewritten by each run.
    """
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{suite}.json"
    # Test workers (pytest-xdist) report at the same time: one at a time rewrites the file, keeping the rest.
    with open(ARTIFACTS / f".{suite}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        recorded = json.loads(path.read_text()) if path.exists() else {}
        recorded[case] = {"profile": PROFILE.name, **figures}
        written = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        written.write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")
        written.replace(path)
