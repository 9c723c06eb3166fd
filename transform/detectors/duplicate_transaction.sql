-- detector duplicate_transaction: a transaction id logged more than once (ingest applies the copy logged
-- first and records every other copy in transaction_conflicts). A repeat with the same payload is a duplicate
-- (severity low: a redelivery or a copied file); with a different payload a conflict (severity high: two
-- different transactions share one id).

with

conflicts as (
    select transaction_id, kind, ts, detail, file_id, line_no from transaction_conflicts
),

transactions as (
    select transaction_id, user_id, currency, amount, business_date from balance_events
),

files as (
    select file_id, path, member from ingested_files
),

numbered as (
    select
        conflicts.*,
        transactions.user_id, transactions.currency, transactions.amount, transactions.business_date,
        row_number() over (partition by conflicts.transaction_id, conflicts.ts
                           order by files.path, files.member, conflicts.line_no) as repeat_no
    from conflicts
    left join transactions on transactions.transaction_id = conflicts.transaction_id
    left join files on files.file_id = conflicts.file_id
),

final as (
    select
        'duplicate_transaction:' || transaction_id || ':' || coalesce(ts, '') || ':' || {{ int_text('repeat_no') }}
            as fingerprint,
        'duplicate_transaction' as detector,
        case when kind = 'conflict' then 'high' else 'low' end as severity,
        user_id, currency, transaction_id, ts as detected_at, business_date,
        cast(null as float) as score,
        amount,
        '{"kind":"' || kind || '"}' as parameters,
        case when kind = 'conflict'
             then 'Transaction id ' || transaction_id || ' appears again with different values ('
                  || coalesce(detail, '?') || '); the copy logged first is applied.'
             else 'Transaction id ' || transaction_id || ' appears again with identical values; it was counted once.'
        end as explanation,
        file_id, line_no
    from numbered
)

select fingerprint, detector, severity, user_id, currency, transaction_id, detected_at, business_date, score,
       amount, parameters, explanation, file_id, line_no
from final
