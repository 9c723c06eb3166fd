-- detector duplicate_transaction: a transaction id logged again with a different payload (ingest applies the
-- copy logged first and records every other copy in transaction_conflicts): two different transactions share
-- one id, or a redelivery was logged with other values. Severity high. A repeat with the same payload (kind
-- 'duplicate': SQS delivers at least once, so a message can be processed twice, or a file was copied) was
-- counted once and changes no figure: it stays in transaction_conflicts and is not a finding.

with

conflicts as (
    select transaction_id, kind, ts, detail, file_id, line_no from transaction_conflicts where kind = 'conflict'
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
    {%- if scoped %}
    where {{ user_in_scope('transactions.user_id') }}
    {%- endif %}
),

final as (
    select
        'duplicate_transaction:' || transaction_id || ':' || coalesce(ts, '') || ':' || {{ int_text('repeat_no') }}
            as fingerprint,
        'duplicate_transaction' as detector,
        'high' as severity,
        user_id, currency, transaction_id, ts as detected_at, business_date,
        cast(null as float) as score,
        amount,
        '{"kind":"' || kind || '"}' as parameters,
        'Transaction id ' || transaction_id || ' appears again with different values ('
            || coalesce(detail, '?') || '); the copy logged first is applied.' as explanation,
        file_id, line_no
    from numbered
)

select fingerprint, detector, severity, user_id, currency, transaction_id, detected_at, business_date, score,
       amount, parameters, explanation, file_id, line_no
from final
