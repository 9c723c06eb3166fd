-- detector continuity_gap: a transaction whose old_balance differs from the same user's previous
-- new_balance by more than BALANCE_TOLERANCE (balance_events.is_continuity_break): the balance changed
-- without a logged transaction. Also a discrepancy_report row of kind continuity; here it is scored by
-- the size of the gap in currency units. Severity medium.

with

transactions as (
    select transaction_id, user_id, currency, old_balance, prev_new_balance, continuity_gap, ts, business_date,
           file_id, line_no
    from int_ledger
    where is_continuity_break
    {%- if scoped %}
      and is_tail  -- an incremental build: the findings before the tail are kept (kept_findings.sql)
    {%- endif %}
),

final as (
    select
        'continuity_gap:' || transaction_id as fingerprint,
        'continuity_gap' as detector,
        'medium' as severity,
        user_id, transactions.currency, transaction_id, ts as detected_at, business_date,
        continuity_gap * 1.0 / 1000000 as score,
        continuity_gap as amount,
        :params_continuity_gap as parameters,
        'The balance went from ' || {{ money_text('prev_new_balance', 'cur') }} || ' after the previous transaction to '
            || {{ money_text('old_balance', 'cur') }} || ' before this one: a gap of '
            || {{ money('continuity_gap', 'cur', 'transactions.currency') }} || ' that no logged transaction explains.'
            as explanation,
        file_id, line_no
    from transactions
    left join ref_currencies cur on cur.currency = transactions.currency
)

select fingerprint, detector, severity, user_id, currency, transaction_id, detected_at, business_date, score,
       amount, parameters, explanation, file_id, line_no
from final
