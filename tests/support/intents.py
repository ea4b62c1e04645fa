"""Intents' test data: a fixed bilingual corpus with three known topics (cooking, Python programming, travel
tickets), ten requests each in English and in Russian, and requests stored in chats behind the API's back
(tests/pipelines/test_intents.py, tests/dashboard/test_pages_intents.py)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert

from api.accounts.models import Account
from api.chats.models import Chat, Message
from api.core.settings import Settings
from tests.support.api import db_execute

CORPUS: dict[str, dict[str, list[str]]] = {
    "cooking": {
        "en": [
            "Give me a recipe for chocolate cake",
            "How long should I bake a chicken recipe in the oven?",
            "A simple recipe for pasta with tomato sauce",
            "What can I cook for dinner with chicken and rice?",
            "Recipe for pancakes without eggs",
            "How do I bake bread at home, a recipe please",
            "Vegetarian soup recipe with beans",
            "How much sugar goes in an apple pie recipe?",
            "Quick breakfast recipe with eggs and cheese",
            "How to cook rice so it is not sticky",
        ],
        "ru": [
            "Дай рецепт шоколадного торта",
            "Сколько запекать курицу в духовке по рецепту?",
            "Простой рецепт пасты с томатным соусом",
            "Что приготовить на ужин из курицы и риса?",
            "Рецепт блинов без яиц",
            "Как испечь хлеб дома, рецепт",
            "Рецепт вегетарианского супа с фасолью",
            "Сколько сахара класть в яблочный пирог по рецепту?",
            "Быстрый рецепт завтрака с яйцами и сыром",
            "Как приготовить рис, чтобы он не слипался",
        ],
    },
    "python": {
        "en": [
            "How do I read a file in Python?",
            "Python function to sort a list of dictionaries by key",
            "Why does my Python code raise a KeyError in the dictionary?",
            "Write a Python class with a method and an attribute",
            "How to install a Python package with pip",
            "Python list comprehension example with a condition",
            "How do I handle exceptions in Python code?",
            "Convert a Python string to an integer in a function",
            "Python async function example with await",
            "How to write unit tests for a Python function",
        ],
        "ru": [
            "Как прочитать файл в Python?",
            "Функция на Python для сортировки списка словарей по ключу",
            "Почему мой код на Python падает с ошибкой KeyError в словаре?",
            "Напиши класс на Python с методом и атрибутом",
            "Как установить пакет Python через pip",
            "Пример генератора списка в Python с условием",
            "Как обрабатывать исключения в коде на Python?",
            "Преобразовать строку в число в функции Python",
            "Пример асинхронной функции на Python с await",
            "Как написать тесты для функции на Python",
        ],
    },
    "travel": {
        "en": [
            "Find cheap flight tickets to Paris",
            "How do I change the date on my plane ticket?",
            "Train tickets from Berlin to Prague, how much?",
            "Can I get a refund for a cancelled flight ticket?",
            "Best time to buy flight tickets to Rome",
            "Do I need a visa to travel to Japan with my ticket?",
            "How much luggage is allowed on a cheap flight ticket?",
            "Book a hotel and flight tickets for a trip to Spain",
            "Bus tickets from London to Oxford",
            "What documents do I need for an international flight ticket?",
        ],
        "ru": [
            "Найди дешёвые билеты на самолёт в Париж",
            "Как поменять дату в билете на самолёт?",
            "Сколько стоят билеты на поезд из Москвы в Петербург?",
            "Можно ли вернуть деньги за билет на отменённый рейс?",
            "Когда лучше покупать билеты на самолёт в Рим?",
            "Нужна ли виза для поездки в Японию по билету?",
            "Сколько багажа можно провезти по дешёвому билету на рейс?",
            "Забронировать отель и билеты на самолёт для поездки в Испанию",
            "Билеты на автобус из Москвы в Казань",
            "Какие документы нужны для международного рейса по билету?",
        ],
    },
}


def store_in_chats(
    settings: Settings,
    texts: list[str],
    *,
    staff: bool = False,
    deleted: bool = False,
    days_ago: int = 0,
    role_id: str | None = "chat",
    model_id: str | None = "mock-small",
) -> None:
    """One end user's (or staff member's, or a deleted account's) chat per text, `days_ago`: the request and
    its answer (by `model_id`; None: no answer, as when the call failed)."""
    account = uuid.uuid4()
    at = datetime.now(UTC) - timedelta(days=days_ago)
    rows = [
        insert(Account).values(
            id=account, email=f"{account.hex}@example.com", password_hash="x",
            role="admin" if staff else "user", plan_code="free", created_at=at,
            deleted_at=at if deleted else None,
        )
    ]  # fmt: skip
    for text in texts:
        chat = uuid.uuid4()
        rows += [
            insert(Chat).values(id=chat, account_id=account, title="t", message_count=2, role_id=role_id,
                                created_at=at, updated_at=at),
            insert(Message).values(chat_id=chat, role="user", content=text, tokens=1, created_at=at),
        ]  # fmt: skip
        if model_id is not None:
            rows.append(insert(Message).values(chat_id=chat, role="assistant", content="ok", tokens=1,
                                               model_id=model_id, created_at=at))  # fmt: skip
    db_execute(settings, *rows)
