"""Background jobs of the API process (mail delivery, alert evaluation): each runs every `interval` seconds
from start-up to shutdown. A failing run is logged and the job runs again at its next tick.

Every replica runs them; a job must claim its work in the database (a conditional UPDATE) so that two
replicas never do the same piece twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

from api.core.types import utcnow

log = logging.getLogger("aiadmin.jobs")

Job = Callable[[], Awaitable[object]]


@dataclass
class _Entry:
    name: str
    interval: float
    run: Job
    last_finished_at: datetime | None = None
    last_error: str | None = None


@dataclass
class Periodic:
    jobs: list[_Entry] = field(default_factory=list)
    _tasks: list[asyncio.Task] = field(default_factory=list)

    def add(self, name: str, interval: float, run: Job) -> None:
        self.jobs.append(_Entry(name, interval, run))

    def start(self) -> None:
        self._tasks = [asyncio.create_task(self._loop(job), name=f"job:{job.name}") for job in self.jobs]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    def status(self) -> dict[str, dict[str, object]]:
        return {
            job.name: {"interval_seconds": job.interval, "last_finished_at": job.last_finished_at,
                       "last_error": job.last_error}
            for job in self.jobs
        }  # fmt: skip

    @staticmethod
    async def _loop(job: _Entry) -> None:
        while True:
            try:
                await job.run()
                job.last_error = None
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a job's failure must not end the loop (nor the API)
                log.exception("background job %s failed", job.name)
                job.last_error = f"{type(exc).__name__}: {exc}"[:500]
            job.last_finished_at = utcnow()
            await asyncio.sleep(job.interval)
