-- discrepancy_transactions: one row per transaction of an out-of-sync episode, and one for the transaction
-- that resolved it (docs/transforms.md#discrepancy_transactions). discrepancy_report sums these rows into one
-- row per episode; the ledger and the "transactions behind the issues" export read them.
-- An episode is a maximal run of one user's consecutive applied transactions (by time, then transaction id;
-- refused ones are not applied and neither join nor break a run) that are out of sync: the Lambda logged
-- "not in sync" for the transaction, or its payment_balance differs from its new_balance by more than the
-- tolerance (int_ledger.is_out_of_sync). The user's next applied transaction is in sync: it resolves the episode.
-- The gap is subscription minus wallet as the transaction printed them: unknown (NULL) for a legacy
-- transaction, which prints no wallet (its not-in-sync error's figures are in not_in_sync_events).

with

{%- if scoped %}

continued as (
    -- an incremental build derives each changed user's rows from their first change on (int_ledger.is_tail) and
    -- keeps the stored ones before it. When the last stored row before it is out of sync, its episode was still
    -- open there: the tail's first episode continues it (its id, and its positions after the stored ones). That
    -- row is found by a seek per changed user (transaction_id is unique in this table)
    select stored.user_id, stored.discrepancy_id, stored.position
    from discrepancy_transactions stored
    where stored.role = 'out_of_sync' and stored.transaction_id in (
        select (select last_kept.transaction_id from discrepancy_transactions last_kept
                where last_kept.user_id = changes.user_id
                  and (last_kept.ts, last_kept.transaction_id) < (changes.since_ts, changes.since_tx)
                order by last_kept.ts desc, last_kept.transaction_id desc
                limit 1)
        from scope_users changes)
),

tail as materialized (  -- the changed users' rows from their first change on: few, read once rather than by user
    select * from int_ledger where is_tail
),
{%- endif %}

users as (
    {%- if scoped %}
    select distinct user_key from tail
    where is_out_of_sync and is_applied or user_id in (select user_id from continued)
    {%- else %}
    select distinct user_key from int_ledger
    where is_out_of_sync and is_applied
    {%- endif %}
),

applied as (
    -- the users with an out-of-sync transaction, their applied transactions only. island: how many in-sync
    -- transactions the user had up to this one (itself included); it numbers the runs between them
    select
        ledger.*,
        sum(case when is_out_of_sync then 0 else 1 end) over (
            partition by user_key order by ledger_seq rows between unbounded preceding and current row) as island
    from {{ 'tail' if scoped else 'int_ledger' }} ledger
    where is_applied and user_key in (select user_key from users)
),

members as (
    -- an out-of-sync transaction belongs to the run after the island-th in-sync one; an in-sync transaction
    -- closes the run before it (island - 1), which is empty unless that run had out-of-sync transactions
    select
        applied.*,
        case when is_out_of_sync then island else island - 1 end as episode
    from applied
),

grouped as (
    select
        members.*,
        sum(case when is_out_of_sync then 1 else 0 end) over by_episode as episode_size,
        first_value(transaction_id) over by_episode as first_transaction_id,
        row_number() over by_episode as position
    from members
    window by_episode as (partition by user_key, episode order by ledger_seq
                          rows between unbounded preceding and current row)
),

{%- if scoped %}

placed as (
    -- the tail's first episode (0) of a user whose stored episode was open goes on with it
    select
        grouped.*,
        coalesce(continued.discrepancy_id, 'out_of_sync:' || grouped.first_transaction_id) as discrepancy_id,
        grouped.position + coalesce(continued.position, 0) as episode_position,
        continued.user_id is not null as is_continued
    from grouped
    left join continued on continued.user_id = grouped.user_id and grouped.episode = 0
),
{%- else %}

placed as (
    select grouped.*, 'out_of_sync:' || grouped.first_transaction_id as discrepancy_id,
           grouped.position as episode_position, false as is_continued
    from grouped
),
{%- endif %}

final as (
    select
        placed.discrepancy_id,
        placed.episode_position as position,
        case when placed.is_out_of_sync then 'out_of_sync' else 'resolving' end as role,
        placed.transaction_id, placed.user_id, placed.currency, placed.ts, placed.business_date,
        placed.new_balance as subscription_balance,
        placed.payment_balance,
        placed.new_balance - placed.payment_balance as gap,
        -- a seek in ix_not_in_sync_tx per row (joined to a grouped CTE, SQLite scanned it for every row)
        (select count(*) from not_in_sync_events errors
         where errors.transaction_id = placed.transaction_id) as count_lambda_errors,
        placed.event_id, placed.file_id, placed.line_no
    from placed
    -- (episode_size over the frame so far: the first row of a run is out of sync, so a run with none is
    -- the in-sync transaction alone, unless it resolves the stored episode it continues)
    where placed.episode_size > 0 or placed.is_continued
)

select
    discrepancy_id, position, role, transaction_id, user_id, currency, ts, business_date, subscription_balance,
    payment_balance, gap, count_lambda_errors, event_id, file_id, line_no
from final
