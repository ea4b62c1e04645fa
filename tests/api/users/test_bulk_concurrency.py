"""Bulk user actions under a burst on PostgreSQL: parallel bulk requests over overlapping accounts, in
clashing orders, and single blocks and unblocks of the same accounts at once (api/users/admin.py,
docs/decisions/0046).

Each request must still be all or nothing, answered 200 or refused with its rule's code (never a 500, never
a deadlock), and the audit log must hold exactly the changes that happened: an account blocked twice in a
row by two requests that both saw it unblocked is a lost update.
"""

from __future__ import annotations

import random
import threading
from collections import Counter

import httpx
import pytest
from sqlalchemy import text

from tests.support.api import db_scalar, register, staff_headers

pytestmark = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)

USERS = "/api/v1/admin/users"
ACCOUNTS = 10


def _burst(url: str, requests: list[tuple[str, dict]], headers: dict[str, str]) -> list[httpx.Response]:
    """All `requests` (path, body) sent at once, one thread and connection each, released together."""
    clients = [httpx.Client(base_url=url, headers=headers, timeout=60) for _ in requests]
    for http in clients:  # connected before the start, so that the requests reach the API together
        assert http.get("/health").status_code == 200
    start, answers = threading.Barrier(len(requests)), [None] * len(requests)

    def send(n: int) -> None:
        start.wait()
        answers[n] = clients[n].post(requests[n][0], json=requests[n][1])

    threads = [threading.Thread(target=send, args=(n,)) for n in range(len(requests))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    for http in clients:
        http.close()
    return answers


def _burst_of(ids: list[str], action: str, single: str, seed: int) -> list[tuple[str, dict]]:
    """Twelve bulk `action`s over overlapping slices of `ids`, each in its own shuffled order, and six single
    actions (`single` and its opposite) on accounts those slices hold."""
    rng = random.Random(seed)
    requests = []
    for n in range(12):
        chosen = rng.sample(ids, rng.randint(2, 5))
        requests.append((f"{USERS}/bulk", {"action": action, "user_ids": chosen, "reason": f"burst {n}"}))
    for n, account in enumerate(rng.sample(ids, 6)):
        kind = single if n % 2 == 0 else ("unblock" if single == "block" else "block")
        requests.append((f"{USERS}/{account}/{kind}", {"reason": f"single {n}"}))
    rng.shuffle(requests)
    return requests


def _audited(settings, ids: list[str]) -> dict[str, Counter]:
    """Per account, how many block and unblock audit rows it has."""
    rows = db_scalar(
        settings,
        text(
            "SELECT coalesce(json_agg(json_build_array(target_id, action)), '[]') FROM audit_log "
            "WHERE action IN ('user.block', 'user.unblock')"
        ),
    )
    counts = {i: Counter() for i in ids}
    for target, action in rows:
        counts[target][action] += 1
    return counts


def test_a_burst_of_overlapping_bulk_and_single_actions_keeps_every_request_all_or_nothing_and_audited(
    settings, live_server
):
    with httpx.Client(base_url=live_server.url, timeout=60) as http:
        admin = staff_headers(http, settings, "admin")
        for n in range(ACCOUNTS):
            register(http, f"burst{n}@example.com")
        found = http.get(USERS, params={"q": "burst", "limit": 50}, headers=admin).json()["items"]
    ids = sorted(a["id"] for a in found)
    assert len(ids) == ACCOUNTS

    succeeded: Counter = Counter()  # per account, the changes the API said it made
    bulk_done = 0
    for seed, (action, single) in enumerate([("block", "block"), ("unblock", "unblock")]):
        requests = _burst_of(ids, action, single, seed)
        answers = _burst(live_server.url, requests, admin)
        for (path, body), answer in zip(requests, answers, strict=True):
            assert answer is not None, f"{path} got no answer"
            assert answer.status_code in (200, 409), (path, answer.status_code, answer.text)
            if answer.status_code == 409:
                assert answer.json()["error"]["code"] == "no_change", answer.text
                continue
            touched = body.get("user_ids") or [path.split("/")[-2]]
            succeeded.update(touched)
            bulk_done += "user_ids" in body

        # Every account's audit rows are exactly the changes made to it, alternating from unblocked; its
        # state is where they lead.
        audited = _audited(settings, ids)
        states = {
            a["id"]: a["is_blocked"]
            for a in httpx.get(
                f"{live_server.url}{USERS}", params={"q": "burst", "limit": 50}, headers=admin
            ).json()["items"]
        }
        for account in ids:
            blocks, unblocks = audited[account]["user.block"], audited[account]["user.unblock"]
            assert blocks + unblocks == succeeded[account], account
            assert blocks - unblocks == int(states[account]), (account, blocks, unblocks, states[account])
    bulk_rows = db_scalar(settings, text("SELECT count(*) FROM audit_log WHERE action = 'user.bulk'"))
    assert bulk_rows == bulk_done
    events = db_scalar(
        settings,
        text("SELECT count(*) FROM usage_events WHERE type IN ('user.blocked', 'user.unblocked')"),
    )
    assert events == sum(succeeded.values())
