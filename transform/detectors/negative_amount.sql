-- detector negative_amount: a transaction with amount < 0. The Lambda applies it with its sign, so a DEBIT
-- of a negative amount raises the balance (log-format.md §8.4); either way it should not happen.
-- Severity medium.

with

transactions as (
    select transaction_id, user_id, currency, type, amount, ts, business_date, file_id, line_no
    from int_ledger
    where amount < 0
    {%- if scoped %}
      and is_tail  -- an incremental build: the findings before the tail are kept (kept_findings.sql)
    {%- endif %}
),

final as (
    select
        'negative_amount:' || transaction_id as fingerprint,
        'negative_amount' as detector,
        'medium' as severity,
        user_id, transactions.currency, transaction_id, ts as detected_at, business_date,
        amount * 1.0 / 1000000 as score,
        amount,
        '{}' as parameters,
        'This ' || lower(coalesce(type, 'transaction')) || ' has a negative amount of '
            || {{ money('amount', 'cur', 'transactions.currency') }}
            || case when type = 'DEBIT' then ', so it raised the balance instead of lowering it.'
                    when type = 'CREDIT' then ', so it lowered the balance instead of raising it.'
                    else '.' end as explanation,
        file_id, line_no
    from transactions
    left join ref_currencies cur on cur.currency = transactions.currency
)

select fingerprint, detector, severity, user_id, currency, transaction_id, detected_at, business_date, score,
       amount, parameters, explanation, file_id, line_no
from final
