-- int_ledger_order: each transaction's place among its user's transactions (by time, then transaction id) and
-- the previous transaction's values: the one per-user window of the build. It runs over these few narrow
-- columns only (a window's cost grows with the width of its rows) and the rows are stored by event_id, the
-- order int_ledger.sql reads balance_events in, so joining them back is a sequential walk. Dropped after the
-- build.
-- A transaction the Lambda refused (outcome 'refused_negative_balance') never changed the balance: the balance
-- after it, which the next transaction continues from, is its old_balance.

{%- macro balance_after(row) -%}
case when coalesce({{ row }}.outcome, 'unknown') = 'refused_negative_balance' then {{ row }}.old_balance
     else {{ row }}.new_balance end
{%- endmacro %}

{%- if scoped %}
-- An incremental build: each changed user's transactions before their first change (transform/scope_users.sql)
-- keep the place and previous balance the last build gave them (balance_events' user_seq and prev_new_balance,
-- which int_ledger reads); the window runs over the rest, the tail, after the last kept transaction (the seed).
-- Both are read by seeks in ix_balance_events_user_ts (user_id, ts, transaction_id).

with

changed as (
    select user_id, since_ts, since_tx, user_key from scope_users
),

seeds as (
    select
        changed.user_id, seed.user_seq, seed.ts_ms, {{ balance_after('seed') }} as balance_after
    from changed
    join balance_events seed on seed.transaction_id = (
        select kept.transaction_id from balance_events kept
        where kept.user_id = changed.user_id and (kept.ts, kept.transaction_id) < (changed.since_ts, changed.since_tx)
        order by kept.ts desc, kept.transaction_id desc
        limit 1)
),

events as (
    select
        tail.event_id, tail.transaction_id, tail.ts, tail.ts_ms, changed.user_id, changed.user_key,
        {{ balance_after('tail') }} as balance_after
    from changed
    join balance_events tail
      on tail.user_id = changed.user_id and (tail.ts, tail.transaction_id) >= (changed.since_ts, changed.since_tx)
    union all
    -- the transactions without a user, when they changed: all of them
    select
        event_id, transaction_id, ts, ts_ms, null, (select user_key from changed where user_id is null),
        {{ balance_after('balance_events') }}
    from balance_events
    where user_id is null and exists (select 1 from changed where user_id is null)
),

sequenced as (
    select
        events.event_id,
        events.user_key,
        coalesce(seeds.user_seq, 0) + row_number() over by_user as ledger_seq,
        case when row_number() over by_user = 1 then seeds.balance_after
             else lag(events.balance_after) over by_user end as prev_new_balance,
        case when row_number() over by_user = 1 then seeds.ts_ms
             else lag(events.ts_ms) over by_user end as prev_ts_ms
    from events
    left join seeds on seeds.user_id = events.user_id
    window by_user as (partition by events.user_key order by events.ts, events.transaction_id)
)

select event_id, user_key, ledger_seq, prev_new_balance, prev_ts_ms
from sequenced
order by event_id
{%- else %}

with

events as (
    select
        event_id, transaction_id, ts, ts_ms,
        -- the partition key, never NULL: transactions without a user form one partition, as PARTITION BY
        -- user_id would make them. Being an expression, it also keeps SQLite from walking
        -- ix_balance_events_user_ts (a random row lookup per transaction costs more than the sort).
        case when user_id is null then '-' else '+' || user_id end as user_partition,
        {{ balance_after('balance_events') }} as balance_after
    from balance_events
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
select event_id, user_key, ledger_seq, prev_new_balance, prev_ts_ms
from sequenced
order by event_id
{%- endif %}
