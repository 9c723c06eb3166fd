-- int_ledger_order: each transaction's place among its user's transactions (by time, then transaction id) and
-- the previous transaction's values: the one per-user window of the build. It runs over these few narrow
-- columns only (a window's cost grows with the width of its rows) and the rows are stored by event_id, the
-- order int_ledger.sql reads balance_events in, so joining them back is a sequential walk. Dropped after the
-- build.
-- A transaction the Lambda refused (outcome 'refused_negative_balance') never changed the balance: the balance
-- after it, which the next transaction continues from, is its old_balance.

with

events as (
    select
        event_id, transaction_id, ts, ts_ms,
        -- the partition key, never NULL: transactions without a user form one partition, as PARTITION BY
        -- user_id would make them. Being an expression, it also keeps SQLite from walking
        -- ix_balance_events_user_ts (a random row lookup per transaction costs more than the sort).
        case when user_id is null then '-' else '+' || user_id end as user_partition,
        case when coalesce(outcome, 'unknown') = 'refused_negative_balance' then old_balance else new_balance end
            as balance_after
    from balance_events
    {%- if scoped == 'scan' and dialect == 'sqlite' %}
    -- an incremental build: the changed users' whole ledgers, here in one pass over the table ("+" keeps SQLite
    -- from seeking each user in ix_balance_events_user_ts, which cost 0.7 s more for the nightly batch's users)
    where {{ user_in_scope('+user_id') }}
    {%- elif scoped %}
    where {{ user_in_scope('user_id') }}  -- an incremental build: the changed users' whole ledgers
    {%- endif %}
),

sequenced as (
    select
        event_id,
        -- the event_id of the user's first transaction: an integer that stands for the user (for the
        -- transactions without one too) in int_ledger, its index and every lookup by user. 4-5 bytes instead of
        -- the 37 of the text key, in each of the 1.7 M rows and index entries on the 100x sample
        first_value(event_id) over by_user as user_key,
        row_number() over by_user as ledger_seq,
        lag(balance_after) over by_user as prev_new_balance,
        lag(ts) over by_user as prev_ts,
        lag(ts_ms) over by_user as prev_ts_ms
    from events
    -- ROWS, not the default RANGE frame: first_value then takes the partition's first row without SQLite looking
    -- for the current row's peers (with RANGE it cost 4 CPU s more on the 100x sample); row_number and lag
    -- ignore the frame
    window by_user as (partition by user_partition order by ts, transaction_id
                       rows between unbounded preceding and current row)
)

-- only what int_ledger cannot take from balance_events itself: the rows are sorted once more, by event_id, so
-- every byte counts (carrying transaction_id and the text key, 74 bytes a row, cost 2.7 CPU s on the 100x sample)
select event_id, user_key, ledger_seq, prev_new_balance, prev_ts, prev_ts_ms
from sequenced
order by event_id
