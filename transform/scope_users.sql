-- scope_users: the users an incremental build rebuilds (transform/scope.py), one row each, with where their ledger
-- (ordered by time, then transaction id) first changed, as the loader noted it (db/pending.py): since_ts and
-- since_tx. Where none was noted, and for the transactions without a user (user_id NULL), the point is ('', ''),
-- before every transaction: the whole ledger is derived again.
-- user_key stands for the user in int_ledger (an integer, as a full build's event id of the first transaction).

select
    case when key = :no_user then null else substr(key, 2) end as user_id,
    coalesce(case when key = :no_user then null else since_ts end, '') as since_ts,
    coalesce(case when key = :no_user then null else since_tx end, '') as since_tx,
    row_number() over (order by key) as user_key
from pending_changes
where kind = :user_kind
