-- detector rapid_deduction: a debit of a positive amount that repeats the same user's previous debit of
-- the same amount within RAPID_DEDUCTION_SECONDS: a possible double charge. Severity high.

with

-- No window over every debit: a debit can repeat one within the window only if the user's transaction just
-- before it (int_ledger.prev_ts_ms; ordered by time, then id, as the detector orders) is within the window too,
-- since an earlier debit cannot be any closer. Only those few rows (67 of 1.5 M debits on the 100x sample)
-- look up the user's latest earlier debit of the same amount, the one a lag over same-amount debits would give.

candidates as (
    select event_id, user_key, ledger_seq, amount, ts_ms
    from int_ledger
    where type = 'DEBIT' and amount > 0 and user_id is not null
      and prev_ts_ms is not null and ts_ms - prev_ts_ms <= :rapid_window_ms
      {%- if scoped %}
      and is_tail  -- an incremental build: the findings before the tail are kept (kept_findings.sql)
      {%- endif %}
),

paired as materialized (  -- only these few rows are kept
    select
        candidates.*,
        (select max(earlier.ledger_seq) from int_ledger earlier
         where earlier.user_key = candidates.user_key and earlier.ledger_seq < candidates.ledger_seq
           and earlier.type = 'DEBIT' and earlier.amount = candidates.amount) as previous_seq
    from candidates
),

close_pairs as (
    select paired.event_id, previous.ts_ms as previous_ts_ms,
           previous.transaction_id as previous_transaction_id
    from paired
    join int_ledger previous on previous.user_key = paired.user_key and previous.ledger_seq = paired.previous_seq
    where paired.ts_ms - previous.ts_ms <= :rapid_window_ms
),

repeats as (
    select
        ledger.transaction_id, ledger.user_id, ledger.currency, ledger.amount, ledger.ts, ledger.ts_ms,
        ledger.business_date, ledger.file_id, ledger.line_no, close_pairs.previous_ts_ms,
        close_pairs.previous_transaction_id
    from close_pairs
    join int_ledger ledger on ledger.event_id = close_pairs.event_id  -- int_ledger's key
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
