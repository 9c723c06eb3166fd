-- detector rapid_deduction: a debit of a positive amount that repeats the same user's previous debit of
-- the same amount within RAPID_DEDUCTION_SECONDS: a possible double charge. Severity high.

with

debits as (
    select transaction_id, user_id, currency, amount, ts, ts_ms, business_date, file_id, line_no
    from int_ledger
    where type = 'DEBIT' and amount > 0 and user_id is not null
),

paired as (
    select
        debits.*,
        lag(ts_ms) over same_amount as previous_ts_ms,
        lag(transaction_id) over same_amount as previous_transaction_id
    from debits
    window same_amount as (partition by user_id, amount order by ts_ms, transaction_id)
),

final as (
    select
        'rapid_deduction:' || paired.transaction_id as fingerprint,
        'rapid_deduction' as detector,
        'high' as severity,
        paired.user_id, paired.currency, paired.transaction_id, paired.ts as detected_at, paired.business_date,
        (paired.ts_ms - paired.previous_ts_ms) / 1000.0 as score,
        paired.amount,
        '{"previous_transaction_id":"' || paired.previous_transaction_id || '",'
            || substr(:params_rapid_deduction, 2) as parameters,
        'The same amount of ' || {{ money('paired.amount', 'cur', 'paired.currency') }}
            || ' was deducted again ' || {{ int_text('(paired.ts_ms - paired.previous_ts_ms) / 1000') }}
            || ' s after transaction ' || paired.previous_transaction_id || ': a possible double charge.'
            as explanation,
        paired.file_id, paired.line_no
    from paired
    left join ref_currencies cur on cur.currency = paired.currency
    where paired.previous_ts_ms is not null and paired.ts_ms - paired.previous_ts_ms <= :rapid_window_ms
)

select fingerprint, detector, severity, user_id, currency, transaction_id, detected_at, business_date, score,
       amount, parameters, explanation, file_id, line_no
from final
