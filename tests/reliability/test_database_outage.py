"""PostgreSQL going away under load: clear 503s, nothing half-written, recovery without an API restart.

The outage is made by a TCP proxy between the API and PostgreSQL (the server itself may be shared, or a
service this test cannot restart): at the cut every connection through it is reset, so PostgreSQL sees
its clients vanish and rolls back whatever they had open, and while it is "down" the port refuses
connections, as a restarting server's does. The API is a real uvicorn serving the app; the load is
completions of a paid model, test top-ups (each with its Idempotency-Key) and reads, from several users.

After the outage every answer must have been a success or a 503 `database_unavailable`; the API must
answer again by itself; and the books must balance: each balance equals its ledger's sum, every answered
completion has its success event, and every reservation is settled or refunded exactly once (the ones
whose settlement the outage cut off by the lost-reservation job, api/billing/recovery.py).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.engine import make_url

from api.accounts.models import Account
from api.billing import service as billing
from api.billing.models import LedgerEntry
from api.billing.recovery import SETTLEMENT_LOST, refund_lost_reservations
from api.core.db import Database, make_sync_engine
from api.core.types import utcnow
from api.events.models import UsageEvent
from api.events.outbox import RequestContext
from api.gateway.service import Gateway, prepare
from api.main import create_app
from api.providers.base import ChatMessage
from tests.reliability.profile import PROFILE, report
from tests.support.api import LiveServer, completion_body, db_execute, events_of, grant_credits, sign_up

PAID = "mock-large"
USERS = 4


class TcpProxy:
    """127.0.0.1:<port> → the database; `cut()` resets every connection and refuses new ones until
    `restore()`."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self._listener: socket.socket | None = None
        self.cuts = 0
        self.reset_connections = 0
        self.restore()

    def restore(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def cut(self) -> None:
        self.cuts += 1
        self._drop()

    def close(self) -> None:
        if self._listener is not None:
            self._drop()

    def _drop(self) -> None:
        listener, self._listener = self._listener, None
        try:  # shutdown first: it wakes the thread blocked in accept(), which close() alone does not
            listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        listener.close()  # new connections are refused
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            self.reset_connections += 1
            for sock in pair:
                try:
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                    # shutdown wakes the pump blocked in recv() (close alone would leave the connection
                    # open while it waits); the API and PostgreSQL both see their connection end at once.
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.target, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._pairs.append((client, server))
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def _proxied(settings, proxy: TcpProxy):
    url = make_url(settings.database_url).set(host="127.0.0.1", port=proxy.port)
    return settings.model_copy(update={"database_url": url.render_as_string(hide_password=False)})


class Outcomes:
    """The load's answers as they come, (what, status, error code), and waits on what they show."""

    def __init__(self) -> None:
        self.items: list[tuple[str, int, str]] = []
        self._changed = threading.Condition()

    def add(self, outcome: tuple[str, int, str]) -> None:
        with self._changed:
            self.items.append(outcome)
            self._changed.notify_all()

    def mark(self) -> int:
        with self._changed:
            return len(self.items)

    def wait_for(self, since: int, what: str, count: int, matches, timeout: float = 120) -> None:
        """Until `count` answers after the first `since` match; an AssertionError naming `what` if not."""

        def seen() -> bool:
            return sum(1 for outcome in self.items[since:] if matches(outcome)) >= count

        with self._changed:
            if not self._changed.wait_for(seen, timeout):
                raise AssertionError(f"{what}: not seen in {timeout} s: {Counter(self.items[since:])}")


def _served(outcome: tuple[str, int, str]) -> bool:
    return outcome[1] in (200, 201)


def _unavailable(outcome: tuple[str, int, str]) -> bool:
    return outcome[2] == "database_unavailable"


async def _load(base: str, users: list[dict], stop: threading.Event, outcomes: Outcomes) -> None:
    """Each user in a loop: a paid completion, a top-up with a fresh key, a read of the balance."""

    async def user(headers: dict) -> None:
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:
            while not stop.is_set():
                for what, call in (
                    ("complete", lambda: client.post("/v1/chat/completions", json=completion_body(PAID))),
                    ("top-up", lambda: client.post(
                        "/api/v1/me/balance/top-up", json={"amount": "1.00", "currency": "USD"},
                        headers={"Idempotency-Key": uuid.uuid4().hex},
                    )),
                    ("read", lambda: client.get("/api/v1/me/balance")),
                ):  # fmt: skip
                    try:
                        response = await call()
                        code = response.json().get("error", {}).get("code", "") if response.is_error else ""
                        outcomes.add((what, response.status_code, code))
                    except httpx.HTTPError as exc:
                        outcomes.add((what, 0, type(exc).__name__))

    await asyncio.gather(*(user(headers) for headers in users))


def _books(settings) -> dict:
    engine = make_sync_engine(settings)
    try:
        with engine.connect() as conn:
            sums = dict(
                conn.execute(
                    select(LedgerEntry.account_id, func.sum(LedgerEntry.amount)).group_by(
                        LedgerEntry.account_id
                    )
                ).all()
            )
            balances = dict(conn.execute(select(Account.id, Account.balance)).all())
            entries = conn.execute(select(LedgerEntry.kind, LedgerEntry.reference, LedgerEntry.details)).all()
            succeeded = {
                e.hex for e in conn.scalars(
                    select(UsageEvent.event_id).where(UsageEvent.type == "llm.call_succeeded")
                )
            }  # fmt: skip
    finally:
        engine.dispose()
    by_reference: dict[str, list] = {}
    for kind, reference, details in entries:
        if reference:
            by_reference.setdefault(reference, []).append((kind, details))
    reservations = [r for r, rows in by_reference.items() if any(d.get("reserved") for _, d in rows)]
    # A reservation is followed by exactly one of: a settlement row, a refund, or (settled at exactly the
    # reserved amount) nothing but its success event.
    unsettled = [r for r in reservations if len(by_reference[r]) == 1 and r not in succeeded]
    doubly = [r for r in reservations if len(by_reference[r]) > 2]
    return {
        "mismatched": [a for a, b in balances.items() if Decimal(sums.get(a, 0)) != b],
        "reservations": len(reservations),
        "unsettled": unsettled,
        "doubly_settled": doubly,
    }


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # a PostgreSQL scenario
def test_postgres_cut_under_load_gives_503s_then_recovers_and_the_books_balance(settings):
    url = make_url(settings.database_url)
    proxy = TcpProxy(url.host or "127.0.0.1", url.port or 5432)
    proxied = _proxied(settings, proxy)
    outages = 1 if PROFILE.name == "fast" else 5
    try:
        with LiveServer(create_app(proxied)) as server, httpx.Client(base_url=server.url) as http:
            users = []
            for i in range(USERS):
                email = f"outage-{i}@example.com"
                users.append(sign_up(http, email, proxied))
                grant_credits(settings, email, 100)
            db_execute(settings, update(Account).values(plan_code="pro"))

            stop = threading.Event()
            outcomes = Outcomes()
            runner = threading.Thread(
                target=lambda: asyncio.run(_load(server.url, users, stop, outcomes)), daemon=True
            )
            runner.start()
            # Each phase lasts until the load shows it (not for a fixed time, which a busy machine can fill
            # with nothing): answers flowing, then the cut felt by every user and answered while the port
            # refuses connections, then answers flowing again through new connections.
            try:
                for _ in range(outages):
                    outcomes.wait_for(outcomes.mark(), "answers before the cut", 3 * USERS, _served)
                    cut_at = outcomes.mark()
                    proxy.cut()
                    outcomes.wait_for(cut_at, "the outage felt", 3 * USERS, _unavailable)
                    proxy.restore()
                outcomes.wait_for(outcomes.mark(), "answers after the outage", 3 * USERS, _served)
            finally:
                stop.set()
                runner.join(timeout=60)
            result = outcomes.items

            # Recovery, with the same API process: answers come back within a few seconds.
            deadline = time.monotonic() + 15
            while True:
                recovered = http.post("/v1/chat/completions", json=completion_body(PAID), headers=users[0])
                if recovered.status_code == 200 or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            assert recovered.status_code == 200, recovered.text
    finally:
        proxy.close()

    statuses = Counter((what, status, code) for what, status, code in result)
    unexpected = {
        k: n for k, n in statuses.items() if k[1] not in (200, 201) and k[2] != "database_unavailable"
    }
    assert unexpected == {}, statuses
    unavailable = sum(n for k, n in statuses.items() if k[2] == "database_unavailable")
    assert unavailable > 0, f"the outage was not felt: {statuses}"

    # Reservations cut off between their two transactions are refunded by the job, after the grace period.
    async def sweep() -> int:
        db = Database(settings)
        try:
            later = utcnow() + timedelta(minutes=settings.reservation_grace_minutes, seconds=1)
            return await refund_lost_reservations(db.sessionmaker, settings, later)
        finally:
            await db.dispose()

    refunded = asyncio.run(sweep())
    assert asyncio.run(sweep()) == 0  # exactly once
    books = _books(settings)
    assert books["mismatched"] == [] and books["unsettled"] == [] and books["doubly_settled"] == [], books

    # Every 200 has its success event (+ the recovery call's). A call may also have succeeded unseen: when a
    # connection dies after PostgreSQL committed its settlement but before the reply came back, the client
    # gets a 503 for a call that was done and charged (a commit in doubt, at most one per cut connection;
    # an Idempotency-Key makes its retry safe). The books above balance either way.
    answered = sum(n for (what, status, _), n in statuses.items() if what == "complete" and status == 200)
    succeeded = len(events_of(settings, "llm.call_succeeded"))
    in_doubt = succeeded - (answered + 1)
    assert 0 <= in_doubt <= proxy.reset_connections, (succeeded, answered, proxy.reset_connections)
    lost = [e for e in events_of(settings, "llm.call_failed") if e.error_code == SETTLEMENT_LOST]
    assert len(lost) == refunded

    report(
        "database_outage",
        "postgresql",
        outages=proxy.cuts,
        connections_reset=proxy.reset_connections,
        requests=sum(statuses.values()),
        answered_503=unavailable,
        other_errors=0,
        reservations=books["reservations"],
        lost_settlements_refunded=refunded,
        commits_in_doubt=in_doubt,
        half_written=0,
    )


@pytest.mark.parametrize("settled", [False, True], ids=["lost", "settled"])
@pytest.mark.both_databases  # SELECT … FOR UPDATE and ON CONFLICT in the recovery job
def test_a_reservation_without_its_settlement_is_refunded_once_after_the_grace_period(settings, settled):
    with LiveServer(create_app(settings)) as server, httpx.Client(base_url=server.url) as http:
        headers = sign_up(http, "lost@example.com", settings)
        if settled:
            grant_credits(settings, "lost@example.com", 100)
            db_execute(settings, update(Account).values(plan_code="pro"))
            assert http.post("/v1/chat/completions", json=completion_body(PAID), headers=headers).is_success

    async def scenario() -> tuple[int, int, int]:
        db = Database(settings)
        gateway = Gateway(settings)
        try:
            async with db.sessionmaker() as session:
                account = await session.scalar(select(Account).where(Account.email == "lost@example.com"))
                if not settled:  # transaction 1 commits, then the process "dies": no settlement
                    await _make_paid(session, account)
                    await prepare(
                        session, gateway, account, model=PAID, messages=[ChatMessage("user", "hello")],
                        max_tokens=None, temperature=None, ctx=RequestContext(), at=utcnow(),
                    )  # fmt: skip
            now = utcnow()
            early = await refund_lost_reservations(db.sessionmaker, settings, now)
            grace = timedelta(minutes=settings.reservation_grace_minutes, seconds=1)
            late = await refund_lost_reservations(db.sessionmaker, settings, now + grace)
            again = await refund_lost_reservations(db.sessionmaker, settings, now + 2 * grace)
            return early, late, again
        finally:
            await gateway.aclose()
            await db.dispose()

    early, late, again = asyncio.run(scenario())
    assert (early, late, again) == (0, 0 if settled else 1, 0)
    books = _books(settings)
    assert books["mismatched"] == [] and books["unsettled"] == [] and books["doubly_settled"] == [], books
    lost = [e for e in events_of(settings, "llm.call_failed") if e.error_code == SETTLEMENT_LOST]
    assert len(lost) == (0 if settled else 1)
    if not settled:
        assert lost[0].model_id == PAID
        assert Decimal(events_of(settings, "balance.refunded")[0].credits) > 0


async def _make_paid(session, account) -> None:
    account.plan_code = "pro"
    await billing.move(session, account.id, Decimal(100), kind="adjustment", at=utcnow())
    await session.commit()
