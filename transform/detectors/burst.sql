-- detector burst: a transaction less than BURST_MS after the same user's previous transaction (any type
-- or amount). People and the nightly batch do not post twice for one user within a second; retries and
-- loops do. Severity medium.

with

bursts as materialized (  -- only these few rows are kept
    -- the time of the user's previous transaction (by time, then id) comes from int_ledger
    select transaction_id, user_id, user_key, ledger_seq, currency, amount, ts, ts_ms, business_date, file_id,
           line_no, prev_ts_ms as previous_ts_ms
    from int_ledger
    where user_id is not null and prev_ts_ms is not null and ts_ms - prev_ts_ms < :burst_ms
    {%- if scoped %}
      and is_tail  -- an incremental build: the findings before the tail are kept (kept_findings.sql)
    {%- endif %}
),

paired as (
    -- and its id, looked up for these rows only
    select
        bursts.*,
        (select previous.transaction_id from int_ledger previous
         where previous.user_key = bursts.user_key and previous.ledger_seq = bursts.ledger_seq - 1)
            as previous_transaction_id
    from bursts
),

final as (
    select
        'burst:' || transaction_id as fingerprint,
        'burst' as detector,
        'medium' as severity,
        user_id, currency, transaction_id, ts as detected_at, business_date,
        (ts_ms - previous_ts_ms) * 1.0 as score,
        amount,
        '{"previous_transaction_id":"' || previous_transaction_id || '",' || substr(:params_burst, 2) as parameters,
        'This transaction came ' || {{ int_text('ts_ms - previous_ts_ms') }} || ' ms after transaction '
            || previous_transaction_id || ' of the same user.' as explanation,
        file_id, line_no
    from paired
)

select fingerprint, detector, severity, user_id, currency, transaction_id, detected_at, business_date, score,
       amount, parameters, explanation, file_id, line_no
from final
