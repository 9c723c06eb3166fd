-- detector float_noise: a transaction whose printed numbers have more than 6 decimals, binary
-- floating-point residue such as 225.90753636363627 or 1.40000000000005 (ingest flags it as is_float_noise
-- and stores the value rounded half-even to the micro-unit, keeping the literal in *_text). Severity low.

with

transactions as (
    -- the few flagged rows are found in narrow int_ledger; only their literals come from wide balance_events
    select noisy.transaction_id, noisy.user_id, noisy.currency, noisy.amount, noisy.ts, noisy.business_date,
           literals.amount_text, literals.vat_text, literals.old_balance_text, literals.new_balance_text,
           literals.payment_balance_text, noisy.file_id, noisy.line_no
    from int_ledger noisy
    join balance_events literals on literals.transaction_id = noisy.transaction_id
    where noisy.is_float_noise
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
