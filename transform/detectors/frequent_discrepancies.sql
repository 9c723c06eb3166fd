-- detector frequent_discrepancies: a user whose discrepant transactions (any kind in discrepancy_report)
-- reach FREQUENT_DISCREPANCY_COUNT within FREQUENT_DISCREPANCY_DAYS. One finding per episode: it fires on
-- the transaction that reaches the count, and again only after the user's count fell below it.
-- Severity medium.

with

discrepancies as (
    select transaction_id, kind from discrepancy_report where transaction_id is not null
),

transactions as (
    select transaction_id, user_id, currency, ts, ts_ms, business_date, file_id, line_no
    from int_ledger
    where user_id is not null
),

discrepant_transactions as (
    select
        transactions.transaction_id, transactions.user_id, transactions.currency, transactions.ts,
        transactions.ts_ms, transactions.business_date, transactions.file_id, transactions.line_no
    from transactions
    where transactions.transaction_id in (select transaction_id from discrepancies)
),

windowed as (
    select
        discrepant_transactions.*,
        count(*) over (partition by user_id order by ts_ms
                       range between :frequent_window_ms preceding and current row) as count_in_window
    from discrepant_transactions
),

crossings as (
    select
        windowed.*,
        lag(count_in_window) over (partition by user_id order by ts_ms, transaction_id) as previous_count
    from windowed
),

final as (
    select
        'frequent_discrepancies:' || transaction_id as fingerprint,
        'frequent_discrepancies' as detector,
        'medium' as severity,
        user_id, currency, transaction_id, ts as detected_at, business_date,
        count_in_window * 1.0 as score,
        cast(null as bigint) as amount,
        :params_frequent_discrepancies as parameters,
        'This user had ' || {{ int_text('count_in_window') }} || ' transactions with discrepancies within '
            || {{ int_text(':frequent_window_ms / 86400000') }} || ' days, reaching '
            || {{ int_text(':frequent_count') }} || ' with transaction ' || transaction_id || '.' as explanation,
        file_id, line_no
    from crossings
    where count_in_window >= :frequent_count and coalesce(previous_count, 0) < :frequent_count
)

select fingerprint, detector, severity, user_id, currency, transaction_id, detected_at, business_date, score,
       amount, parameters, explanation, file_id, line_no
from final
