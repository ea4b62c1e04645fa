CREATE OR REPLACE FUNCTION public.gateway_settle(p_account uuid, p_reference text,
    p_reserved numeric, p_actual numeric, p_at timestamp with time zone,
    p_daily_metric text, p_day date, p_monthly_metric text, p_month date, p_tokens integer,
    p_events jsonb)
 RETURNS numeric
 LANGUAGE plpgsql
AS $function$
-- Transaction 2 of a successful completion outside a chat (the fast lane's settle): refund the unused
-- reservation or take the rest (never below zero: what the balance cannot cover is noted, not owed),
-- count the tokens of the day and the month, write the events with the credits charged. Returns those
-- credits (NULL for a free call: p_actual NULL). Writes the rows the ORM implementation writes
-- (api/gateway/books.py); tests/api/test_fast_lane.py holds the two to the same rows, every column.
-- To change it: edit this file and add a migration that installs it (docs/decisions/0027).
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
$function$

