-- scope_users: the users an incremental build rebuilds (transform/scope.py), one row each, with where their ledger
-- (ordered by time, then transaction id) first changed, as the loader noted it (db/pending.py): since_ts and
-- since_tx. Where none was noted, and for the transactions without a user (user_id NULL), the point is ('', ''),
-- before every transaction: the whole ledger is derived again. since_month: the first business month a change
-- can be in (balance_rollforward_users keeps the months before it).
-- user_key stands for the user in int_ledger (an integer, as a full build's event id of the first transaction).
-- int_ledger (int_ledger.sql) reads the user's transactions from read_from on: the tail, and those before it that
-- a later step reads, as the last build stored them (the same code and settings, or the build would be full):
--   all of them ('') when reads_whole: a test-shaped id (test_user); a user already seen in two currencies, or
--       whose tail has a transaction in another currency than their stored row's, or none (multi_currency); a
--       stored user_balances row that cannot be carried on (user_balances.sql: carried); or a tail transaction
--       in a business month before the last of the user's roll-forward chain;
--   else from the earliest of: the transaction before the user's first calculation or continuity break
--       (discrepancy_report rebuilds the user's rows: a break, its resolution, the transaction before it); the
--       time of the last transaction before the change less RAPID_DEDUCTION_SECONDS (burst and rapid_deduction
--       pair a tail transaction with an earlier one); and that of the last out-of-sync one before since_ts less
--       FREQUENT_DISCREPANCY_DAYS (frequent_discrepancies: its windows start at the last discrepant transaction's
--       window; the breaks among them are read from the first break on). One second more of each time: SQLite
--       works the times out in floating point. A few more transactions than needed change nothing.
-- A user not read whole has all their stored rows before the tail, in one currency: user_balances carries their
-- row on, and balance_rollforward_users the last month of their chain in carry_currency (carry_month).

with

changes as (
    select
        case when key = :no_user then null else substr(key, 2) end as user_id,
        coalesce(case when key = :no_user then null else since_ts end, '') as since_ts,
        coalesce(case when key = :no_user then null else since_tx end, '') as since_tx,
        row_number() over (order by key) as user_key
    from pending_changes
    where kind = :user_kind
),

stored as (
    select
        changes.*,
        {{ first_month_from('changes.since_ts') }} as since_month,
        balances.currency as stored_currency,
        coalesce(balances.balance is not null and balances.currency is not null
                 and (balances.last_seen_at, balances.last_transaction_id) < (changes.since_ts, changes.since_tx),
                 false) as can_carry,
        -- the last month of the user's roll-forward chain in that currency (balance_rollforward_users)
        (select max(chain.month) from balance_rollforward_users chain
         where chain.user_id = changes.user_id and chain.currency = balances.currency) as carry_month,
        -- the time of the transaction just before the change
        (select kept.ts from balance_events kept
         where kept.user_id = changes.user_id and (kept.ts, kept.transaction_id) < (changes.since_ts, changes.since_tx)
         order by kept.ts desc, kept.transaction_id desc
         limit 1) as seed_ts,
        -- the time of the user's last out-of-sync transaction (applied: discrepancy_transactions) before since_ts
        (select max(episode.ts) from discrepancy_transactions episode
         where episode.user_id = changes.user_id and episode.role = 'out_of_sync'
           and episode.ts < changes.since_ts) as episode_ts,
        -- the time of the user's first calculation or continuity break
        (select min(break.first_seen_at) from discrepancy_report break
         where break.user_id = changes.user_id and break.kind in ('calculation', 'continuity')) as break_ts
    from changes
    left join user_balances balances on balances.user_id = changes.user_id
),

reads as (
    select
        stored.*,
        stored.since_ts = ''
            or stored.user_id in :test_user_ids or stored.user_id not like :uuid_shape
            or not stored.can_carry
            or exists (select 1 from anomalies found
                       where found.user_id = stored.user_id and found.detector = 'multi_currency')
            -- a transaction of the tail in another currency (or none), or in a business month before the
            -- chain's last (business time going back at the turn of a month)
            or exists (select 1 from balance_events tail
                       where tail.user_id = stored.user_id
                         and (tail.ts, tail.transaction_id) >= (stored.since_ts, stored.since_tx)
                         and ({{ is_distinct('tail.currency', 'stored.stored_currency') }}
                              or substr(tail.business_date, 1, 7) < stored.carry_month)) as reads_whole,
        -- a time at or before the transaction before the first break: the last one earlier than the break's time,
        -- or that time
        coalesce((select before.ts from balance_events before
                  where before.user_id = stored.user_id and before.ts < stored.break_ts
                  order by before.ts desc
                  limit 1), stored.break_ts) as before_break_ts,
        {{ seconds_before('stored.seed_ts', ':rapid_window_ms / 1000 + 1') }} as recent_ts,
        {{ seconds_before('stored.episode_ts', ':frequent_window_ms / 1000 + 1') }} as window_ts
    from stored
)

select
    user_id, since_ts, since_tx, since_month, user_key, reads_whole,
    case when not reads_whole then stored_currency end as carry_currency,
    case when not reads_whole then carry_month end as carry_month,
    case when reads_whole then ''
         else {{ 'least' if dialect == 'postgresql' else 'min' }}(
             since_ts, coalesce(before_break_ts, since_ts), coalesce(recent_ts, since_ts),
             coalesce(window_ts, since_ts)) end as read_from
from reads
