-- detector frequent_discrepancies: a user whose discrepant transactions (any kind in discrepancy_report)
-- reach FREQUENT_DISCREPANCY_COUNT within FREQUENT_DISCREPANCY_DAYS. One finding per episode: it fires on
-- the transaction that reaches the count, and again only after the user's count fell below it.
-- Severity medium. An incremental build finds them from the time of each changed user's first change on, and
-- keeps the findings before it (kept_findings.sql).

with

{%- if scoped %}

previous as materialized (  -- (so that the subquery runs once per user, not once per row it is compared with)
    -- each changed user's last discrepant transaction before the time of their first change: the windows start
    -- at its window's start, so that its count (which says whether the next one reaches the count) and every
    -- later one are a full build's (its place read from ix_int_ledger_user alone)
    select
        changes.user_key, changes.since_ts,
        (select max(earlier.ledger_seq) from int_ledger earlier
         where earlier.user_key = changes.user_key and earlier.ts < changes.since_ts
           and (earlier.is_out_of_sync and earlier.is_applied or earlier.is_calc_mismatch
                or earlier.is_continuity_break)) as ledger_seq
    from scope_users changes
    where changes.user_id is not null
),

starts as materialized (  -- one row per user, looked up by each discrepant transaction
    select previous.user_key, previous.since_ts, last_one.ts_ms - :frequent_window_ms as window_start_ms
    from previous
    left join int_ledger last_one
      on last_one.user_key = previous.user_key and last_one.ledger_seq = previous.ledger_seq
),
{%- endif %}

discrepant_transactions as (
    -- the windows run over these three narrow columns; the few crossings then fetch the rest by transaction id.
    -- The transactions with a row in discrepancy_report are exactly those int_ledger flags for one of its kinds
    -- (sync and wallet: is_out_of_sync, applied ones only, as in discrepancy_transactions.sql; calculation;
    -- continuity), so the flags are read here: one pass over int_ledger instead of every discrepancy_report row
    -- and a lookup of its transaction.
    select event_id, transaction_id, user_id, ts_ms
    {%- if scoped %}, ts >= starts.since_ts as is_recent {%- endif %}
    from int_ledger
    {%- if scoped %}
    -- (+: SQLite reads int_ledger in one pass, not user by user through its index)
    join starts on starts.user_key = +int_ledger.user_key
    {%- endif %}
    where user_id is not null and (is_out_of_sync and is_applied or is_calc_mismatch or is_continuity_break)
    {%- if scoped %}
      and (ts >= starts.since_ts or ts_ms >= starts.window_start_ms)
    {%- endif %}
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

reaching as materialized (  -- only these few rows are kept, not every discrepant transaction
    select event_id, count_in_window
    from crossings
    where count_in_window >= :frequent_count and coalesce(previous_count, 0) < :frequent_count
    {%- if scoped %}
      and is_recent
    {%- endif %}
),

reached as (
    select
        ledger.transaction_id, ledger.user_id, ledger.currency, ledger.ts, ledger.business_date, ledger.file_id,
        ledger.line_no, reaching.count_in_window
    from reaching
    join int_ledger ledger on ledger.event_id = reaching.event_id  -- int_ledger's key
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
    from reached
)

select fingerprint, detector, severity, user_id, currency, transaction_id, detected_at, business_date, score,
       amount, parameters, explanation, file_id, line_no
from final
