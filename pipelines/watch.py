"""`aiadmin pipeline watch`: a long-lived process that runs the fresh lane (pipelines/fresh.py) whenever the
outbox has new events, so that an event reaches the serving copy within seconds (decision record 0041).

The poll is one indexed query, `max(id)` of `usage_events`, every POLL_SECONDS; the lane runs when it
moves. On PostgreSQL a transaction with a lower id may commit after a higher one was seen: the lane also
runs every SWEEP_SECONDS whatever the poll says, and its extract picks such rows up (pipelines/extract.py).
A failed lane is logged and retried 10 s later; the serving copy stays as it was.
"""

from __future__ import annotations

import logging
import signal
import threading
import time

from sqlalchemy import func, select

from api.events.models import UsageEvent
from pipelines.fresh import FreshLane, FreshRun
from warehouse.settings import WarehouseSettings, get_warehouse_settings

POLL_SECONDS = 0.5
SWEEP_SECONDS = 30.0
FAILED_PAUSE_SECONDS = 10.0  # after a failed lane (no warehouse built yet, say): not a traceback a poll

log = logging.getLogger("aiadmin.watch")


class Watcher:
    def __init__(self, lane: FreshLane, poll: float = POLL_SECONDS, sweep: float = SWEEP_SECONDS) -> None:
        self.lane = lane
        self.poll = poll
        self.sweep = sweep
        self.stopped = threading.Event()
        self._engine = lane.oltp.engine()
        self._seen: int | None = None

    def newest_event(self) -> int:
        with self._engine.connect() as conn:
            return conn.execute(select(func.coalesce(func.max(UsageEvent.id), 0))).scalar_one()

    def step(self, sweep: bool = False) -> FreshRun | None:
        """One poll; the lane's run when it ran (new events, or a sweep)."""
        newest = self.newest_event()
        if newest == self._seen and not sweep:
            return None
        result = self.lane.run()
        self._seen = newest
        if result.publication:
            timings = ", ".join(f"{k} {v:.2f} s" for k, v in result.seconds.items())
            log.info("fresh lane: %d new events published (%s)", result.events, timings)
        return result

    def run_forever(self) -> None:
        last_sweep = time.monotonic()
        try:
            try:
                self.lane.prepare()
                log.info("ready: the fresh lane's models are compiled")
            except Exception:  # no warehouse yet, say: the first lane run compiles
                log.exception("could not compile the fresh lane's models yet")
            while not self.stopped.is_set():
                sweep = time.monotonic() - last_sweep >= self.sweep
                try:
                    self.step(sweep=sweep)
                except Exception:  # the serving copy is as it was; a later poll tries again
                    log.exception("fresh lane failed; retrying in %.0f s", FAILED_PAUSE_SECONDS)
                    self._seen = None
                    self.stopped.wait(FAILED_PAUSE_SECONDS)
                if sweep:
                    last_sweep = time.monotonic()
                self.stopped.wait(self.poll)
        finally:
            self._engine.dispose()


def watcher(warehouse: WarehouseSettings | None = None, database_url: str | None = None) -> Watcher:
    return Watcher(FreshLane.of(warehouse or get_warehouse_settings(), database_url))


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    watching = watcher()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: watching.stopped.set())
    log.info("watching for new events every %.1f s", watching.poll)
    watching.run_forever()
    return 0
