"""Injected provider faults (issue #8): an LLM vendor that hangs, resets, errs and breaks its streams.

The vendor is a real HTTP server on loopback (raw sockets in threads, below): the gateway's aiohttp
client meets real timeouts, real TCP resets (SO_LINGER 0) and real bodies cut short. For every fault,
without and with streaming, a user sees a clear error, gets every credit back, and the failure is
recorded once; with a healthy provider behind it, a fault before the first token falls back to it and
the call is charged once.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import uuid
from dataclasses import dataclass
from decimal import Decimal

import httpx
import openai
import pytest
from sqlalchemy import func, select, update

from api.accounts.models import Account
from api.billing.models import LedgerEntry
from api.catalogue.models import ModelRoute, Provider
from api.chats.models import Chat, Message
from api.core.db import make_sync_engine
from api.events.models import UsageEvent
from api.main import create_app
from tests.reliability.profile import report
from tests.support.api import LiveServer, db_execute, grant_credits, http_provider_row, sign_up

# PostgreSQL only: the faults are the provider's, the same on either database, and both would double the time.
pytestmark = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)

HOLD_SECONDS = 10.0  # the longest the vendor keeps a connection it stalls (the gateway gives up sooner)


@dataclass(frozen=True)
class Fault:
    """How the vendor answers: `kind` is one of the faults below; `chunks` content pieces come first."""

    kind: str
    chunks: int = 0
    status: int = 200
    gap: float = 0.0  # "slow": seconds between pieces

    @property
    def injected(self) -> bool:
        return self.kind not in ("healthy", "slow", "finished_without_done")


HEALTHY = Fault("healthy", chunks=4)


class FaultyVendor:
    """An OpenAI-compatible chat-completions server that answers every request with `self.fault`.

    Faults: "hang" (accept, read, never answer), "reset" (RST before any byte of the response), "status"
    (`status` with a JSON error body), "reset_mid_stream" (200, `chunks` pieces, then RST), "error_chunk"
    (pieces, then an in-band `{"error": ...}` as OpenRouter sends it, then a clean end), "stall_mid_stream"
    (pieces, then silence), "truncated" (pieces, then a clean end with no finish_reason and no [DONE]).
    Without `stream`, the mid-stream faults cut the JSON body the same way (half of it, then RST, silence
    or a clean end), and "error_chunk" is a 200 whose body is the error. Not faults: "healthy", "slow"
    (pieces `gap` seconds apart), "finished_without_done" (a finish_reason and usage, then no [DONE]).

    A stream reset after its pieces waits for `release` first, so that the pieces reach the client
    before the RST (a reset discards what the peer has not read yet); the test releases it when it holds
    them, well within the provider's timeout.
    """

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}/v1"
        self.fault = HEALTHY
        self.requests = 0
        self.injected = 0  # requests answered with a fault
        self.release = threading.Event()
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._threads: list[threading.Thread] = []

    def __enter__(self) -> FaultyVendor:
        self._start(self._accept)
        return self

    def __exit__(self, *_exc) -> None:
        self._closing.set()
        self.release.set()
        for thread in list(self._threads):
            thread.join(timeout=HOLD_SECONDS)
        self._listener.close()

    def _start(self, target, *args) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._closing.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            self._start(self._serve, conn)

    def _serve(self, conn: socket.socket) -> None:
        try:
            body = _read_request(conn)
            fault = self.fault
            with self._lock:
                self.requests += 1
                self.injected += fault.injected
            if body.get("stream"):
                self._stream(conn, fault, body["model"])
            else:
                self._whole(conn, fault, body["model"])
        except OSError:
            pass  # the gateway hung up (it gave up waiting): nothing to answer
        finally:
            conn.close()

    def _whole(self, conn: socket.socket, fault: Fault, model: str) -> None:
        if fault.kind == "hang":
            self._hold(conn)
        elif fault.kind == "reset":
            _reset(conn)
        elif fault.kind in ("status", "error_chunk"):  # an error status, or a 200 whose body is an error
            status = fault.status if fault.kind == "status" else 502
            error = json.dumps({"error": {"code": status, "message": f"the vendor's {status}"}}).encode()
            _send(conn, _head(fault.status, error))
        else:
            answer = _head(200, json.dumps(_completion(model, _pieces(max(fault.chunks, 1)))).encode())
            if fault.kind == "healthy":
                _send(conn, answer)
                return
            _send(conn, answer[: -len(answer.split(b"\r\n\r\n", 1)[1]) // 2])  # half the body
            if fault.kind == "reset_mid_stream":
                _reset(conn)
            elif fault.kind == "stall_mid_stream":
                self._hold(conn)
            else:  # "truncated": a clean end, short of the Content-Length
                conn.shutdown(socket.SHUT_WR)

    def _stream(self, conn: socket.socket, fault: Fault, model: str) -> None:
        if fault.kind in ("hang", "reset", "status"):
            self._whole(conn, fault, model)
            return
        _send(
            conn,
            b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
        )
        base = {"id": "chatcmpl-vendor", "object": "chat.completion.chunk", "created": 0, "model": model}
        pieces = _pieces(fault.chunks)
        for piece in pieces:
            if fault.gap and self._closing.wait(fault.gap):
                return
            _send(conn, _event({**base, "choices": [{"index": 0, "delta": {"content": piece}}]}))
        if fault.kind == "reset_mid_stream":
            if pieces:
                self.release.wait(HOLD_SECONDS)
            _reset(conn)
            return
        if fault.kind == "stall_mid_stream":
            self._hold(conn)
            return
        if fault.kind == "error_chunk":  # as OpenRouter reports an upstream failure mid-stream
            _send(conn, _event({"error": {"code": 502, "message": "Provider returned error"}}))
        elif fault.kind != "truncated":  # the answer finishes: finish_reason, usage, [DONE] (or not)
            _send(conn, _event({**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}))
            _send(conn, _event({**base, "choices": [], "usage": _usage(len(pieces))}))
            if fault.kind != "finished_without_done":
                _send(conn, _chunk(b"data: [DONE]\n\n"))
        _send(conn, b"0\r\n\r\n")  # the body ends cleanly (for "truncated" too: no finish_reason, no [DONE])

    def _hold(self, conn: socket.socket) -> None:
        """Say nothing until the gateway hangs up (or the vendor shuts down)."""
        conn.settimeout(0.05)
        deadline = time.monotonic() + HOLD_SECONDS
        while not self._closing.is_set() and time.monotonic() < deadline:
            try:
                if not conn.recv(4096):
                    return
            except TimeoutError:
                continue


def _read_request(conn: socket.socket) -> dict:
    data = b""
    while b"\r\n\r\n" not in data:
        received = conn.recv(65536)
        if not received:
            raise ConnectionResetError("the client left before its request ended")
        data += received
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":", 1)[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        received = conn.recv(65536)
        if not received:
            raise ConnectionResetError("the client left before its request ended")
        body += received
    return json.loads(body)


def _pieces(count: int) -> list[str]:
    return [f"piece{i} " for i in range(count)]


def _head(status: int, payload: bytes) -> bytes:
    reason = {200: "OK", 429: "Too Many Requests", 500: "Internal Server Error", 502: "Bad Gateway",
              503: "Service Unavailable"}[status]  # fmt: skip
    return (
        f"HTTP/1.1 {status} {reason}\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
        "Connection: close\r\n\r\n"
    ).encode() + payload


def _usage(pieces: int) -> dict[str, int]:
    return {"prompt_tokens": 10, "completion_tokens": pieces, "total_tokens": 10 + pieces}


def _completion(model: str, pieces: list[str]) -> dict:
    message = {"role": "assistant", "content": "".join(pieces)}
    return {
        "id": "chatcmpl-vendor",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
        "usage": _usage(len(pieces)),
    }


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _event(payload: dict) -> bytes:
    return _chunk(f"data: {json.dumps(payload)}\n\n".encode())


def _send(conn: socket.socket, data: bytes) -> None:
    conn.sendall(data)


def _reset(conn: socket.socket) -> None:
    """Abort the connection: SO_LINGER 0 makes close() send an RST instead of a FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


# --- the gateway against the vendor ------------------------------------------------------------------

MODEL = "mock-large"  # a paid model: every call reserves credits, so every failure has a refund to check
TIMEOUT = 0.5  # the faulty vendor's timeout (seconds)
RETRIES = 1  # the faulty vendor's retries: a fault before the first token is met twice
CREDITS = Decimal(100)

# Each fault and the code of the attempt it fails: the same with and without streaming, except that a
# whole answer cut short is a body shorter than its Content-Length (a broken connection to aiohttp).
BEFORE_FIRST_TOKEN = [
    (Fault("hang"), "provider_timeout"),
    (Fault("reset"), "provider_unreachable"),
    (Fault("status", status=500), "provider_500"),
    (Fault("status", status=502), "provider_502"),
    (Fault("status", status=503), "provider_503"),
    (Fault("status", status=429), "provider_429"),
    (Fault("reset_mid_stream"), "provider_unreachable"),  # 200, then RST before any chunk
    (Fault("error_chunk"), "provider_502"),
    (Fault("stall_mid_stream"), "provider_timeout"),
    (Fault("truncated"), {True: "provider_stream_truncated", False: "provider_unreachable"}),
]
AFTER_FIRST_TOKEN = [
    (Fault("reset_mid_stream", chunks=3), "provider_unreachable"),
    (Fault("error_chunk", chunks=3), "provider_502"),
    (Fault("stall_mid_stream", chunks=3), "provider_timeout"),
    (Fault("truncated", chunks=3), {True: "provider_stream_truncated", False: "provider_unreachable"}),
]
FAULTS = BEFORE_FIRST_TOKEN + AFTER_FIRST_TOKEN


def _code(expected, stream: bool) -> str:
    return expected[stream] if isinstance(expected, dict) else expected


@dataclass
class Figures:
    calls: int = 0
    faults_injected: int = 0
    refunds_checked: int = 0
    charges_checked: int = 0
    events_lost: int = 0


class Books:
    """What the database holds about one user: balance, ledger, events, chats."""

    def __init__(self, settings, email: str) -> None:
        self._engine = make_sync_engine(settings)
        with self._engine.connect() as conn:
            self.account_id = conn.scalar(select(Account.id).where(Account.email == email))

    def close(self) -> None:
        self._engine.dispose()

    def _all(self, query) -> list:
        with self._engine.connect() as conn:
            return list(conn.execute(query))

    def balance(self) -> Decimal:
        return self._all(select(Account.balance).where(Account.id == self.account_id))[0][0]

    def last_event_id(self) -> int:
        return self._all(select(func.coalesce(func.max(UsageEvent.id), 0)))[0][0]

    def settled(self, chat_id: uuid.UUID, since: int) -> dict[str, list]:
        """A call's events (in its chat, after `since`) once its outcome is recorded: a stream is settled
        after its last byte has gone."""
        deadline = time.monotonic() + 10
        while True:
            found: dict[str, list] = {}
            query = select(UsageEvent).where(UsageEvent.chat_id == chat_id, UsageEvent.id > since)
            for event in self._all(query.order_by(UsageEvent.id)):
                found.setdefault(event.type, []).append(event)
            if {"llm.call_succeeded", "llm.call_failed"} & found.keys() or time.monotonic() > deadline:
                return found
            time.sleep(0.02)

    def ledger(self, reference: str) -> list:
        return self._all(
            select(LedgerEntry)
            .where(LedgerEntry.account_id == self.account_id, LedgerEntry.reference == reference)
            .order_by(LedgerEntry.id)
        )

    def chat(self, chat_id: uuid.UUID) -> tuple[int | None, list[tuple[str, str]]]:
        """The chat's message count (None: no such chat) and its messages."""
        count = self._all(select(Chat.message_count).where(Chat.id == chat_id))
        messages = self._all(
            select(Message.role, Message.content).where(Message.chat_id == chat_id).order_by(Message.id)
        )
        return (count[0][0] if count else None), [tuple(m) for m in messages]

    def calls_recorded(self) -> tuple[int, Decimal]:
        """The user's llm.call_* events, and the credits its successful calls were charged."""
        rows = self._all(
            select(UsageEvent.type, func.count(), func.sum(UsageEvent.credits))
            .where(UsageEvent.user_id == self.account_id, UsageEvent.type.like("llm.call_%"))
            .group_by(UsageEvent.type)
        )
        charged = sum((c for t, _, c in rows if t == "llm.call_succeeded"), Decimal(0))
        return sum(count for _, count, _ in rows), charged

    def assistant_messages(self) -> int:
        return self._all(
            select(func.count())
            .select_from(Message)
            .join(Chat, Chat.id == Message.chat_id)
            .where(Chat.account_id == self.account_id, Message.role == "assistant")
        )[0][0]


@pytest.fixture
def vendor():
    with FaultyVendor() as faulty:
        yield faulty


@pytest.fixture
def backup():
    with FaultyVendor() as healthy:  # HEALTHY unless told otherwise
        yield healthy


@pytest.fixture
def gateway(settings, vendor, request):
    """The app behind a live server, its only route to MODEL the faulty vendor (and, when the test asks
    for `backup`, a healthy provider of lower priority): a signed-up pro user with credits, its client."""
    statements = [
        update(Provider).where(Provider.id == "mock").values(enabled=False),
        http_provider_row(settings, "vendor", vendor.url, priority=1, retries=RETRIES).values(
            timeout_seconds=TIMEOUT
        ),
        ModelRoute.__table__.insert().values(
            model_id=MODEL, provider_id="vendor", provider_model="vendor-large"
        ),
    ]
    if "backup" in request.fixturenames:
        backup = request.getfixturevalue("backup")
        statements += [
            http_provider_row(settings, "backup", backup.url, priority=2),
            ModelRoute.__table__.insert().values(model_id=MODEL, provider_id="backup", provider_model=MODEL),
        ]
    db_execute(settings, *statements)
    with LiveServer(create_app(settings)) as live:
        with httpx.Client(base_url=live.url) as http:
            token = sign_up(http, "ada@example.com", settings)["Authorization"].removeprefix("Bearer ")
        db_execute(
            settings, update(Account).where(Account.email == "ada@example.com").values(plan_code="pro")
        )
        grant_credits(settings, "ada@example.com", CREDITS)
        books = Books(settings, "ada@example.com")
        client = openai.OpenAI(base_url=f"{live.url}/v1", api_key=token, max_retries=0, timeout=30)
        try:
            yield client, books
        finally:
            client.close()
            books.close()


QUESTION = "Summarise the plot of Hamlet in two sentences."


@dataclass
class Call:
    """One completion as the user saw it, and the books just before it."""

    chat_id: uuid.UUID
    stream: bool
    balance: Decimal
    since: int
    chat: tuple[int | None, list]
    text: str = ""
    error: openai.APIError | None = None


def _ask(client: openai.OpenAI, books: Books, vendor: FaultyVendor, fault: Fault, stream: bool, chat_id):
    """One completion through the official client, in the chat `chat_id`, with the vendor doing `fault`."""
    call = Call(chat_id, stream, books.balance(), books.last_event_id(), books.chat(chat_id))
    vendor.fault = fault
    vendor.release.clear()
    question = {
        "model": MODEL,
        "messages": [{"role": "user", "content": QUESTION}],
        "metadata": {"chat_id": str(chat_id)},
    }
    pieces: list[str] = []
    try:
        if not stream:
            call.text = client.chat.completions.create(**question).choices[0].message.content
            return call
        for chunk in client.chat.completions.create(**question, stream=True):
            if chunk.choices and chunk.choices[0].delta.content:
                pieces.append(chunk.choices[0].delta.content)
                if len(pieces) == fault.chunks:
                    vendor.release.set()  # the user holds the pieces: the vendor may reset now
    except openai.APIError as exc:
        call.error = exc
    call.text = "".join(pieces)
    return call


def _assert_failed_and_refunded(books: Books, call: Call):
    """A clear error; the reservation refunded in full; one llm.call_failed (returned); nothing written."""
    assert call.error is not None, f"the call succeeded: {call.text!r}"
    if call.stream:  # the stream's in-band error event (the response itself was a 200)
        assert type(call.error) is openai.APIError and call.error.code == "provider_error"
    else:
        assert isinstance(call.error, openai.InternalServerError)
        assert call.error.status_code == 502 and call.error.code == "provider_error"
    events = books.settled(call.chat_id, call.since)
    assert [len(events.get(t, [])) for t in ("llm.call_failed", "llm.call_succeeded")] == [1, 0], events
    assert "balance.charged" not in events and len(events.get("balance.refunded", [])) == 1
    ledger = books.ledger(events["balance.refunded"][0].properties["reference"])
    assert [row.kind for row in ledger] == ["charge", "refund"], ledger
    assert ledger[0].amount < 0 and sum(row.amount for row in ledger) == 0
    assert ledger[1].details["reason"] == "call_failed"
    assert books.balance() == call.balance
    # No message, and the chat as it was: one this call began is gone again.
    assert books.chat(call.chat_id) == call.chat
    return events["llm.call_failed"][0]


def _assert_charged_once(books: Books, call: Call):
    """The answer came; the call was charged once, its real cost; its two messages were stored."""
    assert call.error is None, call.error
    events = books.settled(call.chat_id, call.since)
    assert [len(events.get(t, [])) for t in ("llm.call_succeeded", "llm.call_failed")] == [1, 0], events
    assert len(events.get("balance.charged", [])) == 1 and "balance.refunded" not in events
    (succeeded,) = events["llm.call_succeeded"]
    ledger = books.ledger(succeeded.event_id.hex)
    assert ledger and ledger[0].kind == "charge" and sum(row.amount for row in ledger) == -succeeded.credits
    assert succeeded.credits > 0 and books.balance() == call.balance - succeeded.credits
    count, messages = call.chat
    assert books.chat(call.chat_id) == (
        (count or 0) + 2,
        [*messages, ("user", QUESTION), ("assistant", call.text)],
    )
    return succeeded


def _report(request, figures: Figures) -> None:
    report(
        "provider_faults",
        request.node.name,
        calls=figures.calls,
        faults_injected=figures.faults_injected,
        refunds_checked=figures.refunds_checked,
        charges_checked=figures.charges_checked,
        events_lost=figures.events_lost,
    )


def _events_lost(books: Books, figures: Figures) -> int:
    """Calls made that left no llm.call_* event (each call was checked to leave exactly one)."""
    figures.events_lost = figures.calls - books.calls_recorded()[0]
    return figures.events_lost


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_every_fault_is_a_clear_error_refunded_in_full_recorded_once_and_stores_no_message(
    gateway, vendor, stream, request
):
    client, books = gateway
    figures = Figures()
    for fault, expected in FAULTS:
        code = _code(expected, stream)
        requests, injected = vendor.requests, vendor.injected
        call = _ask(client, books, vendor, fault, stream, chat_id=uuid.uuid4())  # a chat it begins
        figures.calls += 1
        failed = _assert_failed_and_refunded(books, call)
        figures.refunds_checked += 1
        assert failed.provider == "vendor", fault
        if stream and fault.chunks:  # broken after its first token: the user holds the pieces; no retry
            assert call.text == "".join(_pieces(fault.chunks))
            assert vendor.requests - requests == 1
            assert failed.error_code == code, fault
            assert failed.properties["attempts"] == [{"provider": "vendor", "error": code}], fault
        else:
            assert call.text == ""
            assert vendor.requests - requests == RETRIES + 1
            assert failed.error_code == "all_providers_failed", fault
            assert failed.properties["attempts"] == [{"provider": "vendor", "error": code}] * (RETRIES + 1)
        assert vendor.injected - injected == vendor.requests - requests
        figures.faults_injected += vendor.injected - injected
    assert books.balance() == CREDITS and books.assistant_messages() == 0
    assert _events_lost(books, figures) == 0
    _report(request, figures)


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_with_a_healthy_provider_behind_a_fault_before_the_first_token_falls_back_and_is_charged_once(
    gateway, vendor, backup, stream, request
):
    """One conversation: the vendor misbehaves at every turn; the backup answers what it can."""
    client, books = gateway
    figures = Figures()
    chat_id = uuid.uuid4()
    for fault, expected in FAULTS:
        code = _code(expected, stream)
        requests, injected, served = vendor.requests, vendor.injected, backup.requests
        call = _ask(client, books, vendor, fault, stream, chat_id)
        figures.calls += 1
        figures.faults_injected += vendor.injected - injected
        if stream and fault.chunks:  # the user already holds the vendor's first pieces: no going elsewhere
            failed = _assert_failed_and_refunded(books, call)
            figures.refunds_checked += 1
            assert call.text == "".join(_pieces(fault.chunks))
            assert failed.error_code == code and failed.provider == "vendor", fault
            assert backup.requests == served, "a stream already under way was restarted elsewhere"
            continue
        succeeded = _assert_charged_once(books, call)
        figures.charges_checked += 1
        assert call.text == "".join(_pieces(HEALTHY.chunks)), fault  # the healthy provider's answer
        assert succeeded.provider == "backup" and backup.requests - served == 1
        assert succeeded.properties["attempts"] == [{"provider": "vendor", "error": code}] * (RETRIES + 1)
        assert vendor.requests - requests == vendor.injected - injected == RETRIES + 1
    assert _events_lost(books, figures) == 0
    assert books.balance() == CREDITS - books.calls_recorded()[1]
    assert books.assistant_messages() == figures.charges_checked
    _report(request, figures)


def test_a_stream_that_ends_after_its_finish_reason_or_flows_longer_than_the_timeout_is_whole_and_charged(
    gateway, vendor, request
):
    """Not faults: a finish_reason (and usage) but no [DONE] is a finished answer; the timeout bounds each
    wait for the next chunk, not the whole stream (five pieces 0.2 s apart outlast the 0.5 s timeout)."""
    client, books = gateway
    figures = Figures()
    for fault in (Fault("finished_without_done", chunks=3), Fault("slow", chunks=5, gap=TIMEOUT * 0.4)):
        call = _ask(client, books, vendor, fault, True, chat_id=uuid.uuid4())
        figures.calls += 1
        succeeded = _assert_charged_once(books, call)
        figures.charges_checked += 1
        assert call.text == "".join(_pieces(fault.chunks))
        assert succeeded.provider == "vendor" and "attempts" not in succeeded.properties
        assert succeeded.output_tokens == fault.chunks  # the vendor's own usage report: nothing estimated
        assert "usage_estimated" not in succeeded.properties
    assert _events_lost(books, figures) == 0 and vendor.injected == 0
    _report(request, figures)
