-- detector rapid_deduction: a debit of a positive amount that repeats the same user's previous debit of
-- the same amount within RAPID_DEDUCTION_SECONDS: a possible double charge. Severity high.

with

debits as (
    select transaction_id, user_id, amount, ts_ms
    from int_ledger
    where type = 'DEBIT' and amount > 0 and user_id is not null
),

paired as (
    -- the window runs over these four narrow columns; the few repeats then fetch the rest by transaction id
    select
        debits.*,
        lag(ts_ms) over same_amount as previous_ts_ms,
        lag(transaction_id) over same_amount as previous_transaction_id
    from debits
    window same_amount as (partition by user_id, amount order by ts_ms, transaction_id)
),

close_pairs as materialized (  -- only these few rows are kept, not every debit
    select transaction_id, previous_ts_ms, previous_transaction_id
    from paired
    where previous_ts_ms is not null and ts_ms - previous_ts_ms <= :rapid_window_ms
),

repeats as (
    select
        ledger.transaction_id, ledger.user_id, ledger.currency, ledger.amount, ledger.ts, ledger.ts_ms,
        ledger.business_date, ledger.file_id, ledger.line_no, close_pairs.previous_ts_ms,
        close_pairs.previous_transaction_id
    from close_pairs
    join int_ledger ledger on ledger.transaction_id = close_pairs.transaction_id
),

final as (
    select
        'rapid_deduction:' || repeats.transaction_id as fingerprint,
        'rapid_deduction' as detector,
        'high' as severity,
        repeats.user_id, repeats.currency, repeats.transaction_id, repeats.ts as detected_at, repeats.business_date,
        (repeats.ts_ms - repeats.previous_ts_ms) / 1000.0 as score,
        repeats.amount,
        '{"previous_transaction_id":"' || repeats.previous_transaction_id || '",'
            || substr(:params_rapid_deduction, 2) as parameters,
        'The same amount of ' || {{ money('repeats.amount', 'cur', 'repeats.currency') }}
            || ' was deducted again ' || {{ int_text('(repeats.ts_ms - repeats.previous_ts_ms) / 1000') }}
            || ' s after transaction ' || repeats.previous_transaction_id || ': a possible double charge.'
            as explanation,
        repeats.file_id, repeats.line_no
    from repeats
    left join ref_currencies cur on cur.currency = repeats.currency
)

select fingerprint, detector, severity, user_id, currency, transaction_id, detected_at, business_date, score,
       amount, parameters, explanation, file_id, line_no
from final
