"""The plain verdict of a variant against the control (dashboard/verdicts.py), composed from the comparison's
outcomes, in English and in Russian: a difference is said with its size only where its interval leaves out
zero; "no clear difference" where it does not; too few calls or too little feedback with how many are
needed."""

from __future__ import annotations

from typing import Any

import pytest

from dashboard import i18n
from dashboard.verdicts import METRICS, verdict


@pytest.fixture
def language(monkeypatch):
    session: dict[str, str] = {"locale": "en"}
    monkeypatch.setattr(i18n.st, "session_state", session)

    def use(locale: str) -> None:
        session["locale"] = locale

    return use


def compared(outcomes: dict[str, str], *, calls=(100, 100), feedback=(40, 40), **changes) -> dict[str, Any]:
    """A comparison of B against A as the API gives it: every metric "no_difference" unless `outcomes`
    says otherwise; `changes`: a metric's (difference, relative)."""
    rows = [
        {"variant": v, "calls": c, "users": c // 2, "feedback_count": f}
        for v, c, f in zip("AB", calls, feedback, strict=True)
    ]
    comparisons = [
        {
            "variant": "B",
            "versus": "A",
            "metric": metric,
            "control_value": 1.0,
            "value": 1.0,
            "difference": changes.get(metric, (0.0, 0.0))[0],
            "relative": changes.get(metric, (0.0, 0.0))[1],
            "low": -0.1,
            "high": 0.1,
            "outcome": outcomes.get(metric, "no_difference"),
        }
        for metric in METRICS
    ]
    return {
        "experiment_id": "e", "confidence": 0.95, "control": "A", "min_calls": 30, "min_feedback": 20,
        "refreshed_at": None, "variants": rows, "comparisons": comparisons,
    }  # fmt: skip


def test_a_cheaper_variant_is_said_so_with_how_much_and_the_rest_as_no_clear_difference(language):
    found = compared({"cost_per_call_usd": "better"}, cost_per_call_usd=(-0.0003, -0.23))
    assert verdict(found, "B") == (
        "Compared with A, B is cheaper per call (\u221223 %); no clear difference in the error rate,"
        " the median latency, the 95th-percentile latency, tokens per call and positive feedback"
        " (at 95 % confidence)."
    )
    language("ru")
    assert verdict(found, "B") == (
        "По сравнению с A вариант B дешевле за вызов (\u221223 %); нет явной разницы по доле ошибок,"
        " медианной задержке, задержке 95-го перцентиля, токенам на вызов и положительным отзывам"
        " (при уровне доверия 95 %)."
    )


def test_a_rate_differs_in_points_and_better_and_worse_are_both_said(language):
    found = compared(
        dict.fromkeys(METRICS, "worse") | {"feedback_positive_share": "better"},
        error_rate=(0.041, 0.8), latency_p50_ms=(120.0, 0.15), latency_p95_ms=(300.0, 0.2),
        tokens_per_call=(10.0, 0.05), cost_per_call_usd=(0.0001, 0.1), feedback_positive_share=(0.06, 0.1),
    )  # fmt: skip
    assert verdict(found, "B") == (
        "Compared with A, B errs more often (+4.1 points), answers slower at the median (+15 %),"
        " answers slower at the 95th percentile (+20 %), uses more tokens per call (+5 %), costs more"
        " per call (+10 %) and gets positive feedback more often (+6.0 points) (at 95 % confidence)."
    )
    language("ru")
    said = verdict(found, "B")
    assert said.startswith("По сравнению с A вариант B ошибается чаще (+4,1 п. п.), отвечает медленнее")
    assert said.endswith("и чаще получает положительные отзывы (+6,0 п. п.) (при уровне доверия 95 %).")


def test_fewer_errors_and_faster_answers_read_as_such(language):
    found = compared(
        {"error_rate": "better", "latency_p95_ms": "better", "tokens_per_call": "better"},
        error_rate=(-0.025, -0.5), latency_p95_ms=(-400.0, -0.31), tokens_per_call=(-5.0, -0.04),
    )  # fmt: skip
    assert verdict(found, "B") == (
        "Compared with A, B errs less often (\u22122.5 points), answers faster at the 95th percentile"
        " (\u221231 %) and uses fewer tokens per call (\u22124 %); no clear difference in the median"
        " latency, the cost per call and positive feedback (at 95 % confidence)."
    )


def test_no_difference_anywhere_says_so(language):
    found = compared({})
    assert verdict(found, "B").startswith("No clear difference between B and A in the error rate, the median")
    language("ru")
    assert verdict(found, "B").startswith("Нет явной разницы между B и A по доле ошибок, медианной задержке")


def test_too_few_calls_says_who_has_how_many_of_how_many_needed(language):
    outcomes = dict.fromkeys(METRICS, "too_few")
    assert verdict(compared(outcomes, calls=(40, 12)), "B") == (
        "Too few calls yet to tell (B has 12 of the 30 needed)."
    )
    assert verdict(compared(outcomes, calls=(5, 12)), "B") == (
        "Too few calls yet to tell (B has 12 and A has 5 of the 30 needed)."
    )
    no_control = compared(outcomes, calls=(40, 40))
    no_control["variants"] = no_control["variants"][1:]  # the control has no call counted yet
    assert verdict(no_control, "B") == "Too few calls yet to tell (A has 0 of the 30 needed)."
    language("ru")
    assert verdict(compared(outcomes, calls=(40, 12)), "B") == (
        "Пока слишком мало вызовов, чтобы судить (у B 12 из 30 нужных)."
    )


def test_too_little_feedback_is_said_beside_what_the_calls_tell(language):
    found = compared(
        {"feedback_positive_share": "too_few", "error_rate": "worse"}, feedback=(25, 3), error_rate=(0.1, 1.0)
    )
    said = verdict(found, "B")
    assert said.startswith("Compared with A, B errs more often (+10.0 points); no clear difference in")
    assert "positive feedback" not in said.split(".")[0]  # not said to be the same: not compared
    assert said.endswith(
        "(at 95 % confidence). Too little feedback yet to compare it (B has 3 of the 20 needed)."
    )
    language("ru")
    assert verdict(found, "B").endswith("Отзывов пока слишком мало для сравнения (у B 3 из 20 нужных).")


def test_a_metric_without_enough_data_despite_the_calls_is_named(language):
    found = compared({"latency_p50_ms": "too_few", "latency_p95_ms": "too_few"})
    assert verdict(found, "B").endswith(
        "Too little data yet on the median latency and the 95th-percentile latency."
    )
    language("ru")
    assert verdict(found, "B").endswith("Пока мало данных по медианной задержке и задержке 95-го перцентиля.")


def test_a_zero_control_value_gives_the_plain_difference_and_no_comparison_says_nothing_yet(language):
    found = compared({"cost_per_call_usd": "worse"}, cost_per_call_usd=(0.25, None))
    assert "costs more per call (+0.25)" in verdict(found, "B")
    assert verdict({**found, "comparisons": []}, "B") == "Nothing to compare yet."
