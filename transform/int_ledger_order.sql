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
        case when user_id is null then '-' else '+' || user_id end as user_key,
        case when coalesce(outcome, 'unknown') = 'refused_negative_balance' then old_balance else new_balance end
            as balance_after
    from balance_events
),

sequenced as (
    select
        event_id,
        row_number() over by_user as ledger_seq,
        lag(balance_after) over by_user as prev_new_balance,
        lag(ts) over by_user as prev_ts,
        lag(ts_ms) over by_user as prev_ts_ms
    from events
    window by_user as (partition by user_key order by ts, transaction_id)
)

-- only what int_ledger cannot take from balance_events itself: the rows are sorted once more, by event_id, so
-- every byte counts (carrying transaction_id and user_key, 74 bytes a row, cost 2.7 CPU s on the 100x sample)
select event_id, ledger_seq, prev_new_balance, prev_ts, prev_ts_ms
from sequenced
order by event_id
