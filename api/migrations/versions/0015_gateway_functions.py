"""PostgreSQL: gateway_take and gateway_settle, a completion's two transactions as one statement each

The gateway's fast lane (api/gateway/fastlane.py) calls them: one round trip for transaction 1 (token
quotas, the day's request, the reservation) and one for transaction 2 of a successful call (settlement,
tokens, events), instead of a dozen. They write exactly the rows the portable code writes
(tests/api/gateway/test_fast_lane.py compares the two). SQLite has no functions: it keeps the portable code.

To change their logic, add a migration with CREATE OR REPLACE FUNCTION; never edit this one.

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-22
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Refuse on a used-up token quota (read only), take one of the day's requests, reserve the credits. A
# refusal writes nothing: `refused` names the quota's metric, or is 'balance' (the request taken before
# the reservation failed is undone with it, by the block's savepoint).
TAKE = """
CREATE FUNCTION gateway_take(
    p_account uuid,
    p_token_metrics text[], p_token_windows date[], p_token_limits integer[],
    p_requests_metric text, p_requests_window date, p_requests_limit integer,
    p_reserve numeric, p_reference text, p_at timestamptz, p_details jsonb,
    OUT refused text, OUT new_balance numeric
) LANGUAGE plpgsql AS $$
DECLARE
    v_used integer;
BEGIN
    FOR i IN 1 .. coalesce(array_length(p_token_metrics, 1), 0) LOOP
        SELECT q.used INTO v_used FROM quota_usage q
        WHERE q.account_id = p_account AND q.metric = p_token_metrics[i]
          AND q.window_start = p_token_windows[i];
        IF coalesce(v_used, 0) >= p_token_limits[i] THEN
            refused := p_token_metrics[i];
            RETURN;
        END IF;
    END LOOP;
    BEGIN
        IF p_requests_metric IS NOT NULL THEN
            v_used := NULL;
            IF p_requests_limit > 0 THEN
                INSERT INTO quota_usage AS q (account_id, metric, window_start, used)
                VALUES (p_account, p_requests_metric, p_requests_window, 1)
                ON CONFLICT (account_id, metric, window_start) DO UPDATE SET used = q.used + 1
                WHERE q.used < p_requests_limit
                RETURNING q.used INTO v_used;
            END IF;
            IF v_used IS NULL THEN
                refused := p_requests_metric;
                RETURN;
            END IF;
        END IF;
        IF p_reserve IS NOT NULL THEN
            UPDATE accounts a SET balance = a.balance - p_reserve
            WHERE a.id = p_account AND a.balance >= p_reserve
            RETURNING a.balance INTO new_balance;
            IF NOT FOUND THEN
                RAISE EXCEPTION USING ERRCODE = 'AI402', MESSAGE = 'insufficient balance';
            END IF;
            INSERT INTO credit_ledger (account_id, kind, amount, balance_after, reference, created_at,
                                       details)
            VALUES (p_account, 'charge', -p_reserve, new_balance, p_reference, p_at, p_details);
        END IF;
    EXCEPTION WHEN SQLSTATE 'AI402' THEN
        refused := 'balance';
        new_balance := NULL;
    END;
END
$$
"""

# Refund the unused reservation or take the rest (never below zero: what the balance cannot cover is
# noted, not owed), count the tokens of the day and the month, write the events with the credits charged.
# Returns those credits (NULL for a free call: p_actual NULL).
SETTLE = """
CREATE FUNCTION gateway_settle(
    p_account uuid, p_reference text, p_reserved numeric, p_actual numeric, p_at timestamptz,
    p_daily_metric text, p_day date, p_monthly_metric text, p_month date, p_tokens integer,
    p_events jsonb
) RETURNS numeric LANGUAGE plpgsql AS $$
DECLARE
    v_difference numeric := p_reserved - p_actual;
    v_balance numeric;
    v_extra numeric;
    v_charged numeric := p_actual;
BEGIN
    IF v_difference > 0 THEN
        UPDATE accounts a SET balance = a.balance + v_difference WHERE a.id = p_account
        RETURNING a.balance INTO v_balance;
        INSERT INTO credit_ledger (account_id, kind, amount, balance_after, reference, created_at, details)
        VALUES (p_account, 'refund', v_difference, v_balance, p_reference, p_at,
                jsonb_build_object('settles', p_reference));
    ELSIF v_difference < 0 THEN
        SELECT a.balance INTO v_balance FROM accounts a WHERE a.id = p_account FOR UPDATE;
        v_extra := least(-v_difference, v_balance);
        IF v_extra > 0 THEN
            UPDATE accounts a SET balance = a.balance - v_extra WHERE a.id = p_account
            RETURNING a.balance INTO v_balance;
            INSERT INTO credit_ledger (account_id, kind, amount, balance_after, reference, created_at,
                                       details)
            VALUES (p_account, 'charge', -v_extra, v_balance, p_reference, p_at,
                    jsonb_build_object('settles', p_reference));
        END IF;
        v_charged := p_reserved + v_extra;
    END IF;
    INSERT INTO quota_usage AS q (account_id, metric, window_start, used)
    VALUES (p_account, p_daily_metric, p_day, p_tokens), (p_account, p_monthly_metric, p_month, p_tokens)
    ON CONFLICT (account_id, metric, window_start) DO UPDATE SET used = q.used + excluded.used;
    INSERT INTO usage_events (event_id, occurred_at, type, user_id, chat_id, role_id, model_id, provider,
                              plan, input_tokens, output_tokens, cost_usd, credits, latency_ms, status,
                              error_code, country, client, properties)
    SELECT e.event_id, e.occurred_at, e.type, e.user_id, e.chat_id, e.role_id, e.model_id, e.provider, e.plan,
           e.input_tokens, e.output_tokens, e.cost_usd, v_charged, e.latency_ms, e.status, e.error_code,
           e.country, e.client, coalesce(e.properties, '{}'::jsonb)
    FROM jsonb_array_elements(p_events) WITH ORDINALITY AS x(doc, n),
         jsonb_populate_record(NULL::usage_events, x.doc) AS e
    ORDER BY x.n;
    RETURN v_charged;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(TAKE)
    op.execute(SETTLE)


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP FUNCTION gateway_settle")
    op.execute("DROP FUNCTION gateway_take")
