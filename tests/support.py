"""Helpers shared by the suites: a live uvicorn server, sign-up shortcuts, event counts."""

from __future__ import annotations

import socket
import threading
import time
from collections import Counter

import httpx
import uvicorn
from fastapi import FastAPI
from sqlalchemy import func, select

from api.core.db import make_sync_engine
from api.core.settings import Settings
from api.events.models import UsageEvent

PASSWORD = "correct-horse-battery"


class LiveServer:
    """The app served by a real uvicorn on a free loopback port, in a background thread."""

    def __init__(self, app: FastAPI) -> None:
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._sock.getsockname()[1]}"
        config = uvicorn.Config(app, log_level="warning", lifespan="on", limit_concurrency=1000)
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


def register(client: httpx.Client, email: str, password: str = PASSWORD, **extra) -> dict:
    response = client.post("/api/v1/auth/register", json={"email": email, "password": password, **extra})
    assert response.status_code == 201, response.text
    return response.json()


def login(client: httpx.Client, email: str, password: str = PASSWORD) -> str:
    response = client.post("/api/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 200, response.text
    return response.json()["access_token"]


def sign_up(client: httpx.Client, email: str, **extra) -> dict[str, str]:
    """Register and log in; the Authorization header of the new user."""
    register(client, email, **extra)
    return {"Authorization": f"Bearer {login(client, email)}"}


def event_counts(settings: Settings) -> Counter[str]:
    engine = make_sync_engine(settings)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(UsageEvent.type, func.count()).group_by(UsageEvent.type)).all()
    finally:
        engine.dispose()
    return Counter({type_: count for type_, count in rows})


def completion_body(model: str = "mock-small", content: str = "Hello, how are you?") -> dict:
    return {"model": model, "messages": [{"role": "user", "content": content}]}
