"""An experiment's comparison (`GET /api/v1/analytics/experiments/{id}`) said in plain words (decision 0061),
per variant against the control, in the staff member's language: "Compared with A, B is cheaper per call
(-23 %) and errs more often (+4.1 points); no clear difference in positive feedback (at 95 % confidence)."
(with a true minus sign).

A pure function of the API's answer (and of the language of `i18n`): the Experiments page shows it,
tests/dashboard/test_verdicts.py holds it to every combination of outcomes in both languages. What it may
say is only what the comparison says: a difference is named when its interval leaves out zero (`better` or
`worse`), the rest is "no clear difference", or "too few" with how many are needed."""

from __future__ import annotations

from typing import Any

from dashboard import i18n

# The metrics compared, in the order a verdict names them. Rates (shares of calls or of feedback) differ in
# percentage points; the others by how much, relative to the control.
METRICS = (
    "error_rate",
    "latency_p50_ms",
    "latency_p95_ms",
    "tokens_per_call",
    "cost_per_call_usd",
    "feedback_positive_share",
)
RATES = ("error_rate", "feedback_positive_share")
OUTCOMES = ("better", "worse", "no_difference", "too_few")
FEEDBACK = "feedback_positive_share"


def signed(value: float, decimals: int) -> str:
    """+4.1, -23 (with a true minus sign, U+2212), 0: in the current language's number form."""
    sign = "+" if value > 0 else "\u2212" if value < 0 else ""
    return f"{sign}{i18n.number(abs(value), decimals)}"


def figure(comparison: dict[str, Any]) -> str:
    """How much a variant differs on one metric: "+4.1 points" for a rate, "-23 %" for the rest (relative to
    the control), or the plain difference when the control's value is zero (no relative change)."""
    if comparison["metric"] in RATES:
        return i18n.t("experiments.points", value=signed(100 * comparison["difference"], 1))
    if comparison.get("relative") is not None:
        return f"{signed(100 * comparison['relative'], 0)} %"
    return signed(comparison["difference"], 2)


def listed(items: list[str]) -> str:
    """The items as a list: "a", "a and b", "a, b and c" (in Russian with «и»)."""
    if len(items) < 2:
        return "".join(items)
    return i18n.t("experiments.and", first=", ".join(items[:-1]), last=items[-1])


def _short(rows: dict[str, dict[str, Any]], names: list[str], field: str, needed: int) -> list[str]:
    """ "B has 12", for each of `names` with fewer than `needed` of `field` (without a row: none)."""
    counts = {name: rows.get(name, {}).get(field) or 0 for name in names}
    return [
        i18n.t("experiments.has", variant=name, count=i18n.number(count))
        for name, count in counts.items()
        if count < needed
    ]


def verdict(comparison: dict[str, Any], variant: str) -> str:
    """What the comparison says of `variant` against the control, in a sentence or three."""
    control = comparison["control"]
    rows = {row["variant"]: row for row in comparison["variants"]}
    pair = [variant, control]
    by_metric = {
        c["metric"]: c
        for c in comparison["comparisons"]
        if c["variant"] == variant and c["metric"] in METRICS
    }
    short_calls = _short(rows, pair, "calls", comparison["min_calls"])
    if short_calls:
        return i18n.t("experiments.v_few_calls", short=listed(short_calls), needed=comparison["min_calls"])
    if not by_metric:
        return i18n.t("experiments.v_nothing")
    outcomes = {m: by_metric[m]["outcome"] for m in METRICS if m in by_metric}
    found = [
        i18n.t(f"experiments.said_{said}", figure=figure(by_metric[m]))
        for m, said in ((m, f"{m}_{o}") for m, o in outcomes.items() if o in ("better", "worse"))
    ]
    same = [i18n.t(f"experiments.n_{m}") for m, o in outcomes.items() if o == "no_difference"]
    few = [m for m, o in outcomes.items() if o == "too_few"]
    sentences = []
    if found:
        text = i18n.t("experiments.v_found", variant=variant, control=control, findings=listed(found))
        if same:
            text += i18n.t("experiments.v_also_same", metrics=listed(same))
        sentences.append(i18n.t("experiments.v_at", text=text, confidence=_confidence(comparison)))
    elif same:
        text = i18n.t("experiments.v_none", variant=variant, control=control, metrics=listed(same))
        sentences.append(i18n.t("experiments.v_at", text=text, confidence=_confidence(comparison)))
    if FEEDBACK in few:
        short = _short(rows, pair, "feedback_count", comparison["min_feedback"])
        sentences.append(
            i18n.t("experiments.v_few_feedback", short=listed(short), needed=comparison["min_feedback"])
            if short
            else i18n.t("experiments.v_little", metrics=i18n.t(f"experiments.n_{FEEDBACK}"))
        )
    if rest := [i18n.t(f"experiments.n_{m}") for m in few if m != FEEDBACK]:
        sentences.append(i18n.t("experiments.v_little", metrics=listed(rest)))
    return " ".join(sentences)


def _confidence(comparison: dict[str, Any]) -> str:
    return i18n.number(100 * comparison["confidence"], 0)
