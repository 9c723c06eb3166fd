-- scope_users: the users an incremental build rebuilds (transform/scope.py), one row each, with where their ledger
-- (ordered by time, then transaction id) first changed, as the loader noted it (db/pending.py): since_ts and
-- since_tx. Where none was noted, and for the transactions without a user (user_id NULL), the point is ('', ''),
-- before every transaction: the whole ledger is derived again. since_month: the first business month a change
-- can be in (balance_rollforward_users keeps the months before it).
-- user_key stands for the user in int_ledger (an integer, as a full build's event id of the first transaction).

with

changes as (
    select
        case when key = :no_user then null else substr(key, 2) end as user_id,
        coalesce(case when key = :no_user then null else since_ts end, '') as since_ts,
        coalesce(case when key = :no_user then null else since_tx end, '') as since_tx,
        row_number() over (order by key) as user_key
    from pending_changes
    where kind = :user_kind
)

select user_id, since_ts, since_tx, {{ first_month_from('since_ts') }} as since_month, user_key
from changes
