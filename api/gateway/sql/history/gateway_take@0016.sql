CREATE OR REPLACE FUNCTION public.gateway_take(p_account uuid,
    p_token_metrics text[], p_token_windows date[], p_token_limits integer[],
    p_requests_metric text, p_requests_window date, p_requests_limit integer,
    p_reserve numeric, p_reference text, p_at timestamp with time zone, p_details jsonb,
    OUT refused text, OUT new_balance numeric)
 RETURNS record
 LANGUAGE plpgsql
AS $function$
-- Transaction 1 of a completion outside a chat (the fast lane's take, api/gateway/fastlane.py): refuse on
-- a used-up token quota (read only), take one of the day's requests, reserve the credits. A refusal
-- writes nothing: `refused` names the quota's metric, or is 'balance' (the request taken before the
-- reservation failed is undone with it, by the block's savepoint).
-- To change it: edit this file and add a migration that installs it (docs/decisions/0027).
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
$function$

