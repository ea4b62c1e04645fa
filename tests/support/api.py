"""The API under test: a live uvicorn server, a clock, sign-up and sign-in shortcuts, staff, credits, the
database behind the API's back, events and mails."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import delete, func, insert, select, update

from api.core.db import make_sync_engine
from api.core.settings import Settings
from api.events.models import UsageEvent
from api.mail.models import EmailMessage
from api.mail.sender import Sender

PASSWORD = "correct-horse-battery"


class Clock:
    """A clock the test moves: what the API's `utcnow()` reads while the `clock` fixture is in use.

    It starts at noon UTC of a fixed day in the past (after the seeded prices and roles, before any real
    today, as the JWT library checks a token's issue time against the real clock), and moves only when
    told: no test waits for a real second, and none meets a real UTC midnight by chance.
    """

    START = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

    def __init__(self, now: datetime = START) -> None:
        self._now = now

    def __call__(self) -> datetime:
        return self._now

    def now(self) -> datetime:
        return self._now

    def advance(self, delta: timedelta | None = None, **parts: float) -> datetime:
        """Move on by `delta` or `timedelta(**parts)`; the new now."""
        self._now += delta if delta is not None else timedelta(**parts)
        return self._now

    def set(self, now: datetime) -> datetime:
        assert now.tzinfo is not None, "an aware UTC datetime"
        self._now = now
        return self._now

    def next_midnight(self) -> datetime:
        """The next UTC midnight after now."""
        return datetime.combine(self._now.date() + timedelta(days=1), datetime.min.time(), tzinfo=UTC)


class LiveServer:
    """The app served by a real uvicorn on a free loopback port, in a background thread (on 127.0.0.1, the
    address the tests allow the API to call, or another loopback address: a service the API must not)."""

    def __init__(self, app: FastAPI, host: str = "127.0.0.1") -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, 0))
        self.port = self._sock.getsockname()[1]
        self.url = f"http://{host}:{self.port}"
        # Proxy headers off, as `aiadmin serve` runs it: the app alone reads X-Forwarded-For (core/deps.py).
        config = uvicorn.Config(
            app, log_level="warning", lifespan="on", limit_concurrency=1000, proxy_headers=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def __enter__(self) -> LiveServer:
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        return self

    def __exit__(self, *_exc) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        self._sock.close()


class FakeDns:
    """Host names the test resolves (to any address, changed at will: DNS rebinding), through
    `socket.getaddrinfo`, which asyncio and aiohttp's resolver call; other names resolve as usual."""

    def __init__(self, monkeypatch) -> None:
        self.names: dict[str, str] = {}
        real = socket.getaddrinfo

        def getaddrinfo(host, port, family=0, type=0, proto=0, flags=0):
            name = host.decode() if isinstance(host, bytes) else host
            if name not in self.names:
                return real(host, port, family, type, proto, flags)
            address, number = self.names[name], int(port or 0)
            if ":" in address:
                return [
                    (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, number, 0, 0))
                ]
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, number))]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def register(client: httpx.Client, email: str, password: str = PASSWORD, **extra) -> None:
    """Sign up (202, the same answer whether or not the email is taken): the confirmation link is mailed."""
    response = client.post("/api/v1/auth/register", json={"email": email, "password": password, **extra})
    assert response.status_code == 202, response.text


@dataclass(frozen=True)
class Delivered:
    to: str
    subject: str
    body: str


# What the API processes of this test sent: the only copy of a sent mail's body once the outbox has wiped
# it. The `mailbox` fixture (tests/conftest.py) wraps every app's sender with `recording` and empties it.
MAILBOX: list[Delivered] = []


def recording(sender: Sender) -> Sender:
    """`sender`, noting in MAILBOX each mail it delivered (one it failed to deliver is not noted)."""

    class Recording:
        async def send(self, to: str, subject: str, body: str) -> None:
            await sender.send(to, subject, body)
            MAILBOX.append(Delivered(to, subject, body))

    return Recording()


def delivered(to: str, subject: str | None = None) -> list[Delivered]:
    """The mails delivered to `to` (with this subject), oldest first."""
    return [mail for mail in MAILBOX if mail.to == to and subject in (None, mail.subject)]


def mails(settings: Settings, to: str | None = None, kind: str | None = None) -> list[EmailMessage]:
    engine = make_sync_engine(settings)
    query = select(EmailMessage).order_by(EmailMessage.id)
    if to:
        query = query.where(EmailMessage.to_address == to)
    if kind:
        query = query.where(EmailMessage.kind == kind)
    try:
        with engine.connect() as conn:
            return list(conn.execute(query).all())
    finally:
        engine.dispose()


def mail_body(settings: Settings, to: str, kind: str) -> str:
    """The text of the newest mail of this kind to `to`: read from the email outbox while the mail waits
    there, from the mailbox once it has been delivered (and its body wiped from the outbox)."""
    found = mails(settings, to, kind)
    assert found, f"no {kind} mail to {to}"
    newest = found[-1]
    if not (body := newest.body):
        sent = delivered(to, newest.subject)
        assert sent, f"the {kind} mail to {to} was wiped from the outbox but never delivered"
        body = sent[-1].body
    return body


def link_token(settings: Settings, to: str, kind: str) -> str:
    """The token of the newest link of this kind mailed to `to`."""
    body = mail_body(settings, to, kind)
    match = re.search(r"token=([A-Za-z0-9_-]+)", body)
    assert match, body
    return match.group(1)


def confirm(client: httpx.Client, settings: Settings, email: str) -> None:
    token = link_token(settings, email, "confirm_email")
    response = client.get("/api/v1/auth/confirm-email", params={"token": token})
    assert response.status_code == 200, response.text


def tokens(client: httpx.Client, email: str, password: str = PASSWORD, **extra) -> dict:
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password, **extra})
    assert response.status_code == 200, response.text
    return response.json()


def login(client: httpx.Client, email: str, password: str = PASSWORD) -> str:
    return tokens(client, email, password)["access_token"]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def sign_up(client: httpx.Client, email: str, settings: Settings | None = None, **extra) -> dict[str, str]:
    """Register, confirm the email through the mailed link, log in: the new user's Authorization header."""
    settings = settings or client.app.state.settings
    register(client, email, **extra)
    confirm(client, settings, email)
    return bearer(login(client, email))


def event_counts(settings: Settings) -> Counter[str]:
    engine = make_sync_engine(settings)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(UsageEvent.type, func.count()).group_by(UsageEvent.type)).all()
    finally:
        engine.dispose()
    return Counter({type_: count for type_, count in rows})


def db_rows(settings: Settings, table, *where) -> list:
    """The rows of `table` (a model or a table) that match `where`, read behind the API's back."""
    engine = make_sync_engine(settings)
    try:
        with engine.connect() as conn:
            return conn.execute(select(table).where(*where)).all()
    finally:
        engine.dispose()


def completion_body(model: str = "mock-small", content: str = "Hello, how are you?") -> dict:
    return {"model": model, "messages": [{"role": "user", "content": content}]}


def create_staff_account(settings: Settings, email: str, role: str) -> None:
    """A staff account made the way `aiadmin create-admin` makes one."""
    import asyncio

    from api.core.db import Database
    from api.core.types import utcnow
    from api.users.service import create_staff

    async def create() -> None:
        db = Database(settings)
        try:
            async with db.sessionmaker() as session:
                await create_staff(session, settings, email=email, password=PASSWORD, role=role, at=utcnow())
        finally:
            await db.dispose()

    asyncio.run(create())


def db_execute(settings: Settings, *statements) -> None:
    """Change the database behind the API's back (an operator's edit, a clock moved, a corruption)."""
    engine = make_sync_engine(settings, writer=True)
    try:
        with engine.begin() as conn:
            for statement in statements:
                conn.execute(statement)
    finally:
        engine.dispose()


def db_scalar(settings: Settings, query):
    """One value read behind the API's back."""
    engine = make_sync_engine(settings)
    try:
        with engine.connect() as conn:
            return conn.scalar(query)
    finally:
        engine.dispose()


def events_of(settings: Settings, type_: str) -> list:
    engine = make_sync_engine(settings)
    try:
        with engine.connect() as conn:
            return list(
                conn.execute(select(UsageEvent).where(UsageEvent.type == type_).order_by(UsageEvent.id))
            )
    finally:
        engine.dispose()


def relay_only(settings: Settings, url: str, *extra) -> None:
    """mock-small and mock-large served by the HTTP mock provider at `url` only (provider `relay`, no
    fallback to the in-process mock), 100 calls a day on the free plan, and `extra` statements."""
    from api.accounts.models import Plan
    from api.catalogue.models import ModelRoute

    db_execute(
        settings,
        update(Plan).where(Plan.code == "free").values(daily_requests=100),
        delete(ModelRoute).where(ModelRoute.provider_id == "mock"),
        http_provider_row(settings, "relay", f"{url}/v1", priority=1),
        *(
            insert(ModelRoute).values(model_id=m, provider_id="relay", provider_model=m)
            for m in ("mock-small", "mock-large")
        ),
        *extra,
    )


def http_provider_row(
    settings: Settings, provider_id: str, url: str, *, priority: int, retries: int = 0, headers=None, key=None
):
    """An insert of an OpenAI-compatible provider (its key and headers encrypted as the API stores them)."""
    from api.catalogue.models import Provider
    from api.catalogue.service import sealed_headers
    from api.core.crypto import Encryptor
    from api.core.types import utcnow

    return Provider.__table__.insert().values(
        id=provider_id,
        kind="openai_compatible",
        display_name=provider_id,
        base_url=url,
        api_key_encrypted=Encryptor(settings).encrypt(key) if key else None,
        priority=priority,
        timeout_seconds=5.0,
        max_retries=retries,
        enabled=True,
        extra_headers_encrypted=sealed_headers(headers or {}, Encryptor(settings)),
        created_at=utcnow(),
    )


def wait_for_events(settings: Settings, type_: str, count: int = 1, timeout: float = 30.0) -> list:
    """The events of a type once `count` exist: for what the server settles after answering."""
    deadline = time.monotonic() + timeout
    while True:
        found = events_of(settings, type_)
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def enrol_two_factor(client: httpx.Client, headers: dict[str, str], password: str = PASSWORD):
    """Turn TOTP on for the signed-in account as a person does (a new key, the password and a first code):
    its authenticator (`pyotp.TOTP`) and its recovery codes. The code is for the API's now (the `clock`
    fixture's, if a test holds it); the next one accepted is `next_code(totp)`."""
    import pyotp

    from api.core.types import utcnow

    setup = client.post("/api/v1/auth/2fa/setup", headers=headers)
    assert setup.status_code == 200, setup.text
    totp = pyotp.TOTP(setup.json()["secret"])
    enabled = client.post(
        "/api/v1/auth/2fa/enable", headers=headers, json={"code": totp.at(utcnow()), "password": password}
    )
    assert enabled.status_code == 200, enabled.text
    return totp, enabled.json()["recovery_codes"]


def next_code(totp) -> str:
    """The code of the time step after the API's now: accepted once the current one was used (the API takes
    one step of drift)."""
    from api.core.types import utcnow

    return totp.at(utcnow() + timedelta(seconds=30))


def staff_member(client: httpx.Client, settings: Settings, role: str, email: str | None = None):
    """A staff member `<role>@example.com` (or `email`), signed in and enrolled in TOTP, as every staff role
    must be: (its Authorization header, its authenticator)."""
    email = email or f"{role}@example.com"
    create_staff_account(settings, email, role)
    headers = bearer(tokens(client, email)["access_token"])
    totp, _ = enrol_two_factor(client, headers)
    return headers, totp


def staff_headers(
    client: httpx.Client, settings: Settings, role: str, email: str | None = None
) -> dict[str, str]:
    """A signed-in staff member (`<role>@example.com` unless named), TOTP enrolled first, as every staff
    role must be."""
    return staff_member(client, settings, role, email)[0]


def grant_credits(settings: Settings, email: str, credits) -> None:
    """Credits as an admin adjustment gives them: the balance and its ledger row together."""
    from sqlalchemy import update

    from api.accounts.models import Account
    from api.billing.models import LedgerEntry
    from api.core.types import utcnow

    engine = make_sync_engine(settings, writer=True)
    try:
        with engine.begin() as conn:
            account_id = conn.scalar(select(Account.id).where(Account.email == email))
            conn.execute(update(Account).where(Account.id == account_id).values(balance=credits))
            conn.execute(
                LedgerEntry.__table__.insert().values(
                    account_id=account_id,
                    kind="adjustment",
                    amount=credits,
                    balance_after=credits,
                    created_at=utcnow(),
                    details={},
                )
            )
    finally:
        engine.dispose()
