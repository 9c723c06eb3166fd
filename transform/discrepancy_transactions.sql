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

users as (
    select distinct user_key from int_ledger where is_out_of_sync and is_applied
),

applied as (
    -- the users with an out-of-sync transaction, their applied transactions only. island: how many in-sync
    -- transactions the user had up to this one (itself included); it numbers the runs between them
    select
        ledger.*,
        sum(case when is_out_of_sync then 0 else 1 end) over (
            partition by user_key order by ledger_seq rows between unbounded preceding and current row) as island
    from int_ledger ledger
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

final as (
    select
        'out_of_sync:' || grouped.first_transaction_id as discrepancy_id,
        grouped.position,
        case when grouped.is_out_of_sync then 'out_of_sync' else 'resolving' end as role,
        grouped.transaction_id, grouped.user_id, grouped.currency, grouped.ts, grouped.business_date,
        grouped.new_balance as subscription_balance,
        grouped.payment_balance,
        grouped.new_balance - grouped.payment_balance as gap,
        -- a seek in ix_not_in_sync_tx per row (joined to a grouped CTE, SQLite scanned it for every row)
        (select count(*) from not_in_sync_events errors
         where errors.transaction_id = grouped.transaction_id) as count_lambda_errors,
        grouped.event_id, grouped.file_id, grouped.line_no
    from grouped
    -- (episode_size over the frame so far: the first row of a run is out of sync, so a run with none is
    -- the in-sync transaction alone)
    where grouped.episode_size > 0
)

select
    discrepancy_id, position, role, transaction_id, user_id, currency, ts, business_date, subscription_balance,
    payment_balance, gap, count_lambda_errors, event_id, file_id, line_no
from final
