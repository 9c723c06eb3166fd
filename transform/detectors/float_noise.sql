-- detector float_noise: a transaction whose printed numbers have more than 6 decimals, binary
-- floating-point residue such as 225.90753636363627 or 1.40000000000005 (ingest flags it as is_float_noise
-- and stores the value rounded half-even to the micro-unit, keeping the literal in *_text). Severity low.

with

transactions as (
    select transaction_id, user_id, currency, amount, ts, business_date, amount_text, vat_text, old_balance_text,
           new_balance_text, payment_balance_text, file_id, line_no
    from balance_events
    -- the few flagged ones, found in int_ledger (narrow; in an incremental build the changed users' tails only:
    -- the findings before them are kept, kept_findings.sql) and read by their key
    where transaction_id in (select transaction_id from int_ledger where is_float_noise
                             {%- if scoped %} and is_tail{% endif %})
),

final as (
    select
        'float_noise:' || transaction_id as fingerprint,
        'float_noise' as detector,
        'low' as severity,
        user_id, currency, transaction_id, ts as detected_at, business_date,
        cast(null as float) as score,
        amount,
        '{}' as parameters,
        'The log printed this transaction with floating-point noise (amount ' || coalesce(amount_text, '-')
            || ', vat ' || coalesce(vat_text, '-') || ', old balance ' || coalesce(old_balance_text, '-')
            || ', new balance ' || coalesce(new_balance_text, '-') || ', payment balance '
            || coalesce(payment_balance_text, '-') || '); the values were rounded to the micro-unit.' as explanation,
        file_id, line_no
    from transactions
)

select fingerprint, detector, severity, user_id, currency, transaction_id, detected_at, business_date, score,
       amount, parameters, explanation, file_id, line_no
from final
