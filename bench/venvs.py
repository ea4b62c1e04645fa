"""A virtualenv of its own for a tool pinned in requirements/*.txt: LiteLLM's proxy for the gateway
benchmark, DuckDB 1.4 for a serving test (tests/warehouse/test_serving.py).

It holds that file's packages and nothing else: pip checks every file against its hash (--require-hashes),
takes wheels only (building a source distribution would fetch its build backend unpinned), and installs
into a virtualenv made from nothing, made again whenever the requirements file changes (pip keeps a
package already installed without checking its hash). docs/operations.md, "Supply chain".
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

INSTALL_TIMEOUT_SECONDS = 1800  # LiteLLM's proxy, about a hundred wheels, took 3 minutes here


class PinnedVenvError(RuntimeError):
    """The virtualenv could not be made: pip's message (offline, or a file that does not match its hash)."""


def pinned_venv(venv: Path, requirements: Path) -> Path:
    """The python of the virtualenv `venv`, holding exactly `requirements` as it is now.

    Made once and kept; two processes asking at once make it once (they take turns on the requirements file,
    which leaves no lock file behind)."""
    python, made_from = venv / "bin" / "python", venv / ".made-from"
    wanted = hashlib.sha256(requirements.read_bytes()).hexdigest()
    if _made_from(made_from) == wanted:
        return python
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(requirements) as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _made_from(made_from) == wanted:
            return python
        shutil.rmtree(venv, ignore_errors=True)
        steps = (
            [sys.executable, "-m", "venv", str(venv)],
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
                "--require-hashes",
                "--only-binary",
                ":all:",
                "--no-deps",
                "-r",
                str(requirements),
            ],
        )
        for step in steps:
            done = subprocess.run(step, capture_output=True, text=True, timeout=INSTALL_TIMEOUT_SECONDS)
            if done.returncode != 0:
                shutil.rmtree(venv, ignore_errors=True)
                raise PinnedVenvError(done.stderr[-2000:])
        made_from.write_text(wanted)
    return python


def _made_from(path: Path) -> str | None:
    return path.read_text() if path.exists() else None
